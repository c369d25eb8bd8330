package config

import (
	"net/url"
	"strings"
)

// redacted replaces each credential inside a printed URL, as
// url.URL.Redacted does for a password.
const redacted = "xxxxx"

// maskURL returns s, the value of a URL-valued setting, fit to print:
//
//   - the password of its userinfo is replaced by xxxxx; a user name given
//     without a password (often a token, as in https://token@host) is too,
//     while one followed by a password is kept;
//   - so is the value of every password-like query or fragment parameter
//     (see sensitiveParam);
//   - a value without "//" is read as scheme-less, host:port with optional
//     userinfo and query (user:pass@redis:6379, redis:6379?password=x), and
//     printed back without "//";
//   - a value that does not parse as a URL, or has an "@" after its host
//     (so that where its credentials end is unclear), prints as "****".
//
// The empty string prints as itself.
func maskURL(s string) string {
	if s == "" {
		return ""
	}
	raw, schemeless := s, !strings.Contains(s, "://") && !strings.HasPrefix(s, "//")
	if schemeless {
		raw = "//" + s
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return mask
	}
	authority := raw[strings.Index(raw, "//")+2:]
	if end := strings.IndexAny(authority, "/?#"); end >= 0 && strings.Contains(authority[end:], "@") {
		return mask
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		} else if u.User.Username() != "" {
			u.User = url.User(redacted)
		}
	}
	u.RawQuery = maskParams(u.RawQuery)
	if f := u.EscapedFragment(); f != "" {
		if m := maskParams(f); m != f {
			u.Fragment, err = url.PathUnescape(m)
			if err != nil {
				return mask
			}
			u.RawFragment = m
		}
	}
	out := u.String()
	if schemeless {
		out = strings.TrimPrefix(out, "//")
	}
	return out
}

// maskParams replaces the value of every password-like parameter of q, a
// raw query (a=1&password=x, also with ";" separators), by xxxxx; the rest
// of q is kept byte for byte.
func maskParams(q string) string {
	var b strings.Builder
	for q != "" {
		param, sep := q, ""
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			param, sep, q = q[:i], q[i:i+1], q[i+1:]
		} else {
			q = ""
		}
		if k, _, ok := strings.Cut(param, "="); ok {
			key, err := url.QueryUnescape(k)
			if err != nil || sensitiveParam(key) {
				param = k + "=" + redacted
			}
		}
		b.WriteString(param + sep)
	}
	return b.String()
}

// sensitiveParam reports whether a URL parameter named key likely carries a
// credential: its name contains pass, pwd, secret, token, key, auth, sig,
// credential or session, in any case.
func sensitiveParam(key string) bool {
	key = strings.ToLower(key)
	for _, w := range []string{"pass", "pwd", "secret", "token", "key", "auth", "sig", "credential", "session"} {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}
