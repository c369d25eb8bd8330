package pipeline

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/sink"
)

// Cancels sends refunds and cancellations; sink.Canceller satisfies it.
type Cancels interface {
	Cancel(ctx context.Context, c mapping.Cancel) (sink.CancelResult, error)
}

// deliverCancel sends a refund or cancellation until it is settled:
//
//	cancelled, clamped, nothing to cancel,
//	no conversion (422 error 5), already done   counted by outcome
//	order never delivered                       dead-lettered: refund_before_order
//	amount-only refund                          dead-lettered: amount_only_refund
//	rejected for good                           dead-lettered: rejected
//	order or another cancel of it in flight     waits (holding no worker slot)
//	store unavailable                           fetching pauses naming the store
//	API unavailable (breaker, retries)          held by the account's cancel
//	                                            lane: paid orders keep flowing
//	unauthorized                                the account's cancel lane stops
//	                                            until a restart (held, un-done)
//
// Cancels of one order go one at a time, in the order they were fetched
// (wait is closed when the one before is settled), so that a refund after a
// partial one plans against it.
func (p *Pipeline) deliverCancel(ctx context.Context, w *worker, msg *message, km kafka.Message, out processor.Outcome, wait <-chan struct{}, leave func()) {
	defer leave()
	acct := p.account(out.Account, nil)
	ln := acct.api
	// Waiting for the cancel before it, or for the order, holds no worker
	// slot: the order may itself be held by its lane.
	if !w.waitFor(ctx, wait) {
		return
	}
	// Its order, fetched before it, is being delivered by this relay: wait
	// for it, without pausing anyone.
	if !w.waitFor(ctx, p.inflight.wait(laneKey(out.Account, out.Cancel.OrderID))) {
		return
	}
	select {
	case <-p.stopping: // its order may have given up unsettled: both are redone after the restart
		return
	default:
	}
	start := time.Now()
	ctx = withSettleStart(ctx, start)
	sends := 0
	journal := func(outcome string, status int, reason string) {
		p.settled(ctx, start, Settlement{Outcome: outcome, OrderID: out.OrderID, Account: out.Account, Status: status, Attempts: sends, Reason: reason,
			Partition: km.Partition, Offset: km.Offset})
	}
	var settle func()
	done := p.redoOn(ctx, w, func() attempt {
		acct = p.account(out.Account, acct) // a reload may have given the account new lanes
		ln = acct.api
		if acct.cancels == nil { // a reload took the account's cancel destination away
			return attempt{lane: ln, cause: ln.cause("no cancel destination")}
		}
		if final, reason := ln.final(); final {
			return attempt{lane: ln, cause: reason} // held until a restart; nothing is sent
		}
		sends++
		res, err := acct.cancels.Cancel(ctx, out.Cancel)
		deadLetter := func(reason string, problem string, status int, body string) {
			settle = func() {
				d := record(km, out)
				d.Reason, d.Status, d.Body = reason, status, body
				d.Problems = []mapping.Problem{{Reason: problem}}
				p.deadLetter(ctx, msg, d)
			}
		}
		switch {
		case err == nil:
			ln.done.Add(1)
			settle = func() {
				p.stats.cancels[cancelIndex(res.Outcome)].Add(1)
				p.log.DebugContext(ctx, "cancel settled", "order_id", out.OrderID, "outcome", string(res.Outcome), "clamped", res.Clamped)
				journal(string(res.Outcome), 0, "")
				msg.finish()
			}
			return attempt{done: true}
		case errors.Is(err, sink.ErrOrderNotDelivered):
			deadLetter(deadletter.ReasonRefundBeforeOrder, sink.ErrOrderNotDelivered.Error(), 0, "")
			return attempt{done: true}
		case errors.Is(err, sink.ErrAmountOnly):
			deadLetter(deadletter.ReasonAmountOnly, sink.ErrAmountOnly.Error(), 0, "")
			return attempt{done: true}
		}
		var perm *failure.Permanent
		switch failure.KindOf(err) {
		case failure.KindPermanent:
			errors.As(err, &perm)
			deadLetter(deadletter.ReasonRejected, perm.Error(), perm.Status, perm.Body)
			return attempt{done: true}
		case failure.KindUnauthorized:
			if final, _ := ln.final(); !final {
				ln.gate.closeFinal(ln.cause(ln.unauthorized()))
				p.log.ErrorContext(ctx, "refersion's API refused the keys; the account's cancels stop until the keys are fixed and the relay restarted",
					"lane", ln.name(), "error", err)
				status := 0
				if ua := (*failure.Unauthorized)(nil); errors.As(err, &ua) {
					status = ua.Status
				}
				journal("unauthorized", status, ln.unauthorized())
			}
			return attempt{lane: ln, cause: ln.cause(ln.unauthorized())}
		case failure.KindStoreUnavailable:
			return storeAttempt(err)
		case failure.KindBreakerOpen:
			return attempt{lane: ln, cause: ln.cause(causeAPI), err: err}
		}
		return attempt{lane: ln, err: err}
	})
	if done {
		settle()
	}
}

// inflight counts the orders of this relay dispatched and not yet settled,
// by order_id, so that a refund fetched after its order waits for it even
// before the order's claim is taken.
type inflight struct {
	mu sync.Mutex
	n  map[string]*inflightOrder
}

type inflightOrder struct {
	count   int
	settled chan struct{} // closed when count drops to 0
}

func (f *inflight) add(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[string]*inflightOrder{}
	}
	o := f.n[id]
	if o == nil {
		o = &inflightOrder{settled: make(chan struct{})}
		f.n[id] = o
	}
	o.count++
}

func (f *inflight) done(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.n[id]; o != nil {
		if o.count--; o.count <= 0 {
			close(o.settled)
			delete(f.n, id)
		}
	}
}

// wait returns a channel closed once no order id is in flight here.
func (f *inflight) wait(id string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.n[id]; o != nil {
		return o.settled
	}
	return closedChan
}

// keyQueue orders the work of each key (the cancels of one order; the
// orders of one order_id): enter returns a channel closed when the previous
// work of the key has left, and leave, which the work calls once settled (or
// given up).
type keyQueue struct {
	mu   sync.Mutex
	last map[string]chan struct{}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (q *keyQueue) enter(orderID string) (wait <-chan struct{}, leave func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.last == nil {
		q.last = map[string]chan struct{}{}
	}
	prev, ok := q.last[orderID]
	if !ok {
		prev = closedChan
	}
	mine := make(chan struct{})
	q.last[orderID] = mine
	var once sync.Once
	return prev, func() {
		once.Do(func() {
			close(mine)
			q.mu.Lock()
			if q.last[orderID] == mine {
				delete(q.last, orderID)
			}
			q.mu.Unlock()
		})
	}
}
