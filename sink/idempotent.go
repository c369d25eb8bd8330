package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// ErrClaimHeld means another sender holds the order_id's claim right now.
//
// Deprecated: use failure.ErrClaimHeld, which this is.
var ErrClaimHeld = failure.ErrClaimHeld

// sentStoreName names the sent-order store in a *failure.StoreUnavailable when the
// store's own error does not name it (with its backend) already.
const sentStoreName = "sent-order store"

// storeTimeout bounds Confirm and Release, which run even after ctx ends.
const storeTimeout = 5 * time.Second

// confirmFirstWait is the wait before the first retry of a failed Confirm;
// it doubles up to confirmMaxWait.
const (
	confirmFirstWait = 50 * time.Millisecond
	confirmMaxWait   = 5 * time.Second
)

// idempotentSink sends an order only if it can claim its order_id in the
// store, and records the outcome:
//
//	claim Claimed       → next.Send → nil: Confirm; error: Release
//	claim AlreadySent   → failure.ErrAlreadySent, nothing sent
//	claim HeldElsewhere → failure.ErrClaimHeld, nothing sent
//	claim fails         → *failure.StoreUnavailable (ctx's error if ctx ended), nothing sent
//
// Confirm and Release run with ctx's values but not its cancellation, so a
// shutdown mid-Send still records what happened. A Confirm that fails after
// a delivery is retried while the claim's lease holds (no other sender can
// take the order meanwhile) and ctx is not done; when it gives up it logs
// once, at error level, and Send still returns nil: the order was
// delivered, and redoing it would send it twice. A Release that fails is
// joined to the Send error; the claim then frees itself when its lease
// expires.
type idempotentSink struct {
	next  Sink
	store store.Sent
	lease time.Duration
	log   *slog.Logger
}

func newIdempotent(next Sink, store store.Sent, lease time.Duration, log *slog.Logger) *idempotentSink {
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
			return fmt.Errorf("order %s: %s: %w", o.OrderID, sentStoreName, ctx.Err())
		}
		return storeUnavailable(o.OrderID, "claim", err)
	}
	switch claim.Status {
	case store.AlreadySent:
		return fmt.Errorf("order %s: %w", o.OrderID, failure.ErrAlreadySent)
	case store.HeldElsewhere:
		return fmt.Errorf("order %s: %w", o.OrderID, failure.ErrClaimHeld)
	case store.Claimed:
	default:
		return storeUnavailable(o.OrderID, "claim", fmt.Errorf("the store answered %v", claim.Status))
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

// storeUnavailable returns err, a failure of the sent-order store's op, as
// a *failure.StoreUnavailable; one that the store built (naming itself and
// its backend) is kept.
func storeUnavailable(orderID, op string, err error) error {
	if failure.IsStoreUnavailable(err) {
		return fmt.Errorf("order %s: %s: %w", orderID, op, err)
	}
	return &failure.StoreUnavailable{Store: sentStoreName, Err: fmt.Errorf("order %s: %s: %w", orderID, op, err)}
}

// confirm records a delivered claim, retrying a failing store until the
// claim's lease ends at deadline or ctx is done, whichever comes first. Each
// attempt runs without ctx's cancellation, bounded by storeTimeout, so one
// attempt is made even when ctx has ended already. The first failure is
// logged at warn level; giving up is logged once, at error level. Only the
// order_id is logged.
func (s *idempotentSink) confirm(ctx context.Context, claim store.Claim, deadline time.Time) {
	wait := confirmFirstWait
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		err := s.store.Confirm(sctx, claim)
		cancel()
		if err == nil {
			if attempt > 1 {
				s.log.LogAttrs(ctx, slog.LevelInfo, "delivered order recorded as sent after retries",
					slog.String("order_id", claim.OrderID), slog.Int("attempts", attempt))
			}
			return
		}
		gaveUp := ""
		switch {
		case ctx.Err() != nil:
			gaveUp = "stopping"
		case time.Now().Add(wait).After(deadline):
			gaveUp = "claim lease ending"
		default:
			if attempt == 1 {
				s.log.LogAttrs(ctx, slog.LevelWarn, "recording a delivered order failed; retrying while its claim lasts",
					slog.String("order_id", claim.OrderID), slog.String("error", err.Error()))
			}
			if sleep(ctx, wait) != nil {
				gaveUp = "stopping"
			}
		}
		if gaveUp != "" {
			s.log.LogAttrs(ctx, slog.LevelError, "delivered order not recorded as sent; a redelivered event could send it again",
				slog.String("order_id", claim.OrderID), slog.Int("attempts", attempt), slog.String("gave_up", gaveUp),
				slog.String("error", err.Error()))
			return
		}
		wait = min(2*wait, confirmMaxWait)
	}
}
