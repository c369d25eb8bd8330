package sink_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/sink"
)

// statusTable is the whole contract for a response whose body carries no
// error: ranges cover every status from 100 to 599, in order, without gaps.
var statusTable = []struct {
	from, to int
	kind     failure.Kind
}{
	{100, 199, failure.KindPermanent},
	{200, 299, failure.KindDelivered},
	{300, 399, failure.KindPermanent},
	{400, 400, failure.KindPermanent},
	{401, 401, failure.KindUnauthorized},
	{402, 402, failure.KindPermanent},
	{403, 403, failure.KindUnauthorized},
	{404, 407, failure.KindPermanent},
	{408, 408, failure.KindRetryable},
	{409, 424, failure.KindPermanent},
	{425, 425, failure.KindRetryable},
	{426, 428, failure.KindPermanent},
	{429, 429, failure.KindRetryable},
	{430, 499, failure.KindPermanent},
	{500, 599, failure.KindRetryable},
}

func TestEveryStatusFrom100To599IsClassified(t *testing.T) {
	next := 100
	for _, row := range statusTable {
		if row.from != next {
			t.Fatalf("table has a gap or overlap at %d", next)
		}
		next = row.to + 1
		for status := row.from; status <= row.to; status++ {
			err := sink.Classify(status, http.Header{}, []byte(`{"status":"ok"}`), time.Now())
			if got := failure.KindOf(err); got != row.kind {
				t.Errorf("status %d: %s (%v), want %s", status, got, err, row.kind)
			}
			var p *failure.Permanent
			var r *failure.Retryable
			var u *failure.Unauthorized
			if (errors.As(err, &p) && p.Status != status) || (errors.As(err, &r) && r.Status != status) ||
				(errors.As(err, &u) && u.Status != status) {
				t.Errorf("status %d: error carries another status: %v", status, err)
			}
		}
	}
	if next != 600 {
		t.Fatalf("table ends at %d, want 599", next-1)
	}
}

func TestSuccessBodyWithErrorIsPermanent(t *testing.T) {
	cases := []struct {
		body      string
		permanent bool
	}{
		{`{"error":"Order already exists"}`, true},
		{`{"errors":["items[0].sku is required"]}`, true},
		{`{"errors":{"sku":"required"}}`, true},
		{`{"status":"ok","error":true}`, true},
		{`{"error":"` + strings.Repeat("x", 100) + ``, true}, // cut short by the read limit
		{`{"status":"success","order_id":"1"}`, false},
		{`{"error":null,"errors":[]}`, false},
		{`{"error":"","errors":{}}`, false},
		{`{"error":false}`, false},
		{`{ "errors" : [ ] }`, false},
		{`["error"]`, false},
		{`OK`, false},
		{``, false},
		{`{"pad":"` + strings.Repeat("x", 100), false}, // cut before any error member
	}
	for _, c := range cases {
		err := sink.Classify(http.StatusOK, http.Header{}, []byte(c.body), time.Now())
		if failure.IsPermanent(err) != c.permanent || (!c.permanent && err != nil) {
			t.Errorf("200 %s: %v, want permanent=%v", c.body, err, c.permanent)
		}
	}
}

func TestRetryAfterIsReadOnRetryableAnswers(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, status := range []int{408, 425, 429, 500, 503} {
		h := http.Header{"Retry-After": {"7"}}
		if d, ok := failure.RetryAfter(sink.Classify(status, h, nil, now)); !ok || d != 7*time.Second {
			t.Errorf("status %d: RetryAfter %v %v", status, d, ok)
		}
	}
}

func TestParseRetryAfterAcceptsSecondsAndHTTPDate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"120", 2 * time.Minute, true},
		{" 3 ", 3 * time.Second, true},
		{"0", 0, true},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true}, // IMF-fixdate
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute, true},     // RFC 850
		{"Sun Mar  1 12:00:05 2026", 5 * time.Second, true},       // asctime
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true},                // in the past
		{"99999999999999", 24 * time.Hour, true},                  // capped
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	}
	for _, c := range cases {
		got, ok := sink.ParseRetryAfter(c.value, now)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", c.value, got, ok, c.want, c.ok)
		}
	}
}
