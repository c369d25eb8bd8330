package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/processor"
)

// MaxMessageBytes is the largest message the pipeline reads as events (see
// processor.MaxMessageBytes).
const MaxMessageBytes = processor.MaxMessageBytes

// message counts the unfinished events of one Kafka message; the message is
// done when the count reaches zero.
type message struct {
	pt      *partition
	offset  int64
	pending atomic.Int32
	spans   []trace.Span // order spans, ended when the offset is committed; set before dispatch
}

func (m *message) finish() {
	if m.pending.Add(-1) == 0 {
		m.pt.markDone(m.offset, m.spans)
	}
}

// handle is the pipeline's driver of the processor for one fetched message:
// every event's outcome is decided in partition order (identity changes
// applied, orders mapped and enriched); deliveries and dead-letter writes go
// to workers. It returns false when fetchCtx ended before the message was
// fully dispatched (the message then stays un-done). km's bytes may be reused
// once it returns: work dispatched for km reads copies (see own).
func (p *Pipeline) handle(fetchCtx, jobCtx context.Context, pt *partition, km kafka.Message) bool {
	// The message's tracking is allocated only when some of its work goes to
	// a worker: most messages are dropped events and identity updates.
	var msg *message
	claim := func() *message {
		if msg == nil {
			msg = &message{pt: pt, offset: km.Offset}
			msg.pending.Store(1) // held until every event is dispatched
		}
		return msg
	}
	ok := true
	events := int64(0)
	var dropped [len(p.stats.dropped)]int64 // counted here, added once per message
	p.proc.Each(km.Value, func(ev processor.Event) bool {
		events++
		if ev.Class.Kind == mapping.KindDropped && !p.proc.Inspects(ev) { // most events: nothing more to do
			dropped[ev.Class.Drop]++
			return true
		}
		ok = p.handleEvent(fetchCtx, jobCtx, claim, km, ev)
		return ok
	})
	p.stats.events.Add(events)
	for reason, n := range dropped {
		if n > 0 {
			p.stats.dropped[reason].Add(n)
		}
	}
	switch {
	case !ok:
	case msg == nil:
		pt.markDone(km.Offset, nil)
	default:
		msg.finish()
	}
	return ok
}

// handleEvent settles one event that is not a plain drop.
func (p *Pipeline) handleEvent(fetchCtx, jobCtx context.Context, claim func() *message, km kafka.Message, ev processor.Event) bool {
	ctx := fetchCtx
	var span trace.Span
	if ev.Class.Kind == mapping.KindRefund || ev.Class.Kind == mapping.KindCancel {
		p.stats.cancelEvents.Add(1)
	}
	if ev.Class.Kind == mapping.KindOrder {
		p.stats.orders.Add(1)
		ctx, span = p.startOrderSpan(fetchCtx, km, ev.Index)
		m := claim()
		m.spans = append(m.spans, span)
		jobCtx = trace.ContextWithSpan(jobCtx, span)
	}
	var out processor.Outcome
	handled := p.redo(ctx, func() attempt {
		var err error
		if out, err = p.proc.Handle(ctx, ev); err != nil && ctx.Err() == nil {
			p.stats.identityErrors.Add(1)
		}
		return storeAttempt(err)
	})
	if !handled {
		return false
	}
	if (out.Kind == processor.Order || out.Kind == processor.Cancel) && p.account(out.Account, nil) == nil {
		// Routed just before a reload took its account away.
		out.Kind, out.Reason = processor.Invalid, deadletter.ReasonNoAccount
		out.Problems = []mapping.Problem{{Reason: "account " + out.Account + " was removed from ACCOUNTS_FILE by a reload"}}
	}
	switch out.Kind {
	case processor.Dropped: // a page or track event read for a click
		p.stats.dropped[out.Drop].Add(1)
		switch out.Click {
		case mapping.ClickFound:
			p.stats.clicks.Add(1)
		case mapping.ClickMalformed:
			p.stats.clicksMalformed.Add(1)
		}
		return true
	case processor.IdentityChanged:
		switch out.Identity {
		case mapping.KindIdentify:
			p.stats.identify.Add(1)
		case mapping.KindAlias:
			p.stats.alias.Add(1)
		case mapping.KindDelete:
			p.stats.delete.Add(1)
		}
		return true
	case processor.Cancel:
		km, out := own(km, out)
		m := claim()
		if p.account(out.Account, nil).cancels == nil { // no cancel destination: the event cannot be settled here
			d := record(km, out)
			d.Reason, d.Problems = deadletter.ReasonRejected, []mapping.Problem{{Reason: "no cancel destination is configured"}}
			return p.dispatch(fetchCtx, m, func(*worker) { p.deadLetter(jobCtx, m, d) })
		}
		wait, leave := p.cancelQueue.enter(laneKey(out.Account, out.Cancel.OrderID))
		if !p.dispatch(fetchCtx, m, func(w *worker) { p.deliverCancel(jobCtx, w, m, km, out, wait, leave) }) {
			leave()
			return false
		}
		return true
	case processor.Order:
		km, out := own(km, out)
		span.SetAttributes(attrOrderID.String(out.OrderID))
		switch out.Credit {
		case mapping.Credited:
			p.stats.credited.Add(1)
		case mapping.OutsideWindow:
			p.stats.clicksOutsideWindow.Add(1)
		}
		m := claim()
		key := laneKey(out.Account, out.OrderID)
		p.inflight.add(key)
		// Orders of one order_id go one at a time, in fetch order: a second
		// reading is then skipped, or a conflict, never sent beside the first.
		wait, leave := p.orderQueue.enter(key)
		// An order of a lane already in trouble is held from the start, so
		// that fetching pauses at HeldLimit without waiting for its first try.
		var held *lane
		if ln := p.account(out.Account, nil).orders; ln.separate {
			if open, _ := ln.gate.state(); !open {
				held = ln
			}
		}
		if !p.dispatchHeld(fetchCtx, m, held, func(w *worker) {
			defer p.inflight.done(key)
			defer leave()
			if w.waitFor(jobCtx, wait) {
				p.deliver(jobCtx, w, m, km, out)
			}
		}) {
			leave()
			p.inflight.done(key)
			return false
		}
		return true
	}
	if span != nil {
		span.SetAttributes(attrOutcome.String(out.Reason), attrOrderID.String(out.OrderID))
	}
	if out.Kind == processor.Failed {
		if ev.Class.Kind == mapping.KindOrder {
			p.stats.orderPanics.Add(1)
		}
		p.log.ErrorContext(ctx, "handling an event panicked; it is dead-lettered with reason panic",
			"partition", km.Partition, "offset", km.Offset, "index", out.Index, "error", out.Problems[0].Reason)
	}
	m := claim()
	d := record(own(km, out))
	return p.dispatch(fetchCtx, m, func(*worker) { p.deadLetter(jobCtx, m, d) })
}

