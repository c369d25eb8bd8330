package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sink"
)

// Gate causes.
const (
	causeDestination  = "refersion unavailable"
	causeUnauthorized = "refersion refused the keys (401/403): fix REFERSION_* keys and restart"
	causeIdentities   = "identity store unavailable"
	causeDeadLetters  = "dead-letter topic unavailable"
)

// MaxMessageBytes is the largest message the pipeline reads as events. A
// larger one is dead-lettered as malformed, cut to its first 64 KiB so that the
// record fits the dead-letter topic.
const MaxMessageBytes = 1 << 20

const oversizedExcerpt = 64 << 10

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

// handle processes one fetched message: every event of it is classified;
// identity updates and enrichment happen here, in partition order; deliveries
// and dead-letter writes go to workers. It returns false when fetchCtx ended
// before the message was fully dispatched (the message then stays un-done).
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
	if len(km.Value) > MaxMessageBytes {
		p.stats.events.Add(1)
		d := source{km: km}.deadLetter(ReasonMalformed, []mapping.Problem{{Reason: fmt.Sprintf(
			"message of %d bytes is over the %d-byte limit (Segment allows 32 KB per event, 500 KB per batch); the record keeps its first %d bytes",
			len(km.Value), MaxMessageBytes, oversizedExcerpt)}})
		d.Value = km.Value[:oversizedExcerpt]
		if !p.dispatchDeadLetter(fetchCtx, jobCtx, claim(), d) {
			return false
		}
		msg.finish()
		return true
	}
	ok := true
	events := int64(0)
	var dropped [len(p.stats.dropped)]int64 // counted here, added once per message
	p.mapper.Split(km.Value, func(index int, ev []byte, c mapping.Class) bool {
		events++
		if c.Kind == mapping.KindDropped { // most events: nothing more to do
			dropped[c.Drop]++
			return true
		}
		src := source{km: km, index: index, ev: ev}
		switch c.Kind {
		case mapping.KindMalformed:
			ok = p.dispatchDeadLetter(fetchCtx, jobCtx, claim(), src.deadLetter(ReasonMalformed, []mapping.Problem{{Reason: c.Problem}}))
		case mapping.KindOrder:
			ok = p.handleOrder(fetchCtx, jobCtx, claim(), src)
		default:
			ok = p.handleIdentity(fetchCtx, jobCtx, claim, src, c.Kind)
		}
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

// source is where an event came from.
type source struct {
	km    kafka.Message
	index int
	ev    []byte
}

func (s source) deadLetter(reason string, problems []mapping.Problem) DeadLetter {
	return DeadLetter{
		Value: s.ev, Key: s.km.Key, Reason: reason, Problems: problems, FirstFailure: time.Now(),
		Topic: s.km.Topic, Partition: s.km.Partition, Offset: s.km.Offset, Index: s.index,
	}
}

func (p *Pipeline) handleOrder(fetchCtx, jobCtx context.Context, msg *message, src source) bool {
	p.stats.orders.Add(1)
	ctx, span := p.startOrderSpan(fetchCtx, src.km, src.index)
	msg.spans = append(msg.spans, span)
	jobCtx = trace.ContextWithSpan(jobCtx, span)

	_, mapSpan := p.tracer().Start(ctx, "map")
	o, err := p.mapper.Map(src.ev)
	mapSpan.End()
	var invalid *mapping.InvalidError
	if errors.As(err, &invalid) {
		span.SetAttributes(attrOutcome.String(ReasonInvalid), attrOrderID.String(invalid.OrderID))
		d := src.deadLetter(ReasonInvalid, invalid.Problems)
		d.OrderID, d.MessageID = invalid.OrderID, invalid.MessageID
		return p.dispatchDeadLetter(fetchCtx, jobCtx, msg, d)
	}
	span.SetAttributes(attrOrderID.String(o.OrderID))
	enrichCtx, enrichSpan := p.tracer().Start(ctx, "enrich")
	err = p.retryStore(enrichCtx, func() error { return mapping.Enrich(enrichCtx, &o, p.ids) })
	enrichSpan.End()
	if err != nil {
		return false
	}
	return p.dispatch(fetchCtx, msg, func() { p.deliver(jobCtx, msg, src, o) })
}

func (p *Pipeline) handleIdentity(fetchCtx, jobCtx context.Context, claim func() *message, src source, k mapping.Kind) bool {
	u, err := mapping.ParseIdentity(src.ev, k)
	var invalid *mapping.InvalidError
	if errors.As(err, &invalid) {
		d := src.deadLetter(ReasonIdentity, invalid.Problems)
		d.MessageID = invalid.MessageID
		return p.dispatchDeadLetter(fetchCtx, jobCtx, claim(), d)
	}
	if err := p.retryStore(fetchCtx, func() error { return mapping.Apply(fetchCtx, p.ids, u) }); err != nil {
		return false
	}
	switch k {
	case mapping.KindIdentify:
		p.stats.identify.Add(1)
	case mapping.KindAlias:
		p.stats.alias.Add(1)
	case mapping.KindDelete:
		p.stats.delete.Add(1)
	}
	return true
}

// retryStore runs op until it succeeds, holding fetching while it fails.
// It returns an error only when ctx is done.
func (p *Pipeline) retryStore(ctx context.Context, op func() error) error {
	backoff := p.cfg.RedoBackoff
	release := func() {}
	defer func() { release() }()
	for {
		err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.stats.identityErrors.Add(1)
		p.log.WarnContext(ctx, "identity store", "error", err)
		release()
		release = p.gate.hold(causeIdentities)
		if sleep(ctx, backoff) != nil {
			return ctx.Err()
		}
		backoff = min(2*backoff, p.cfg.RedoBackoffMax)
	}
}

// dispatch runs job on a worker once one is free. It blocks while every
// worker is busy (back-pressure on fetching) and returns false if fetchCtx
// ends first.
func (p *Pipeline) dispatch(fetchCtx context.Context, msg *message, job func()) bool {
	select {
	case p.sem <- struct{}{}:
	case <-fetchCtx.Done():
		return false
	}
	msg.pending.Add(1)
	msg.pt.jobs.Add(1)
	p.stats.inFlight.Add(1)
	go func() {
		defer func() {
			p.stats.inFlight.Add(-1)
			<-p.sem
			msg.pt.jobs.Done()
		}()
		job()
	}()
	return true
}

func (p *Pipeline) dispatchDeadLetter(fetchCtx, jobCtx context.Context, msg *message, d DeadLetter) bool {
	return p.dispatch(fetchCtx, msg, func() { p.deadLetter(jobCtx, msg, d) })
}

// deliver sends o until it is delivered, skipped, or rejected for good
// (then dead-lettered). Any other outcome holds fetching and tries again;
// an outage never dead-letters. The message stays un-done if ctx ends first.
func (p *Pipeline) deliver(ctx context.Context, msg *message, src source, o mapping.Order) {
	orderSpan := trace.SpanFromContext(ctx)
	ctx, span := p.tracer().Start(ctx, "deliver")
	defer span.End()
	backoff := p.cfg.RedoBackoff
	release := func() {}
	defer func() { release() }()
	for {
		err := p.sink.Send(ctx, o)
		switch failure.KindOf(err) {
		case failure.KindDelivered:
			p.stats.delivered.Add(1)
			orderSpan.SetAttributes(attrOutcome.String("delivered"))
			msg.finish()
			return
		case failure.KindAlreadySent:
			p.stats.skipped.Add(1)
			orderSpan.SetAttributes(attrOutcome.String("skipped"))
			msg.finish()
			return
		case failure.KindPermanent:
			release()
			var perm *failure.Permanent
			errors.As(err, &perm)
			orderSpan.SetAttributes(attrOutcome.String(ReasonRejected), attrStatus.Int(perm.Status))
			span.SetStatus(codes.Error, "rejected")
			d := src.deadLetter(ReasonRejected, nil)
			d.Status, d.Body, d.OrderID, d.MessageID, d.Attempts = perm.Status, perm.Body, o.OrderID, o.Source.MessageID, 1
			if perm.Reason != "" {
				d.Problems = []mapping.Problem{{Reason: perm.Reason}}
			}
			p.deadLetter(ctx, msg, d)
			return
		case failure.KindUnauthorized:
			// The order stays un-done and is redone after a restart with good keys.
			span.SetStatus(codes.Error, "unauthorized")
			p.gate.closeFinal(causeUnauthorized)
			p.log.ErrorContext(ctx, "refersion refused the keys; consuming stops until the keys are fixed and the relay restarted", "error", err)
			return
		case failure.KindCanceled:
			return
		}
		if ctx.Err() != nil {
			return
		}
		p.stats.redone.Add(1)
		release()
		if !errors.Is(err, sink.ErrClaimHeld) {
			// Another sender holding this one order_id is no reason to
			// hold the others: only real delivery failures pause fetching.
			release = p.gate.hold(causeDestination)
		}
		if sleep(ctx, backoff) != nil {
			return
		}
		backoff = min(2*backoff, p.cfg.RedoBackoffMax)
	}
}

// deadLetter writes d until the dead-letter topic acknowledges it, then the
// event is done. A failed write is counted and retried, never dropped.
func (p *Pipeline) deadLetter(ctx context.Context, msg *message, d DeadLetter) {
	ctx, span := p.tracer().Start(ctx, "dead-letter", trace.WithAttributes(attribute.String("refersion.reason", d.Reason)))
	defer span.End()
	backoff := p.cfg.RedoBackoff
	release := func() {}
	defer func() { release() }()
	for {
		err := p.dlq.Write(ctx, d)
		if err == nil {
			p.stats.deadLettered[reasonIndex(d.Reason)].Add(1)
			msg.finish()
			return
		}
		if ctx.Err() != nil {
			return
		}
		p.stats.deadLetterFailures.Add(1)
		p.log.WarnContext(ctx, "dead-letter write failed; will retry", "reason", d.Reason, "error", err)
		release()
		release = p.gate.hold(causeDeadLetters)
		if sleep(ctx, backoff) != nil {
			return
		}
		backoff = min(2*backoff, p.cfg.RedoBackoffMax)
	}
}
