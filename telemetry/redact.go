package telemetry

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/refersion-relay/refersion-relay/internal/secrets"
)

// Replacements of masked personal data and secrets.
const (
	maskedEmail  = "[email]"
	maskedValue  = "[redacted]"
	maskedSecret = "****"
)

// emailPattern finds email addresses in free text, URL-encoded ones too.
var emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)

// piiKeys are the attribute and JSON member names, lower-cased without "_"
// and "-", whose values are personal data: the customer fields of an order
// and the traits of an identify call.
var piiKeys = map[string]bool{
	"email": true, "firstname": true, "lastname": true, "ip": true, "ipaddress": true,
	"phone": true, "address": true,
}

// keyFolder drops "_" and "-" from a lower-cased key.
var keyFolder = strings.NewReplacer("_", "", "-", "")

func piiKey(k string) bool {
	k = strings.ToLower(k)
	if piiKeys[k] {
		return true
	}
	return piiKeys[keyFolder.Replace(k)]
}

// redactor masks personal data in log values unless pii is set, and always
// replaces every occurrence of a known secret. json says the output is JSON,
// where a structured value stays structured.
//
// What it covers, at any depth of groups: strings and messages; errors and
// panics' values (their text); any other value is turned into its JSON form,
// where members named by piiKeys are masked too. In text output a
// fmt.Stringer or encoding.TextMarshaler is written as its text. A LogValuer
// is resolved first, so a value that masks itself (config.Secret, sink.Keys)
// is written masked.
type redactor struct {
	pii     bool
	json    bool
	secrets *secrets.Set // shared by every handler derived from one logger
}

func newRedactor(pii, json bool, list []string) redactor {
	return redactor{pii: pii, json: json, secrets: secrets.New(maskedSecret, list...)}
}

// AddSecrets makes l, built by NewLogger, and every logger derived from it
// replace secrets too (keys a reload of ACCOUNTS_FILE read). It reports
// false for a logger NewLogger did not build.
func AddSecrets(l *slog.Logger, secrets ...string) bool {
	h, ok := l.Handler().(*handler)
	if ok {
		h.r.secrets.Add(secrets...)
	}
	return ok
}

// text scrubs secrets from s and, unless pii, masks its email addresses.
func (r redactor) text(s string) string {
	s = r.secrets.Replace(s)
	if r.pii || (!strings.Contains(s, "@") && !strings.Contains(s, "%40")) {
		return s
	}
	return emailPattern.ReplaceAllString(s, maskedEmail)
}

// attr returns a with its value resolved and masked.
func (r redactor) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	masked := !r.pii && piiKey(a.Key)
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = r.attr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindString:
		if masked && v.String() != "" {
			return slog.String(a.Key, maskedValue)
		}
		return slog.String(a.Key, r.text(v.String()))
	case slog.KindAny:
		if masked && v.Any() != nil {
			return slog.String(a.Key, maskedValue)
		}
		return slog.Attr{Key: a.Key, Value: r.value(v.Any())}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// value masks an arbitrary value; see redactor.
func (r redactor) value(v any) slog.Value {
	switch x := v.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(r.text(x.Error()))
	case []byte:
		return slog.StringValue(r.text(string(x)))
	}
	if !r.json {
		switch x := v.(type) {
		case fmt.Stringer:
			return slog.StringValue(r.text(x.String()))
		case encoding.TextMarshaler:
			b, err := x.MarshalText()
			if err == nil {
				return slog.StringValue(r.text(string(b)))
			}
		}
	}
	b, err := json.Marshal(v)
	var tree any
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		err = dec.Decode(&tree)
	}
	if err != nil {
		return slog.StringValue(r.text(fmt.Sprintf("%+v", v)))
	}
	b, _ = json.Marshal(r.walk(tree))
	if r.json {
		return slog.AnyValue(json.RawMessage(b))
	}
	return slog.StringValue(string(b))
}

// walk masks a decoded JSON tree in place.
func (r redactor) walk(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !r.pii && piiKey(k) && e != nil && e != "" {
				x[k] = maskedValue
			} else {
				x[k] = r.walk(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = r.walk(e)
		}
	case string:
		return r.text(x)
	}
	return v
}
