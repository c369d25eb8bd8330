package mapping

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/buger/jsonparser"
)

// Click is an affiliate click seen on a landing page (?rfsn=<affiliate
// id>.<check>): which affiliate, and when (the event's timestamp, in Unix
// milliseconds, so that a replay decides as the live stream did).
type Click struct {
	AffiliateID string `json:"affiliate_id,omitempty"` // digits
	At          int64  `json:"at,omitempty"`
}

// IsZero reports whether c is no click.
func (c Click) IsZero() bool { return c == Click{} }

// Latest returns the later of c and o (c when they are as late).
func (c Click) Latest(o Click) Click {
	if o.At > c.At && o.AffiliateID != "" {
		return o
	}
	return c
}

// ClickStatus says what ParseClick found.
type ClickStatus uint8

// What an event says of affiliate clicks.
const (
	NoClick        ClickStatus = iota // no rfsn parameter
	ClickFound                        // a well-formed rfsn, with a person and a time
	ClickMalformed                    // rfsn present but unusable (not <digits>.<check>, no person, no timestamp)
)

var rfsn = []byte("rfsn")

// MayHaveClick is ParseClick's cheap first look: false means the event
// carries no "rfsn=" and so no click. It looks only at each '=' (rare in an
// event but for URLs' query strings), found with IndexByte, and allocates
// nothing.
func MayHaveClick(ev []byte) bool {
	for {
		i := bytes.IndexByte(ev, '=')
		if i < 0 {
			return false
		}
		if i >= 4 && string(ev[i-4:i]) == "rfsn" {
			return true
		}
		ev = ev[i+1:]
	}
}

// ParseClick reads an affiliate click from a page or track event: the rfsn
// query parameter of context.page.url, context.page.search, properties.url
// or properties.search (the first that has one), with the event's person
// (userId and anonymousId) and timestamp.
func ParseClick(ev []byte) (c Click, userID, anonymousID string, st ClickStatus) {
	var value string
	found := false
	for _, path := range [][]string{{"context", "page", "url"}, {"context", "page", "search"}, {"properties", "url"}, {"properties", "search"}} {
		raw, vt, _, err := jsonparser.Get(ev, path...)
		if err != nil || vt != jsonparser.String || !bytes.Contains(raw, rfsn) {
			continue
		}
		if v, ok := rfsnParam(trimmed(raw)); ok {
			value, found = v, true
			break
		}
	}
	if !found {
		return Click{}, "", "", NoClick
	}
	id, check, ok := strings.Cut(value, ".")
	if !ok || !allDigits(id) || len(id) > 18 || check == "" || !alnum(check) {
		return Click{}, "", "", ClickMalformed
	}
	at, ok := eventTime(ev)
	if !ok {
		return Click{}, "", "", ClickMalformed
	}
	if v, vt, _, err := jsonparser.Get(ev, "userId"); err == nil {
		userID, _ = idText(raw{v, vt})
	}
	if v, vt, _, err := jsonparser.Get(ev, "anonymousId"); err == nil {
		anonymousID, _ = idText(raw{v, vt})
	}
	if userID == "" && anonymousID == "" {
		return Click{}, "", "", ClickMalformed
	}
	return Click{AffiliateID: strings.TrimLeft(id, "0"), At: at}, userID, anonymousID, ClickFound
}

// rfsnParam returns the rfsn query parameter of a URL or of a query string
// (with or without its "?"); percent-encoding is decoded, and a fragment is
// not part of the query.
func rfsnParam(s string) (string, bool) {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[i+1:]
	}
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k, err := url.QueryUnescape(k); err != nil || k != "rfsn" {
			continue
		}
		v, err := url.QueryUnescape(v)
		if err != nil {
			return "", true // present, but unreadable: malformed
		}
		return strings.TrimSpace(v), true
	}
	return "", false
}

func allDigits(s string) bool {
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != "" && strings.TrimLeft(s, "0") != ""
}

func alnum(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !isDigit(c) && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// eventTime reads the event's time in Unix milliseconds: timestamp, else
// originalTimestamp, sentAt or receivedAt (RFC 3339).
func eventTime(ev []byte) (int64, bool) {
	for _, k := range [...]string{"timestamp", "originalTimestamp", "sentAt", "receivedAt"} {
		v, vt, _, err := jsonparser.Get(ev, k)
		if err != nil || vt != jsonparser.String {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, trimmed(v))
		if err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}

// Credit is what click capture decided for one order.
type Credit uint8

// The decisions of CreditFromClick.
const (
	NotCredited   Credit = iota // no click known for the person
	Credited                    // auto_credit_affiliate_id set from a click
	OwnCredit                   // the order carries its own auto_credit_affiliate_id: kept
	OutsideWindow               // the last click is older than the window (or after the order)
)

// CreditFromClick sets o's auto_credit_affiliate_id to click's affiliate
// (a JSON number, as Refersion's ids are numeric) when o carries none and the
// click came at most window before the order, by event timestamps.
func CreditFromClick(o *Order, click Click, window time.Duration) Credit {
	switch {
	case len(o.AutoCreditAffiliateID) > 0:
		return OwnCredit
	case click.IsZero():
		return NotCredited
	case o.Source.At == 0 || click.At > o.Source.At || o.Source.At-click.At > window.Milliseconds():
		return OutsideWindow
	}
	o.AutoCreditAffiliateID = json.RawMessage(click.AffiliateID)
	return Credited
}
