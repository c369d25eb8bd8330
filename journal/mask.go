package journal

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/refersion-relay/refersion-relay/internal/secrets"
)

// Replacements of masked personal data and secrets, as in the logs.
const (
	MaskedEmail  = "[email]"
	MaskedValue  = "[redacted]"
	MaskedSecret = "****"
)

// emailPattern finds email addresses in free text, URL-encoded ones too (the
// logger's pattern).
var emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)

// piiKeys are the JSON member names, lower-cased without "_" and "-", whose
// values are personal data: the customer fields of an order and the traits of
// an identify call (the logger's list). A person's "name" is one too, inside
// "traits" (a product's name is not).
var piiKeys = map[string]bool{
	"email": true, "firstname": true, "lastname": true, "ip": true, "ipaddress": true,
	"phone": true, "address": true,
}

var keyFolder = strings.NewReplacer("_", "", "-", "")

func piiKey(k string) bool { return piiKeys[keyFolder.Replace(strings.ToLower(k))] }

// Masker masks what the journal and the console show: secrets always,
// personal data unless pii. The zero value masks emails and no secret.
type Masker struct {
	pii     bool
	secrets *secrets.Set // nil: none; shared by copies, so AddSecrets reaches them
}

// NewMasker returns a Masker; secrets shorter than 4 characters are ignored
// (they would mangle unrelated words and protect little).
func NewMasker(pii bool, list []string) Masker {
	return Masker{pii: pii, secrets: secrets.New(MaskedSecret, list...)}
}

// AddSecrets makes m, and every copy of it, replace secrets too (keys a
// reload of ACCOUNTS_FILE read). Safe for concurrent use with Text.
func (m Masker) AddSecrets(list ...string) {
	if m.secrets != nil {
		m.secrets.Add(list...)
	}
}

// PII reports whether personal data is shown.
func (m Masker) PII() bool { return m.pii }

// Text replaces every secret in s and, unless pii, its email addresses.
func (m Masker) Text(s string) string {
	if s == "" {
		return s
	}
	s = m.secrets.Replace(s) // most texts hold none: no copy then
	if m.pii || (strings.IndexByte(s, '@') < 0 && !strings.Contains(s, "%40")) {
		return s
	}
	return emailPattern.ReplaceAllString(s, MaskedEmail)
}

// JSON masks a JSON document: unless pii, the values of members that hold
// personal data (email, names, ip, phone, address) become [redacted], and
// every string is masked as Text masks it. Bytes that are not JSON are
// masked as text.
func (m Masker) JSON(b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil || dec.More() {
		return []byte(m.Text(string(b)))
	}
	out, err := json.Marshal(m.walk(tree, false))
	if err != nil {
		return []byte(m.Text(string(b)))
	}
	return out
}

// Value masks v as JSON (through its JSON form).
func (m Masker) Value(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return m.JSON(b)
}

func (m Masker) walk(v any, inTraits bool) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !m.pii && (piiKey(k) || inTraits && strings.EqualFold(k, "name")) && e != nil && e != "" {
				x[k] = MaskedValue
			} else {
				x[k] = m.walk(e, strings.EqualFold(k, "traits"))
			}
		}
	case []any:
		for i, e := range x {
			x[i] = m.walk(e, false)
		}
	case string:
		return m.Text(x)
	}
	return v
}
