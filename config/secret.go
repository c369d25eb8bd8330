package config

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
)

// mask is what every printed form of a set Secret shows; an unset one prints "".
const mask = "****"

// Secret holds a credential. Every way of printing it (String, GoString,
// fmt with any verb, JSON, text, slog) shows only whether it is set, never a
// character of it. Reveal returns the value for the one place that sends it.
// The zero value is an unset secret.
type Secret struct{ v string }

// NewSecret returns a Secret holding s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret itself. Call it only where the value is sent.
func (s Secret) Reveal() string { return s.v }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s.v != "" }

// String returns "****" when the secret is set and "" otherwise.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return mask
}

// GoString is the masked form for %#v.
func (s Secret) GoString() string { return "config.Secret(" + strconv.Quote(s.String()) + ")" }

// Format masks the secret for every fmt verb, including those (%d, %x) that
// would otherwise bypass String.
func (s Secret) Format(f fmt.State, verb rune) { format(f, verb, s.String(), s.GoString()) }

// MarshalJSON encodes the masked form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalText encodes the masked form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue logs the masked form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Decode sets the secret from an environment value (envconfig.Decoder).
func (s *Secret) Decode(v string) error {
	s.v = v
	return nil
}

// URL is a URL that may carry credentials (redis://user:pass@host/0). It
// prints as maskURL shows it: password, lone user name and password-like
// query parameters replaced by "xxxxx", or "****" as a whole when it does not
// parse. Reveal returns it whole. The zero value is an unset URL.
type URL struct{ v string }

// NewURL returns a URL holding s.
func NewURL(s string) URL { return URL{v: s} }

// Reveal returns the URL with its credentials.
func (u URL) Reveal() string { return u.v }

// IsSet reports whether the URL is non-empty.
func (u URL) IsSet() bool { return u.v != "" }

// String returns the URL with its credentials masked (see maskURL).
func (u URL) String() string { return maskURL(u.v) }

// GoString is the redacted form for %#v.
func (u URL) GoString() string { return "config.URL(" + strconv.Quote(u.String()) + ")" }

// Format redacts the URL for every fmt verb.
func (u URL) Format(f fmt.State, verb rune) { format(f, verb, u.String(), u.GoString()) }

// MarshalJSON encodes the redacted form.
func (u URL) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(u.String())), nil }

// MarshalText encodes the redacted form.
func (u URL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// LogValue logs the redacted form.
func (u URL) LogValue() slog.Value { return slog.StringValue(u.String()) }

// Decode sets the URL from an environment value (envconfig.Decoder).
func (u *URL) Decode(v string) error {
	u.v = v
	return nil
}

// format writes the safe form of a value for any verb: goSyntax for %#v, a
// quoted string for %q, the plain safe form otherwise.
func format(f fmt.State, verb rune, safe, goSyntax string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, goSyntax)
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(safe))
	default:
		_, _ = io.WriteString(f, safe)
	}
}
