package pipeline

import (
	"context"
	"errors"

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
//	order or another cancel of it in flight     redone without pausing
//	store unavailable                           fetching pauses naming the store
//	API unavailable (breaker, retries)          redone without pausing: paid
//	                                            orders keep flowing meanwhile
//	unauthorized                                fetching stops until a restart
func (p *Pipeline) deliverCancel(ctx context.Context, msg *message, km kafka.Message, out processor.Outcome) {
	var settle func()
	done := p.redo(ctx, func() attempt {
		res, err := p.cancels.Cancel(ctx, out.Cancel)
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
			settle = func() {
				p.stats.cancels[cancelIndex(res.Outcome)].Add(1)
				p.log.DebugContext(ctx, "cancel settled", "order_id", out.OrderID, "outcome", string(res.Outcome), "clamped", res.Clamped)
				msg.finish()
			}
			return attempt{done: true}
		case errors.Is(err, sink.ErrOrderNotDelivered):
			deadLetter(deadletter.ReasonRefundBeforeOrder, err.Error(), 0, "")
			return attempt{done: true}
		case errors.Is(err, sink.ErrAmountOnly):
			deadLetter(deadletter.ReasonAmountOnly, err.Error(), 0, "")
			return attempt{done: true}
		}
		var perm *failure.Permanent
		switch failure.KindOf(err) {
		case failure.KindPermanent:
			errors.As(err, &perm)
			deadLetter(deadletter.ReasonRejected, perm.Error(), perm.Status, perm.Body)
			return attempt{done: true}
		case failure.KindUnauthorized:
			settle = func() {
				p.gate.closeFinal(causeUnauthorized)
				p.log.ErrorContext(ctx, "refersion's API refused the keys; consuming stops until the keys are fixed and the relay restarted", "error", err)
			}
			return attempt{done: true}
		case failure.KindStoreUnavailable:
			return storeAttempt(err)
		}
		return attempt{err: err}
	})
	if done {
		settle()
	}
}