// own returns the job's own copies of km and out: handleEvent's stay on its
// stack for the other events, and the bytes a job reads are copied, since
// the message's are the fetched chunk's, reused once handle returns. A job
// reads the key and the event; the value and the headers are handle's.
func own(km kafka.Message, out processor.Outcome) (kafka.Message, processor.Outcome) {
	km.Key, km.Value, km.Headers = bytes.Clone(km.Key), nil, nil
	out.Event = bytes.Clone(out.Event)
	return km, out
}

// record is the dead-letter record of out, with the message's coordinates.
func record(km kafka.Message, out processor.Outcome) deadletter.Record {
	d := out.Record()
	d.Key, d.Topic, d.Partition, d.Offset, d.FirstFailure = km.Key, km.Topic, km.Partition, km.Offset, time.Now()
	return d
}

// dispatch runs job on a worker once one is free. It blocks while every
// worker is busy (back-pressure on fetching) and returns false if fetchCtx
// ends first.
//
// A job may park its worker while it waits on a lane in trouble (see
// worker): the slot is then another job's until it unparks.
func (p *Pipeline) dispatch(fetchCtx context.Context, msg *message, job func(*worker)) bool {
	return p.dispatchHeld(fetchCtx, msg, nil, job)
}

// dispatchHeld is dispatch for a job held by lane held from the start (nil:
// none), counted in HeldLimit before the next fetch.
func (p *Pipeline) dispatchHeld(fetchCtx context.Context, msg *message, held *lane, job func(*worker)) bool {
	select {
	case p.sem <- struct{}{}:
	case <-fetchCtx.Done():
		return false
	}
	msg.pending.Add(1)
	msg.pt.jobs.Add(1)
	p.stats.inFlight.Add(1)
	w := &worker{p: p}
	if held != nil {
		w.heldOn(held)
	}
	p.pool.run(func() {
		defer func() {
			w.unhold()
			p.stats.inFlight.Add(-1)
			if !w.parked {
				<-p.sem
			}
			msg.pt.jobs.Done()
		}()
		job(w)
	})
	return true
}

// deadLetter writes d until the dead-letter topic acknowledges it, then the
// event is done. A failed write is counted and redone, never dropped.
func (p *Pipeline) deadLetter(ctx context.Context, msg *message, d deadletter.Record) {
	start := time.Now()
	ctx, span := p.tracer().Start(ctx, "dead-letter", trace.WithAttributes(attribute.String("refersion.reason", d.Reason)))
	defer span.End()
	written := p.redo(ctx, func() attempt {
		err := p.dlq.Write(ctx, d)
		if err == nil {
			return attempt{done: true}
		}
		p.stats.deadLetterFailures.Add(1)
		var refused *deadletter.RefusedError
		if errors.As(err, &refused) {
			// Writing it again cannot help: the event stays at its source
			// offset, which the log line names, and the stream goes on.
			p.log.ErrorContext(ctx, "the dead-letter topic refuses this record even in its smallest form; find the event at its source offset",
				"reason", d.Reason, "topic", d.Topic, "partition", d.Partition, "offset", d.Offset, "index", d.Index, "error", err)
			return attempt{done: true}
		}
		return attempt{cause: causeDeadLetters, err: err}
	})
	if written {
		p.stats.deadLettered[reasonIndex(d.Reason)].Add(1)
		attrs := []slog.Attr{slog.String("reason", d.Reason), slog.String("topic", d.Topic),
			slog.Int("partition", d.Partition), slog.Int64("offset", d.Offset), slog.Int("index", d.Index)}
		if d.OrderID != "" {
			attrs = append(attrs, slog.String("order_id", d.OrderID))
		}
		if d.Account != "" {
			attrs = append(attrs, slog.String("account", d.Account))
		}
		if d.Status != 0 {
			attrs = append(attrs, slog.Int("status", d.Status))
		}
		if len(d.Problems) > 0 { // the field only: a problem's text may quote personal data
			attrs = append(attrs, slog.Int("problems", len(d.Problems)), slog.String("first_problem_field", d.Problems[0].Field))
		}
		p.log.LogAttrs(ctx, slog.LevelWarn, "dead-lettered", attrs...)
		p.settled(ctx, start, Settlement{Outcome: d.Reason, DeadLettered: true, OrderID: d.OrderID, Account: d.Account, Status: d.Status, Attempts: d.Attempts,
			Body: d.Body, Reason: firstProblem(d.Problems), Partition: d.Partition, Offset: d.Offset})
		msg.finish()
	}
}
