package failure

import (
	"context"
	"errors"
	"time"
)

// Kind is the class of an outcome, for a caller's switch and for metric
// labels. KindOf derives it from the error's types; it is never parsed back.
type Kind int

// The kinds, in the order KindOf tests them: an error that carries several
// kinds (a joined error, say) gets the first that matches.
const (
	KindDelivered    Kind = iota // nil error
	KindAlreadySent              // ErrAlreadySent
	KindUnauthorized             // *Unauthorized
	KindBreakerOpen              // ErrBreakerOpen
	KindPermanent                // *Permanent
	KindRetryable                // *Retryable
	KindCanceled                 // context.Canceled or context.DeadlineExceeded, unclassified
	KindUnknown                  // any other error
)

var kindNames = [...]string{
	KindDelivered:    "delivered",
	KindAlreadySent:  "already_sent",
	KindUnauthorized: "unauthorized",
	KindBreakerOpen:  "breaker_open",
	KindPermanent:    "permanent",
	KindRetryable:    "retryable",
	KindCanceled:     "canceled",
	KindUnknown:      "unknown",
}

// String returns the kind's snake_case name, stable for metric labels.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// KindOf classifies err. A per-request timeout is wrapped in *Retryable, so
// KindCanceled is left for a caller's own context ending.
func KindOf(err error) Kind {
	switch {
	case err == nil:
		return KindDelivered
	case errors.Is(err, ErrAlreadySent):
		return KindAlreadySent
	case IsUnauthorized(err):
		return KindUnauthorized
	case errors.Is(err, ErrBreakerOpen):
		return KindBreakerOpen
	case IsPermanent(err):
		return KindPermanent
	case IsRetryable(err):
		return KindRetryable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return KindCanceled
	default:
		return KindUnknown
	}
}

// IsPermanent reports whether err carries a *Permanent.
func IsPermanent(err error) bool {
	var p *Permanent
	return errors.As(err, &p)
}

// IsRetryable reports whether err carries a *Retryable.
func IsRetryable(err error) bool {
	var r *Retryable
	return errors.As(err, &r)
}

// IsUnauthorized reports whether err carries an *Unauthorized.
func IsUnauthorized(err error) bool {
	var u *Unauthorized
	return errors.As(err, &u)
}

// IsSystemic reports whether err means every order would fail now
// (Unauthorized or ErrBreakerOpen): the caller pauses consuming rather than
// moving on to the next order.
func IsSystemic(err error) bool {
	return IsUnauthorized(err) || errors.Is(err, ErrBreakerOpen)
}

// RetryAfter returns the wait the destination asked for, from the first
// *Retryable in err's chain, and whether there was one.
func RetryAfter(err error) (time.Duration, bool) {
	var r *Retryable
	if errors.As(err, &r) && r.RetryAfter > 0 {
		return r.RetryAfter, true
	}
	return 0, false
}
