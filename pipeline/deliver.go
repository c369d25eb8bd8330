package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/processor"
)

// deliver sends an order until it is delivered, skipped, or rejected for
// good (then dead-lettered). What happens otherwise, by failure kind:
//
//	breaker open          Refersion fails for many orders: fetching pauses
//	                      ("refersion unavailable") and the order is redone
//	retryable, unknown    redone without pausing (the breaker says when
//	                      Refersion fails for everybody); once the order has
//	                      been redone PoisonAttempts times over PoisonAfter
//	                      while other orders were delivered, it is a poison
//	                      order: dead-lettered as undelivered, with a warning
//	claim held            another sender has it: redone without pausing
//	store unavailable     fetching pauses naming the store; redone
//	unauthorized          fetching stops until a restart; the order stays un-done
//	permanent             dead-lettered as rejected; RejectionLimit rejections
//	                      in a row with no delivery between mean the destination
//	                      is misconfigured (a wrong path, a redirect): fetching
//	                      stops until a restart and the order stays un-done
//
// An outage never dead-letters. The message stays un-done if ctx ends first.
func (p *Pipeline) deliver(ctx context.Context, msg *message, km kafka.Message, out processor.Outcome) {
	orderSpan := trace.SpanFromContext(ctx)
	ctx, span := p.tracer().Start(ctx, "deliver")
	defer span.End()
	start := time.Now()
	ctx = withSettleStart(ctx, start)
	var settle func()
	var firstFailure time.Time
	redos, sends := 0, 0
	journal := func(outcome string, status int, reason string) {
		p.settled(ctx, start, Settlement{Outcome: outcome, OrderID: out.OrderID, Status: status, Attempts: sends, Reason: reason,
			Partition: km.Partition, Offset: km.Offset})
	}
	// finish settles an order that needs no dead letter: counted, on its
	// span, logged at debug level, journaled, done.
	finish := func(counter *atomic.Int64, outcome, line string) {
		counter.Add(1)
		orderSpan.SetAttributes(attrOutcome.String(outcome))
		p.log.DebugContext(ctx, line, "order_id", out.OrderID, "partition", km.Partition, "offset", km.Offset)
		journal(outcome, 0, "")
		msg.finish()
	}
	done := p.redo(ctx, func() attempt {
		sends++
		tried := time.Now() // a first failure counts from when its try began
		err := p.sink.Send(ctx, out.Order)
		switch failure.KindOf(err) {
		case failure.KindDelivered:
			p.lastDelivered.Store(time.Now().UnixNano())
			p.rejections.Store(0)
			settle = func() { finish(&p.stats.delivered, "delivered", "order delivered") }
			return attempt{done: true}
		case failure.KindAlreadySent:
			settle = func() { finish(&p.stats.skipped, "skipped", "order skipped: already sent") }
			return attempt{done: true}
		case failure.KindPermanent:
			var perm *failure.Permanent
			errors.As(err, &perm)
			if n := p.rejections.Add(1); p.cfg.RejectionLimit > 0 && n >= int64(p.cfg.RejectionLimit) {
				settle = func() {
					p.misconfigured(ctx, span, out.OrderID, perm)
					journal("stopped", perm.Status, "destination misconfigured")
				}
				return attempt{done: true}
			}
			settle = func() {
				orderSpan.SetAttributes(attrOutcome.String(deadletter.ReasonRejected), attrStatus.Int(perm.Status))
				span.SetStatus(codes.Error, "rejected")
				d := record(km, out)
				d.Reason, d.Problems, d.Customer = deadletter.ReasonRejected, nil, out.Order.Customer
				d.Status, d.Body, d.Attempts = perm.Status, perm.Body, 1
				if perm.Reason != "" {
					d.Problems = []mapping.Problem{{Reason: perm.Reason}}
				}
				p.deadLetter(ctx, msg, d)
			}
			return attempt{done: true}
		case failure.KindUnauthorized:
			// The order stays un-done and is redone after a restart with good keys.
			settle = func() {
				span.SetStatus(codes.Error, "unauthorized")
				p.gate.closeFinal(causeUnauthorized)
				p.log.ErrorContext(ctx, "refersion refused the keys; consuming stops until the keys are fixed and the relay restarted", "error", err)
				status := 0
				if ua := (*failure.Unauthorized)(nil); errors.As(err, &ua) {
					status = ua.Status
				}
				journal("unauthorized", status, causeUnauthorized)
			}
			return attempt{done: true}
		}
		if ctx.Err() != nil {
			return attempt{err: err}
		}
		p.stats.redone.Add(1)
		switch failure.KindOf(err) {
		case failure.KindClaimHeld:
			// Another sender holding this one order_id is no reason to hold
			// the others: redone without pausing fetching.
			return attempt{err: err}
		case failure.KindStoreUnavailable:
			return storeAttempt(err)
		case failure.KindBreakerOpen:
			return attempt{cause: causeDestination, err: err}
		}
		now := time.Now()
		if firstFailure.IsZero() {
			firstFailure = tried
		}
		redos++
		if p.poisoned(redos, firstFailure, now) {
			settle = func() { p.undeliverable(ctx, msg, km, out, redos, now.Sub(firstFailure), err, orderSpan) }
			return attempt{done: true}
		}
		return attempt{err: fmt.Errorf("order %s: %w", out.OrderID, err)}
	})
	if done {
		settle()
	}
}

