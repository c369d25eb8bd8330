package sink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
)

// maxRetryAfter caps a Retry-After hint, so that a huge value cannot overflow.
const maxRetryAfter = 24 * time.Hour

// classify turns one HTTP response into the outcome of the order. nil means
// delivered; otherwise the error's type is the class (package failure):
//
//	status                                  class
//	--------------------------------------  ------------------------------------
//	2xx, body without error/errors          delivered (nil)
//	2xx, body with a non-empty error/errors *failure.Permanent
//	401, 403                                *failure.Unauthorized
//	408, 425, 429, 5xx                      *failure.Retryable, with Retry-After
//	any other (1xx, 3xx, other 4xx)         *failure.Permanent
//
// body is the bounded start of the response body; now is the clock for an
// HTTP-date Retry-After.
func classify(status int, header http.Header, body []byte, now time.Time) error {
	excerpt := failure.Excerpt(body)
	switch {
	case status >= 200 && status <= 299:
		if field, ok := errorField(body); ok {
			return &failure.Permanent{Status: status, Body: excerpt,
				Reason: fmt.Sprintf("%d response carries %q", status, field)}
		}
		return nil
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return &failure.Unauthorized{Status: status, Body: excerpt}
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly,
		status == http.StatusTooManyRequests, status >= 500 && status <= 599:
		after, _ := parseRetryAfter(header.Get("Retry-After"), now)
		return &failure.Retryable{Status: status, RetryAfter: after, Body: excerpt}
	default:
		return &failure.Permanent{Status: status, Body: excerpt, Reason: reasonFor(status)}
	}
}

func reasonFor(status int) string {
	switch {
	case status >= 100 && status <= 199:
		return "unexpected informational response"
	case status >= 300 && status <= 399:
		return "unexpected redirect (redirects are not followed; check the endpoint URL)"
	case status == http.StatusNotFound:
		return "rejected: not found or empty body"
	case status == http.StatusBadRequest:
		return "rejected: bad request"
	case status == http.StatusUnprocessableEntity:
		return "rejected: order data has errors"
	default:
		return "rejected"
	}
}

// errorField reports whether a 2xx body is a JSON object whose "error" or
// "errors" member is non-empty (not null, false, "", [] or {}), and which.
// It reads the object member by member, so a body cut at the read limit is
// still judged on the members before the cut; a member cut short counts as
// non-empty. A body that is not a JSON object carries no error.
func errorField(body []byte) (string, bool) {
	if !bytes.Contains(body, []byte(`"error`)) {
		return "", false // the common case, without a decoder
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		err = dec.Decode(&raw)
		if key != "error" && key != "errors" {
			if err != nil {
				return "", false
			}
			continue
		}
		if err != nil {
			return key, true // cut short: long, so not empty
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, raw)
		switch compact.String() {
		case "null", "false", `""`, "[]", "{}":
			continue
		}
		return key, true
	}
	return "", false
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3). A date in the past is 0. It reports false for an absent
// or malformed value. The result is capped at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(at.Sub(now), 0), maxRetryAfter), true
}
