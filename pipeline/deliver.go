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

// deliver sends an order through its account's lane until it is delivered,
// skipped, or rejected for good (then dead-lettered). What happens otherwise,
// by failure kind:
//
//	breaker open          Refersion fails for many orders: the lane holds its
//	                      work ("refersion unavailable") and the order is redone
//	retryable, unknown    redone without holding (the breaker says when
//	                      Refersion fails for everybody); once the order has
//	                      been redone PoisonAttempts times over PoisonAfter
//	                      while other orders of its lane were delivered, it is
//	                      a poison order: dead-lettered as undelivered, with a
//	                      warning
//	conflict              sent before with other content: dead-lettered as a
//	                      conflict, with a warning naming both versions' totals
//	claim held            another sender has it: redone without pausing
//	store unavailable     fetching pauses naming the store; redone
//	unauthorized          the lane stops until a restart; the order stays
//	                      un-done
//	permanent             dead-lettered as rejected; RejectionLimit rejections
//	                      in a row with no delivery between mean the destination
//	                      is misconfigured (a wrong path, a redirect): the lane
//	                      stops until a restart and the order stays un-done
//
// A lane's trouble holds only that lane's work when the relay has several
// lanes, and pauses fetching when it has one (see lane). An outage never
// dead-letters. The message stays un-done if ctx ends first.
func (p *Pipeline) deliver(ctx context.Context, w *worker, msg *message, km kafka.Message, out processor.Outcome) {
	orderSpan := trace.SpanFromContext(ctx)
	ctx, span := p.tracer().Start(ctx, "deliver")
	defer span.End()
	acct := p.account(out.Account, nil)
	ln := acct.orders
	start := time.Now()
	ctx = withSettleStart(ctx, start)
	var settle func()
	var firstFailure time.Time
	redos, sends := 0, 0
	journal := func(outcome string, status int, reason string) {
		p.settled(ctx, start, Settlement{Outcome: outcome, OrderID: out.OrderID, Account: out.Account, Status: status, Attempts: sends, Reason: reason,
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
	// stop ends a lane until a restart, journaled as outcome. With one lane
	// that stops consuming, and the order stays un-done; a separate lane
	// holds the order instead.
	stop := func(cause, outcome string, status int, line string, args ...any) attempt {
		if final, _ := ln.final(); !final {
			ln.gate.closeFinal(ln.cause(cause))
			span.SetStatus(codes.Error, cause)
			p.log.ErrorContext(ctx, line, append(args, "lane", ln.name())...)
			journal(outcome, status, cause)
		}
		if ln.separate {
			return attempt{lane: ln, cause: ln.cause(cause)}
		}
		settle = func() {}
		return attempt{done: true}
	}
	done := p.redoOn(ctx, w, func() attempt {
		acct = p.account(out.Account, acct) // a reload may have given the account new lanes
		ln = acct.orders
		if final, reason := ln.final(); final && ln.separate {
			return attempt{lane: ln, cause: reason} // held until a restart; nothing is sent
		}
		sends++
		tried := time.Now() // a first failure counts from when its try began
		err := acct.sink.Send(ctx, out.Order)
		switch failure.KindOf(err) {
		case failure.KindDelivered:
			ln.lastDelivered.Store(time.Now().UnixNano())
			ln.rejections.Store(0)
			ln.done.Add(1)
			settle = func() { finish(&p.stats.delivered, "delivered", "order delivered") }
			return attempt{done: true}
		case failure.KindAlreadySent:
			settle = func() { finish(&p.stats.skipped, "skipped", "order skipped: already sent") }
			return attempt{done: true}
		case failure.KindConflict:
			// The order_id was sent with other content: sending this one would
			// credit the order twice, and skipping it would hide the change.
			var c *failure.Conflict
			errors.As(err, &c)
			settle = func() {
				p.log.WarnContext(ctx, "order_id sent before with different content; this version is dead-lettered as a conflict",
					"order_id", out.OrderID, "sent", c.Sent, "now", c.Now, "partition", km.Partition, "offset", km.Offset)
				orderSpan.SetAttributes(attrOutcome.String(deadletter.ReasonConflict))
				d := record(km, out)
				d.Reason, d.Customer, d.Attempts = deadletter.ReasonConflict, out.Order.Customer, 1
				d.Problems = []mapping.Problem{{Field: "order_id", Reason: c.Error()}}
				p.deadLetter(ctx, msg, d)
			}
			return attempt{done: true}
		case failure.KindPermanent:
			var perm *failure.Permanent
			errors.As(err, &perm)
			if n := ln.rejections.Add(1); p.cfg.RejectionLimit > 0 && n >= int64(p.cfg.RejectionLimit) {
				return stop(fmt.Sprintf("refersion rejected %d orders in a row (last: HTTP %d): check REFERSION_URL, then restart", p.cfg.RejectionLimit, perm.Status),
					"stopped", perm.Status,
					"every order is rejected: the destination looks misconfigured; its orders stop until the relay is restarted",
					"rejections_in_a_row", p.cfg.RejectionLimit, "status", perm.Status, "body", perm.Body, "reason", perm.Reason, "order_id", out.OrderID)
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
			status := 0
			if ua := (*failure.Unauthorized)(nil); errors.As(err, &ua) {
				status = ua.Status
			}
			return stop(ln.unauthorized(), "unauthorized", status,
				"refersion refused the keys; the account's orders stop until the keys are fixed and the relay restarted", "error", err)
		}
		if ctx.Err() != nil {
			return attempt{err: err}
		}
		p.stats.redone.Add(1)
		switch failure.KindOf(err) {
		case failure.KindClaimHeld:
			// Another sender holding this one order_id is no reason to hold
			// the others: redone without pausing fetching.
			return attempt{lane: ln, err: err}
		case failure.KindStoreUnavailable:
			return storeAttempt(err)
		case failure.KindBreakerOpen:
			return attempt{lane: ln, cause: ln.cause(causeDestination), err: err}
		}
		now := time.Now()
		if firstFailure.IsZero() {
			firstFailure = tried
		}
		redos++
		if p.poisoned(ln, redos, firstFailure, now) {
			settle = func() { p.undeliverable(ctx, msg, km, out, redos, now.Sub(firstFailure), err, orderSpan) }
			return attempt{done: true}
		}
		return attempt{lane: ln, err: fmt.Errorf("order %s: %w", out.OrderID, err)}
	})
	if done {
		settle()
	}
}

// poisoned reports whether an order redone redos times since its first
// failure is a poison order: past both bounds, another order of its lane was
// delivered since its first failure, and the lane looks healthy now (its
// breaker closed: in an outage the breaker opens, so an order failing with
// everybody else is never taken for a poison one).
func (p *Pipeline) poisoned(ln *lane, redos int, first, now time.Time) bool {
	healthy := ln.healthy == nil || ln.healthy()
	return healthy && redos >= p.cfg.PoisonAttempts && now.Sub(first) >= p.cfg.PoisonAfter &&
		ln.lastDelivered.Load() > first.UnixNano()
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