// poisoned reports whether an order redone redos times since its first
// failure is a poison order: past both bounds, another order was delivered
// since its first failure, and the destination looks healthy now (its
// breaker closed: in an outage the breaker opens, so an order failing with
// everybody else is never taken for a poison one).
func (p *Pipeline) poisoned(redos int, first, now time.Time) bool {
	healthy := p.cfg.DestinationHealthy == nil || p.cfg.DestinationHealthy()
	return healthy && redos >= p.cfg.PoisonAttempts && now.Sub(first) >= p.cfg.PoisonAfter &&
		p.lastDelivered.Load() > first.UnixNano()
}

// undeliverable dead-letters a poison order as undelivered, to be replayed
// once Refersion takes it.
func (p *Pipeline) undeliverable(ctx context.Context, msg *message, km kafka.Message, out processor.Outcome, redos int, over time.Duration, err error, orderSpan trace.Span) {
	p.log.WarnContext(ctx, "order dead-lettered as undelivered: Refersion keeps failing it while accepting other orders; replay it once fixed",
		"order_id", out.OrderID, "attempts", redos, "over", over.Round(time.Second).String(), "error", err)
	orderSpan.SetAttributes(attrOutcome.String(deadletter.ReasonUndelivered))
	d := record(km, out)
	d.Reason, d.Attempts, d.Customer = deadletter.ReasonUndelivered, redos, out.Order.Customer
	d.Problems = []mapping.Problem{{Reason: fmt.Sprintf("Refersion failed this order %d times over %s while accepting other orders: %v",
		redos, over.Round(time.Second), err)}}
	var r *failure.Retryable
	if errors.As(err, &r) {
		d.Status, d.Body = r.Status, r.Body
	}
	p.deadLetter(ctx, msg, d)
}

// misconfigured stops consuming after RejectionLimit rejections in a row:
// Refersion refusing every order means the relay posts to the wrong place
// (a wrong path, a redirect), not that every order is bad. The order stays
// un-done, and nothing more is dead-lettered.
func (p *Pipeline) misconfigured(ctx context.Context, span trace.Span, orderID string, perm *failure.Permanent) {
	span.SetStatus(codes.Error, "destination misconfigured")
	cause := fmt.Sprintf("refersion rejected %d orders in a row (last: HTTP %d): check REFERSION_URL, then restart", p.cfg.RejectionLimit, perm.Status)
	p.gate.closeFinal(cause)
	p.log.ErrorContext(ctx, "every order is rejected: the destination looks misconfigured; consuming stops until the relay is restarted",
		"rejections_in_a_row", p.cfg.RejectionLimit, "status", perm.Status, "body", perm.Body, "reason", perm.Reason, "order_id", orderID)
}
