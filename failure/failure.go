// Package failure names the ways delivering one order can end other than in
// success. It is a leaf: it imports nothing of this module, so every stage can
// classify and check errors without depending on the sink.
//
// Each kind is a type (or sentinel) found with errors.As / errors.Is, never by
// matching text. What a caller must do with each kind:
//
//	kind              found with                          the caller
//	----------------  ----------------------------------  ------------------------------------------------
//	AlreadySent       errors.Is(err, ErrAlreadySent)      counts it as skipped and treats the order as done
//	Conflict          errors.As(err, **Conflict)          warns with both versions' totals and writes the
//	                                                      order to the dead-letter store (reason conflict)
//	Permanent         errors.As(err, **Permanent)         writes the order to the dead-letter store
//	Unauthorized      errors.As(err, **Unauthorized)      pauses consuming: the keys fail for every order
//	BreakerOpen       errors.Is(err, ErrBreakerOpen)      pauses consuming: the destination is down
//	ClaimHeld         errors.Is(err, ErrClaimHeld)        redoes the order later; does not pause consuming
//	Retryable         errors.As(err, **Retryable)         keeps the order un-done and redoes it later
//	StoreUnavailable  errors.As(err, **StoreUnavailable)  redoes the order later; pauses consuming, naming
//	                                                      the store (not the destination)
//
// A Retryable returned by a sink has already been retried there until its
// attempts or time ran out. It must still never be dead-lettered: an outage of
// the destination loses nothing and the order is redone once it recovers. The
// same holds for a StoreUnavailable: an outage of a state store loses nothing.
// An error of none of these kinds (KindCanceled, KindUnknown) also leaves the
// order un-done. KindOf says which kind wins when an error carries several,
// and why a store failure caused by the caller's context ending is
// KindCanceled.
package failure

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrAlreadySent means the order's order_id was delivered before, so it was
// not sent again. The order is done.
var ErrAlreadySent = errors.New("order already sent")

// Conflict means the order's order_id was delivered before with different
// content (cart_id, totals, currency or items), so this order was not sent:
// sending it would credit the order_id twice, and skipping it would hide the
// change. Nothing was sent; the order is done once the caller has
// dead-lettered it. A redelivery of the same content is ErrAlreadySent
// instead. Sent and Now are short summaries of the two versions (their
// totals and currency, never customer data).
type Conflict struct {
	OrderID string
	Sent    string // what was delivered under OrderID, e.g. "total 104.50 USD, 3 items"
	Now     string // what this order says
}

func (e *Conflict) Error() string {
	return fmt.Sprintf("order %s conflicts with the order already sent under its order_id: sent %s, now %s; not sent again",
		e.OrderID, orUnknown(e.Sent), orUnknown(e.Now))
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// ErrBreakerOpen means the circuit breaker refused the request without sending
// it, because recent requests failed. Nothing was sent; the order is un-done.
var ErrBreakerOpen = errors.New("circuit breaker open")

// ErrClaimHeld means another sender holds the order_id's claim right now
// (another replica, or another message of the same order in flight here).
// Nothing was sent; the order is un-done and is redone later, when the other
// sender has confirmed it (then it is skipped) or released it. It concerns
// this one order_id, so it is no reason to pause consuming the others.
var ErrClaimHeld = errors.New("order_id claimed by another sender")

// StoreUnavailable means a state store (the sent-order store, the identity
// store) failed or cannot be reached, so the order could not be handled now.
// Nothing is lost: the order is un-done and is redone later; every order
// needing the store would fail the same way, so the caller pauses consuming
// and names Store as the cause. It is never built for the caller's own
// context ending (see KindOf).
type StoreUnavailable struct {
	Store string // which store, with its backend when known: "redis sent-order store", "identity store"
	Err   error  // the store's error
}

func (e *StoreUnavailable) Error() string {
	store := e.Store
	if store == "" {
		store = "state store"
	}
	if e.Err == nil {
		return store + " unavailable"
	}
	return store + " unavailable: " + e.Err.Error()
}

func (e *StoreUnavailable) Unwrap() error { return e.Err }

// Permanent means the destination rejected this order and will reject it
// again: it must not be retried. Status, Body and Reason are what the
// dead-letter record keeps.
type Permanent struct {
	Status int    // HTTP status; 0 when the order was refused before any request
	Body   string // excerpt of the response body (see Excerpt)
	Reason string // why the order is rejected
	Err    error  // cause, if any
}

func (e *Permanent) Error() string {
	return describe("permanent failure", e.Status, 0, e.Reason, e.Err, e.Body)
}

func (e *Permanent) Unwrap() error { return e.Err }

// Retryable means this attempt failed for a reason that may pass: a network
// error, a timeout, 408, 425, 429 or 5xx.
type Retryable struct {
	Status     int           // HTTP status; 0 for a network error or timeout
	RetryAfter time.Duration // wait the destination asked for (Retry-After); 0 when none
	Body       string        // excerpt of the response body, if any
	Err        error         // cause, if any
}

func (e *Retryable) Error() string {
	return describe("retryable failure", e.Status, e.RetryAfter, "", e.Err, e.Body)
}

func (e *Retryable) Unwrap() error { return e.Err }

// Unauthorized means the destination refused the credentials (401 or 403).
// It is systemic: every order would fail the same way until the keys change.
type Unauthorized struct {
	Status int    // 401 or 403
	Body   string // excerpt of the response body
}

func (e *Unauthorized) Error() string {
	return describe("unauthorized", e.Status, 0, "the destination refused the keys", nil, e.Body)
}

// MaxExcerpt is the most bytes of a response body an error keeps.
const MaxExcerpt = 512

// Excerpt returns body as text cut to at most MaxExcerpt bytes on a UTF-8
// boundary, with "…" appended when it was cut.
func Excerpt(body []byte) string {
	if len(body) <= MaxExcerpt {
		return strings.ToValidUTF8(string(body), "\uFFFD")
	}
	cut := MaxExcerpt
	for cut > 0 && !utf8.RuneStart(body[cut]) {
		cut--
	}
	return strings.ToValidUTF8(string(body[:cut]), "\uFFFD") + "…"
}

func describe(kind string, status int, after time.Duration, reason string, err error, body string) string {
	var b strings.Builder
	b.WriteString(kind)
	if status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", status)
	}
	if after > 0 {
		fmt.Fprintf(&b, " (retry after %s)", after)
	}
	if reason != "" {
		b.WriteString(": " + reason)
	}
	if err != nil {
		b.WriteString(": " + err.Error())
	}
	if body != "" {
		fmt.Fprintf(&b, ": body %q", body)
	}
	return b.String()
}
