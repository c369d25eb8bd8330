package mapping

import (
	"strings"

	"github.com/buger/jsonparser"
)

// Traits is what the relay keeps of a person: only what Refersion's customer
// object takes. Email is personal data: never log it.
type Traits struct {
	Email     string `json:"email,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	// Click is the person's last affiliate click (click capture), or zero.
	Click Click `json:"click,omitzero"`
}

// IsZero reports whether t holds nothing.
func (t Traits) IsZero() bool { return t == Traits{} }

// Fill returns t with each empty field taken from o: t's data wins, but for
// the click, where the later one wins (the last click counts).
func (t Traits) Fill(o Traits) Traits {
	if t.Email == "" {
		t.Email = o.Email
	}
	if t.FirstName == "" {
		t.FirstName = o.FirstName
	}
	if t.LastName == "" {
		t.LastName = o.LastName
	}
	t.Click = t.Click.Latest(o.Click)
	return t
}

// traitsFrom reads email and names from a traits-like object: firstName or
// first_name, lastName or last_name, and a lone name split at its first space.
// Members that are not strings are ignored.
func traitsFrom(obj []byte) Traits {
	var t Traits
	var name string
	_ = jsonparser.ObjectEach(obj, func(key, value []byte, vt jsonparser.ValueType, _ int) error {
		if vt != jsonparser.String {
			return nil
		}
		switch string(key) {
		case "email":
			t.Email = trimmed(value)
		case "firstName", "first_name":
			if t.FirstName == "" {
				t.FirstName = trimmed(value)
			}
		case "lastName", "last_name":
			if t.LastName == "" {
				t.LastName = trimmed(value)
			}
		case "name":
			name = trimmed(value)
		}
		return nil
	})
	if name != "" && t.FirstName == "" && t.LastName == "" {
		first, last, _ := strings.Cut(name, " ")
		t.FirstName, t.LastName = first, strings.TrimSpace(last)
	}
	return t
}

// trimmed unescapes a raw JSON string value and trims surrounding white space.
func trimmed(raw []byte) string {
	s, err := jsonparser.ParseString(raw)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(s)
}
