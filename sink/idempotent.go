package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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

// MaxClaimLease is the longest lease a claim is taken for. The owner renews
// it every third of it while it works on the order (the POST, its retries,
// and the Confirm), so a lease need not outlast a whole Send: a replica
// killed mid-delivery holds its orders for at most this long.
const MaxClaimLease = 20 * time.Second

// idempotentSink sends an order only if it can claim its order_id in the
// store, and records the outcome:
//
//	claim Claimed       → next.Send → nil: Confirm, with the order's content; error: Release
//	claim AlreadySent   → same content, or the content sent is unknown: failure.ErrAlreadySent, nothing sent
//	                      different content: *failure.Conflict, nothing sent
//	claim HeldElsewhere → failure.ErrClaimHeld, nothing sent
//	claim fails         → *failure.StoreUnavailable (ctx's error if ctx ended), nothing sent
//
// The content is the order's mapping.Fingerprint, recorded with its
// mapping.Summary when the order is confirmed. An order_id read again with
// the content it was sent with (a redelivery after a crash, a replay) is a
// plain skip; with other content (another cart, total, currency or items)
// it is a conflict, whose error carries both summaries. An order_id
// recorded without a fingerprint (by an earlier version, or a Confirm that
// had none) is a plain skip: its content is unknown.
//
// The claim is taken for a short lease (the configured lease, at most
// MaxClaimLease) and renewed every third of it by a goroutine of the Send
// until Confirm has succeeded or given up, or Release has begun. If a
// renewal finds the claim lost (the store was unreachable for a whole lease
// and another sender took the order_id), the Send's remaining attempts are
// cancelled and, unless the order was delivered, the Send returns
// failure.ErrClaimHeld: the other sender owns the order now.
//
// Confirm and Release run with ctx's values but not its cancellation, so a
// shutdown mid-Send still records what happened. A Confirm that fails after a
// delivery is retried for up to the configured lease (the confirm window)
// while ctx is not done; when it gives up it logs once, at error level,
// naming the order, and Send still returns nil: the order was delivered, and
// redoing it would send it twice. A Release that fails is joined to the Send
// error; the claim then frees itself when its lease expires.
//
// Failures of Confirm and Renew are logged as changes of the store's state,
// not per order: the first failure at warn level, then a reminder at most
// every outageReminder while it lasts, and one info line when the store
// answers again, with counts (see outageLog).
type idempotentSink struct {
	next  Sink
	store store.Sent
	// lease is each claim's lease, renewed every lease/3; confirmFor is how
	// long a failing Confirm is retried after the delivery.
	lease, confirmFor time.Duration
	log               *slog.Logger
	outage            *outageLog
}

