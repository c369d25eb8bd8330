package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// ErrClaimHeld means another sender holds the order_id's claim right now.
// Send wraps it in *failure.Retryable: redo the order later, when the other
// sender has confirmed it (then it is skipped) or released it.
var ErrClaimHeld = errors.New("order_id claimed by another sender")

// storeTimeout bounds Confirm and Release, which run even after ctx ends.
const storeTimeout = 5 * time.Second

// idempotentSink sends an order only if it can claim its order_id in the
// store, and records the outcome:
//
//	claim Claimed       → next.Send → nil: Confirm; error: Release
//	claim AlreadySent   → failure.ErrAlreadySent, nothing sent
//	claim HeldElsewhere → *failure.Retryable wrapping ErrClaimHeld, nothing sent
//	claim fails         → *failure.Retryable, nothing sent
//
// Confirm and Release run with ctx's values but not its cancellation, so a
// shutdown mid-Send still records what happened. A Confirm that fails after
// a delivery is retried while the claim's lease holds (no other sender can
// take the order meanwhile); if the store stays down past the lease it is
// logged and Send still returns nil: the order was delivered, and redoing it
// would send it twice. A Release that fails is joined to the
// Send error; the claim then frees itself when its lease expires.
type idempotentSink struct {
	next  Sink
	store SentStore
	lease time.Duration
	log   *slog.Logger
}

func newIdempotent(next Sink, store SentStore, lease time.Duration, log *slog.Logger) *idempotentSink {
	return &idempotentSink{next: next, store: store, lease: lease, log: log}
}

// Send implements Sink.
func (s *idempotentSink) Send(ctx context.Context, o mapping.Order) error {
	if o.OrderID == "" {
		return &failure.Permanent{Reason: "order has no order_id"}
	}
	claim, err := s.store.Claim(ctx, o.OrderID, s.lease)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("order %s: sent store: %w", o.OrderID, ctx.Err())
		}
		return &failure.Retryable{Err: fmt.Errorf("order %s: sent store claim: %w", o.OrderID, err)}
	}
	switch claim.Status {
	case AlreadySent:
		return fmt.Errorf("order %s: %w", o.OrderID, failure.ErrAlreadySent)
	case HeldElsewhere:
		return &failure.Retryable{Err: fmt.Errorf("order %s: %w", o.OrderID, ErrClaimHeld)}
	case Claimed:
	default:
		return &failure.Retryable{Err: fmt.Errorf("order %s: sent store answered %v", o.OrderID, claim.Status)}
	}

	claimedAt := time.Now()
	sendErr := s.next.Send(ctx, o)
	if sendErr == nil {
		s.confirm(ctx, claim, claimedAt.Add(s.lease))
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := s.store.Release(sctx, claim); err != nil {
		return errors.Join(sendErr, fmt.Errorf("order %s: sent store release: %w", o.OrderID, err))
	}
	return sendErr
}

// confirm records a delivered claim, retrying a failing store until the
// claim's lease ends at deadline.
func (s *idempotentSink) confirm(ctx context.Context, claim Claim, deadline time.Time) {
	wait := 50 * time.Millisecond
	for {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		err := s.store.Confirm(sctx, claim)
		cancel()
		if err == nil {
			return
		}
		if time.Now().Add(wait).After(deadline) {
			s.log.LogAttrs(ctx, slog.LevelError, "delivered order not recorded as sent; a redelivered event could send it again",
				slog.String("order_id", claim.OrderID), slog.String("error", err.Error()))
			return
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "recording a delivered order failed; retrying",
			slog.String("order_id", claim.OrderID), slog.String("error", err.Error()))
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}
