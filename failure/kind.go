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
// kinds (a joined error, say) gets the first that matches. So the outcome of
// a request (Unauthorized, Permanent, Retryable…) wins over a state store's
// failure joined to it, and the caller's context ending wins over a store's
// failure that it caused (see KindOf).
const (
	KindDelivered        Kind = iota // nil error
	KindAlreadySent                  // ErrAlreadySent
	KindConflict                     // *Conflict
	KindUnauthorized                 // *Unauthorized
	KindBreakerOpen                  // ErrBreakerOpen
	KindPermanent                    // *Permanent
	KindClaimHeld                    // ErrClaimHeld
	KindRetryable                    // *Retryable
	KindCanceled                     // context.Canceled or context.DeadlineExceeded, unless one of the above
	KindStoreUnavailable             // *StoreUnavailable not caused by a context ending
	KindUnknown                      // any other error
)

var kindNames = [...]string{
	KindDelivered:        "delivered",
	KindAlreadySent:      "already_sent",
	KindConflict:         "conflict",
	KindUnauthorized:     "unauthorized",
	KindBreakerOpen:      "breaker_open",
	KindPermanent:        "permanent",
	KindClaimHeld:        "claim_held",
	KindRetryable:        "retryable",
	KindCanceled:         "canceled",
	KindStoreUnavailable: "store_unavailable",
	KindUnknown:          "unknown",
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
//
// The context errors are tested before *StoreUnavailable: a store call cut
// short because the caller's context ended is KindCanceled even when the
// store (or a layer above it) reported it as unavailable, or when a store
// failure was joined to it. The caller is stopping; the order is redone by
// whoever consumes it next, and an outage must not be reported for a
// shutdown. A store that times out on a deadline of its own must therefore
// not report it as context.DeadlineExceeded inside the StoreUnavailable
// (go-redis's and the network's timeouts are net errors); a
// StoreUnavailable whose chain holds no context error is
// KindStoreUnavailable.
func KindOf(err error) Kind {
	switch {
	case err == nil:
		return KindDelivered
	case errors.Is(err, ErrAlreadySent):
		return KindAlreadySent
	case IsConflict(err):
		return KindConflict
	case IsUnauthorized(err):
		return KindUnauthorized
	case errors.Is(err, ErrBreakerOpen):
		return KindBreakerOpen
	case IsPermanent(err):
		return KindPermanent
	case errors.Is(err, ErrClaimHeld):
		return KindClaimHeld
	case IsRetryable(err):
		return KindRetryable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return KindCanceled
	case IsStoreUnavailable(err):
		return KindStoreUnavailable
	default:
		return KindUnknown
	}
}

// IsPermanent reports whether err carries a *Permanent.
func IsPermanent(err error) bool {
	var p *Permanent
	return errors.As(err, &p)
}

// IsConflict reports whether err carries a *Conflict.
func IsConflict(err error) bool {
	var c *Conflict
	return errors.As(err, &c)
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

// IsStoreUnavailable reports whether err carries a *StoreUnavailable. Use
// KindOf to tell one caused by the caller's context ending.
func IsStoreUnavailable(err error) bool {
	var s *StoreUnavailable
	return errors.As(err, &s)
}

// IsSystemic reports whether err means every order would fail now
// (Unauthorized, ErrBreakerOpen, or a StoreUnavailable of KindOf
// KindStoreUnavailable): the caller pauses consuming rather than moving on
// to the next order. ErrClaimHeld concerns one order_id and is not systemic.
func IsSystemic(err error) bool {
	return IsUnauthorized(err) || errors.Is(err, ErrBreakerOpen) || KindOf(err) == KindStoreUnavailable
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