func newIdempotent(next Sink, store store.Sent, lease time.Duration, log *slog.Logger) *idempotentSink {
	short := MaxClaimLease
	if lease > 0 {
		short = min(lease, MaxClaimLease)
	}
	return &idempotentSink{next: next, store: store, lease: short, confirmFor: max(lease, short), log: log,
		outage: newOutageLog(log, time.Now)}
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
	s.outage.ok(ctx)
	switch claim.Status {
	case store.AlreadySent:
		if mapping.FingerprintsDiffer(claim.Fingerprint, mapping.Fingerprint(o)) {
			return &failure.Conflict{OrderID: o.OrderID, Sent: claim.Summary, Now: mapping.Summary(o)}
		}
		return fmt.Errorf("order %s: %w", o.OrderID, failure.ErrAlreadySent)
	case store.HeldElsewhere:
		return fmt.Errorf("order %s: %w", o.OrderID, failure.ErrClaimHeld)
	case store.Claimed:
	default:
		return storeUnavailable(o.OrderID, "claim", fmt.Errorf("the store answered %v", claim.Status))
	}
	claim.Fingerprint, claim.Summary = mapping.Fingerprint(o), mapping.Summary(o)

	sendCtx, cancelSend := context.WithCancel(ctx)
	defer cancelSend()
	h := s.hold(ctx, claim, cancelSend)
	sendErr := s.next.Send(sendCtx, o)
	h.sending.Store(false)
	if sendErr == nil {
		s.confirm(ctx, claim, time.Now().Add(s.confirmFor))
		h.stop()
		return nil
	}
	h.stop() // no renewal may follow the Release: it would take the order_id again
	if h.lost.Load() {
		sendErr = fmt.Errorf("order %s: %w (its claim was lost while it was being sent: %v)", o.OrderID, failure.ErrClaimHeld, sendErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := s.store.Release(sctx, claim); err != nil {
		return errors.Join(sendErr, fmt.Errorf("order %s: sent store release: %w", o.OrderID, err))
	}
	return sendErr
}

// holder renews one claim until stop.
type holder struct {
	sending atomic.Bool // the order's POST and its retries are under way
	lost    atomic.Bool // a renewal found the claim taken by another sender while sending
	quit    chan struct{}
	done    chan struct{}
}

// stop ends the renewals and waits until none is under way.
func (h *holder) stop() {
	close(h.quit)
	<-h.done
}

// hold renews claim every lease/3, with ctx's values but not its
// cancellation, until stop. A renewal that finds the claim lost while the
// order is being sent cancels the sending (cancelSend) and logs once.
func (s *idempotentSink) hold(ctx context.Context, claim store.Claim, cancelSend context.CancelFunc) *holder {
	h := &holder{quit: make(chan struct{}), done: make(chan struct{})}
	h.sending.Store(true)
	every := max(s.lease/3, time.Millisecond)
	go func() {
		defer close(h.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.quit:
				return
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(storeTimeout, every))
			err := s.store.Renew(rctx, claim, s.lease)
			cancel()
			switch {
			case err == nil:
				s.outage.ok(ctx)
			case errors.Is(err, store.ErrClaimLost):
				if h.sending.Load() {
					h.lost.Store(true)
					cancelSend()
					s.log.LogAttrs(ctx, slog.LevelWarn, "claim of an order lost while sending it: another sender took it after the lease ran out; this sender stops its attempts",
						slog.String("order_id", claim.OrderID))
				}
				return
			default:
				s.outage.failed(ctx, "renew", claim.OrderID, err)
			}
		}
	}()
	return h
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

// confirm records a delivered claim, retrying a failing store until
// deadline or until ctx is done, whichever comes first. Each attempt runs
// without ctx's cancellation, bounded by storeTimeout, so one attempt is
// made even when ctx has ended already. Failures go to the outage log;
// giving up is logged once per order, at error level. Only the order_id is
// logged.
func (s *idempotentSink) confirm(ctx context.Context, claim store.Claim, deadline time.Time) {
	wait := confirmFirstWait
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		err := s.store.Confirm(sctx, claim)
		cancel()
		if err == nil {
			s.outage.ok(ctx)
			return
		}
		s.outage.failed(ctx, "confirm", claim.OrderID, err)
		gaveUp := ""
		switch {
		case ctx.Err() != nil:
			gaveUp = "stopping"
		case time.Now().Add(wait).After(deadline):
			gaveUp = "confirm window over"
		default:
			if sleep(ctx, wait) != nil {
				gaveUp = "stopping"
			}
		}
		if gaveUp != "" {
			s.outage.notRecorded()
			s.log.LogAttrs(ctx, slog.LevelError, "delivered order not recorded as sent; a redelivered event could send it again",
				slog.String("order_id", claim.OrderID), slog.Int("attempts", attempt), slog.String("gave_up", gaveUp),
				slog.String("error", err.Error()))
			return
		}
		wait = min(2*wait, confirmMaxWait)
	}
}

// outageReminder is the least time between two lines of an outage of the
// sent-order store, and outageQuiet the least time after the end of one
// outage before another is announced (a flapping store is told by
// reminders).
const (
	outageReminder = time.Minute
	outageQuiet    = 30 * time.Second
)

// outageLog tells the sent-order store's failures to record deliveries
// (Confirm) and to keep claims (Renew) as changes of state, so that an
// outage under load is a few lines, not one per order:
//
//   - the first failure after success: one warn line, with the order_id and
//     the error, unless the last outage ended within outageQuiet (the store
//     is flapping): the outage is then only counted;
//   - while it lasts: a warn reminder at most every outageReminder, with how
//     long, how many failures, and how many outages since the last line;
//   - the first success after an outage that was announced, or that lasted
//     outageQuiet or longer: one info line, with how long it lasted, the
//     failures, and the deliveries not recorded.
//
// Each delivery given up (not recorded) is also logged on its own, by
// confirm, at error level: it names an order that could be sent twice.
type outageLog struct {
	log *slog.Logger
	now func() time.Time

	failing atomic.Bool // read without mu on every success

	mu        sync.Mutex
	announced bool      // the current outage was logged when it began
	since     time.Time // start of the current outage
	lastLine  time.Time // of the last line logged
	lastEnd   time.Time // of the last outage
	failures  int       // failed calls since the last line, its own included
	outages   int       // outages begun since the last line, its own included
	given     int       // deliveries given up (not recorded) since the last line
	lastErr   string
}

func newOutageLog(log *slog.Logger, now func() time.Time) *outageLog {
	return &outageLog{log: log, now: now}
}

// failed records a failed op (confirm or renew) of orderID's claim.
func (l *outageLog) failed(ctx context.Context, op, orderID string, err error) {
	l.mu.Lock()
	now := l.now()
	l.failures++
	l.lastErr = err.Error()
	if !l.failing.Load() {
		l.failing.Store(true)
		l.since, l.outages, l.announced = now, l.outages+1, false
		if l.lastEnd.IsZero() || now.Sub(l.lastEnd) >= outageQuiet {
			l.announced, l.lastLine = true, now
			l.failures, l.outages = 1, 1
			l.mu.Unlock()
			l.log.LogAttrs(ctx, slog.LevelWarn, "the sent-order store fails to record delivered orders; retrying while their claims last, one reminder a minute until it answers again",
				slog.String("op", op), slog.String("order_id", orderID), slog.String("error", err.Error()))
			return
		}
	}
	if now.Sub(l.lastLine) < outageReminder {
		l.mu.Unlock()
		return
	}
	attrs := []slog.Attr{slog.Duration("failing_for", now.Sub(l.since).Round(time.Second)), slog.Int("failures", l.failures),
		slog.Int("outages", l.outages), slog.Int("not_recorded", l.given), slog.String("error", l.lastErr)}
	l.lastLine = now
	l.failures, l.outages, l.given = 0, 0, 0
	l.mu.Unlock()
	l.log.LogAttrs(ctx, slog.LevelWarn, "the sent-order store still fails to record delivered orders", attrs...)
}

// ok records a call the store answered.
func (l *outageLog) ok(ctx context.Context) {
	if !l.failing.Load() {
		return
	}
	l.mu.Lock()
	if !l.failing.Load() {
		l.mu.Unlock()
		return
	}
	l.failing.Store(false)
	now := l.now()
	l.lastEnd = now
	if !l.announced && now.Sub(l.since) < outageQuiet { // a flap: counted, told by the next line
		l.mu.Unlock()
		return
	}
	attrs := []slog.Attr{slog.Duration("failed_for", now.Sub(l.since).Round(time.Millisecond)), slog.Int("failures", l.failures),
		slog.Int("outages", l.outages), slog.Int("not_recorded", l.given)}
	l.lastLine = now
	l.failures, l.outages, l.given = 0, 0, 0
	l.mu.Unlock()
	l.log.LogAttrs(ctx, slog.LevelInfo, "the sent-order store records delivered orders again", attrs...)
}

// notRecorded counts a delivery whose recording was given up.
func (l *outageLog) notRecorded() {
	l.mu.Lock()
	l.given++
	l.mu.Unlock()
}
