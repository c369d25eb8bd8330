package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Keys are the Refersion API credentials sent with every request. Every
// printed form (String, GoString, any fmt verb, JSON, text, slog) shows only
// whether they are set, never a character of them. The zero value is unset.
type Keys struct{ public, secret string }

// NewKeys returns the pair from Refersion → Account → Settings → Refersion API.
func NewKeys(public, secret string) Keys { return Keys{public: public, secret: secret} }

// ParseKeys reads the one-string form PUBLIC.SECRET, split at the first dot.
// The error never quotes s.
func ParseKeys(s string) (Keys, error) {
	public, secret, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok || public == "" || secret == "" {
		return Keys{}, errors.New("refersion keys: want PUBLIC.SECRET, two non-empty parts joined by a dot")
	}
	return NewKeys(public, secret), nil
}

// IsSet reports whether both keys are non-empty.
func (k Keys) IsSet() bool { return k.public != "" && k.secret != "" }

// String returns "****" when set and "" when not.
func (k Keys) String() string {
	if k.public == "" && k.secret == "" {
		return ""
	}
	return "****"
}

// GoString is the masked form for %#v.
func (k Keys) GoString() string { return fmt.Sprintf("sink.Keys(%q)", k.String()) }

// Format masks the keys for every fmt verb, including %d and %x.
func (k Keys) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, k.GoString())
	case verb == 'q':
		_, _ = fmt.Fprintf(f, "%q", k.String())
	default:
		_, _ = io.WriteString(f, k.String())
	}
}

// MarshalText encodes the masked form.
func (k Keys) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads PUBLIC.SECRET, as ParseKeys.
func (k *Keys) UnmarshalText(b []byte) error {
	parsed, err := ParseKeys(string(b))
	if err != nil {
		return err
	}
	*k = parsed
	return nil
}

// LogValue logs the masked form.
func (k Keys) LogValue() slog.Value { return slog.StringValue(k.String()) }

// redact replaces every occurrence of either key in b (a response body that
// echoed the request's headers, say) with "[redacted]", so that no record,
// log or error that keeps the body keeps a key.
func (k Keys) redact(b []byte) []byte {
	for _, key := range [...]string{k.secret, k.public} {
		if len(key) >= 4 && bytes.Contains(b, []byte(key)) {
			b = bytes.ReplaceAll(b, []byte(key), []byte("[redacted]"))
		}
	}
	return b
}
