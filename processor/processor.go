// Package processor is the one place that decides what an event means to the
// relay. It takes the bytes of one message and yields a typed Outcome per
// event in it: dropped, identity changed, order (the payload to deliver),
// invalid, malformed, or failed. run (pipeline), replay and map are drivers of
// it: they fetch bytes and settle outcomes, and never decide what an event
// means themselves.
//
// The processor uses the mapping (pure) and an identity store: identity events
// are applied to the store, and orders are enriched from it. It knows nothing
// of where the bytes came from or where outcomes go.
package processor

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// MaxMessageBytes is the default largest message read as events. A larger one
// is one Malformed event whose bytes are its first OversizedExcerpt bytes, so
// that its dead-letter record fits the topic.
const MaxMessageBytes = 1 << 20

// OversizedExcerpt is how much of an oversized message its outcome keeps.
const OversizedExcerpt = 64 << 10

// Options tune a Processor. Zero fields take the defaults.
type Options struct {
	MaxMessageBytes int // default MaxMessageBytes

	// ClickCapture turns click capture on: affiliate clicks (rfsn) on page
	// and track events are kept per person, and an order without its own
	// auto_credit_affiliate_id is credited to the person's last click made
	// at most AttributionWindow before it (default 30 days), by event
	// timestamps. Off, a page event's URL is never read.
	ClickCapture      bool
	AttributionWindow time.Duration

	// Accounts routes orders and cancels to Refersion accounts (several
	// accounts fed by one stream): the outcome names the account and its
	// order id carries the account's prefix; an event no account takes is
	// Invalid with reason deadletter.ReasonNoAccount. nil: one account,
	// named "".
	Accounts *mapping.Router
}

// DefaultAttributionWindow is Refersion's usual cookie lifetime.
const DefaultAttributionWindow = 30 * 24 * time.Hour

// Processor turns messages into outcomes. Safe for concurrent use if its
// identity store is.
type Processor struct {
	mapper  *mapping.Mapper
	ids     store.Identities
	max     int
	capture bool
	window  time.Duration
	router  atomic.Pointer[mapping.Router]
}

// New returns a processor. Neither argument may be nil.
func New(m *mapping.Mapper, ids store.Identities, o Options) (*Processor, error) {
	if m == nil || ids == nil {
		return nil, errors.New("processor: a mapper and an identity store are required")
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = MaxMessageBytes
	}
	if o.AttributionWindow <= 0 {
		o.AttributionWindow = DefaultAttributionWindow
	}
	p := &Processor{mapper: m, ids: ids, max: o.MaxMessageBytes, capture: o.ClickCapture, window: o.AttributionWindow}
	p.router.Store(o.Accounts)
	return p, nil
}

// SetAccounts replaces the router of Options.Accounts (a reload of the
// accounts file); events handled from now on are routed by r.
func (p *Processor) SetAccounts(r *mapping.Router) { p.router.Store(r) }

// Mapper returns the mapping the processor uses.
func (p *Processor) Mapper() *mapping.Mapper { return p.mapper }

// Event is one event of a message, as Each yields it: its position, its
// bytes, and its class. Handle decides its outcome.
type Event struct {
	Index int
	Bytes []byte
	Class mapping.Class
}

// Each calls fn for every event of msg, in order, until fn returns false.
// Every JSON value of a message is an event (batch envelopes are expanded);
// bytes that are not JSON, an empty message and a message over the size limit
// are one Malformed event each, so that no byte of input goes unaccounted.
// Each allocates nothing for a message of dropped events.
func (p *Processor) Each(msg []byte, fn func(Event) bool) {
	if len(msg) > p.max {
		fn(p.Oversized(len(msg), msg))
		return
	}
	p.mapper.Split(msg, func(index int, ev []byte, c mapping.Class) bool {
		return fn(Event{Index: index, Bytes: ev, Class: c})
	})
}

// Oversized is the one Malformed event of a message of size bytes, over the
// size limit, whose first bytes are head. Each uses it; a driver that does
// not hold a whole oversized message (map reading a long line) may too.
func (p *Processor) Oversized(size int, head []byte) Event {
	head = head[:min(len(head), OversizedExcerpt)]
	return Event{Bytes: head, Class: mapping.Class{Kind: mapping.KindMalformed, Problem: fmt.Sprintf(
		"message of %d bytes is over the %d-byte limit (Segment allows 32 KB per event, 500 KB per batch); the record keeps its first %d bytes",
		size, p.max, len(head))}}
}

// MaxMessageBytes returns the size limit of a message.
func (p *Processor) MaxMessageBytes() int { return p.max }

// Process is Each followed by Handle for every event: it calls fn with each
// outcome, in order. It stops at the first error of Handle (the identity
// store failed, or ctx ended) and returns it, or when fn returns false.
// Drivers that redo a failed event (run) use Each and Handle themselves.
func (p *Processor) Process(ctx context.Context, msg []byte, fn func(Outcome) bool) error {
	var err error
	p.Each(msg, func(ev Event) bool {
		var out Outcome
		if out, err = p.Handle(ctx, ev); err != nil {
			return false
		}
		return fn(out)
	})
	return err
}

// Handle decides the outcome of one event: it maps orders and enriches them,
// and applies identity events to the identity store.
//
// It returns an error only when the identity store failed (a
// *failure.StoreUnavailable) or ctx ended; the event is then undecided and may
// be handled again (applying an identity change twice is harmless). A panic
// while handling the event is recovered: the outcome is Failed, so that one
// bad event cannot stop the stream.
func (p *Processor) Handle(ctx context.Context, ev Event) (out Outcome, err error) {
	out = Outcome{Index: ev.Index, Event: ev.Bytes}
	switch ev.Class.Kind {
	case mapping.KindDropped: // most events: nothing to decode
		out.Kind, out.Drop = Dropped, ev.Class.Drop
		if p.Inspects(ev) {
			return p.click(ctx, out, ev)
		}
		return out, nil
	case mapping.KindMalformed:
		out.Kind, out.Reason = Malformed, deadletter.ReasonMalformed
		out.Problems = []mapping.Problem{{Reason: ev.Class.Problem}}
		return out, nil
	}
	defer func() {
		if v := recover(); v != nil {
			out = Outcome{Index: ev.Index, Event: ev.Bytes, Kind: Failed, Reason: deadletter.ReasonPanic,
				Problems: []mapping.Problem{{Reason: fmt.Sprintf("the relay failed on this event: %v", v)}}}
			out.Problems = append(out.Problems, mapping.Problem{Field: "stack", Reason: firstFrames(debug.Stack())})
			err = nil
		}
	}()
	switch ev.Class.Kind {
	case mapping.KindOrder, mapping.KindRefund, mapping.KindCancel:
		var prefix string
		if r := p.router.Load(); r != nil {
			a, value, ok := r.Route(ev.Bytes)
			if !ok {
				return p.noAccount(r, out, ev, value), nil
			}
			out.Account, prefix = a.Name, a.OrderPrefix
		}
		if ev.Class.Kind == mapping.KindOrder {
			return p.order(ctx, out, ev, prefix)
		}
		return p.cancel(out, ev, prefix), nil
	}
	return p.identity(ctx, out, ev)
}

// noAccount is the outcome of an order or cancel event that no account
// takes.
func (p *Processor) noAccount(r *mapping.Router, out Outcome, ev Event, value string) Outcome {
	out.Kind, out.Reason = Invalid, deadletter.ReasonNoAccount
	out.Problems = []mapping.Problem{r.NoAccountProblem(value)}
	if ev.Class.Kind == mapping.KindOrder {
		o, err := p.mapper.Map(ev.Bytes)
		out.OrderID, out.MessageID = o.OrderID, o.Source.MessageID
		var invalid *mapping.InvalidError
		if errors.As(err, &invalid) {
			out.OrderID, out.MessageID = invalid.OrderID, invalid.MessageID
		}
	}
	return out
}

func (p *Processor) order(ctx context.Context, out Outcome, ev Event, prefix string) (Outcome, error) {
	tr := trace.SpanFromContext(ctx).TracerProvider().Tracer(tracerName)
	_, span := tr.Start(ctx, "map")
	o, err := p.mapper.Map(ev.Bytes)
	span.End()
	var invalid *mapping.InvalidError
	if errors.As(err, &invalid) {
		out.Kind, out.Reason, out.Problems = Invalid, deadletter.ReasonInvalid, invalid.Problems
		out.OrderID, out.MessageID = prefixed(prefix, invalid.OrderID), invalid.MessageID
		return out, nil
	}
	if err != nil { // Map reports only InvalidError; anything else is a defect
		panic(err)
	}
	o.OrderID, o.Source.Account = prefix+o.OrderID, out.Account
	enrichCtx, span := tr.Start(ctx, "enrich")
	if p.capture {
		out.Credit, err = mapping.EnrichClick(enrichCtx, &o, p.ids, p.window)
	} else {
		err = mapping.Enrich(enrichCtx, &o, p.ids)
	}
	span.End()
	if err != nil {
		return out, storeError(ctx, err)
	}
	out.Kind, out.Order, out.OrderID, out.MessageID = Order, o, o.OrderID, o.Source.MessageID
	return out, nil
}

func (p *Processor) identity(ctx context.Context, out Outcome, ev Event) (Outcome, error) {
	u, err := mapping.ParseIdentity(ev.Bytes, ev.Class.Kind)
	var invalid *mapping.InvalidError
	if errors.As(err, &invalid) {
		out.Kind, out.Reason, out.Problems, out.MessageID = Invalid, deadletter.ReasonIdentity, invalid.Problems, invalid.MessageID
		return out, nil
	}
	if err := mapping.Apply(ctx, p.ids, u); err != nil {
		return out, storeError(ctx, err)
	}
	out.Kind, out.Identity = IdentityChanged, ev.Class.Kind
	return out, nil
}

// cancel reads a refund or cancellation.
func (p *Processor) cancel(out Outcome, ev Event, prefix string) Outcome {
	c, err := p.mapper.MapCancel(ev.Bytes, ev.Class.Kind)
	var invalid *mapping.InvalidError
	if errors.As(err, &invalid) {
		out.Kind, out.Reason, out.Problems = Invalid, deadletter.ReasonInvalid, invalid.Problems
		out.OrderID, out.MessageID = prefixed(prefix, invalid.OrderID), invalid.MessageID
		return out
	}
	c.OrderID, c.Source.Account = prefix+c.OrderID, out.Account
	out.Kind, out.Cancel, out.OrderID, out.MessageID = Cancel, c, c.OrderID, c.Source.MessageID
	return out
}

// Inspects reports whether Handle has anything to do for a dropped event:
// with click capture on, a page or track event that may carry a click.
// Otherwise a driver may settle the drop without calling Handle. It
// allocates nothing.
func (p *Processor) Inspects(ev Event) bool {
	return p.capture && ev.Class.Kind == mapping.KindDropped &&
		(ev.Class.Drop == mapping.DropPage || ev.Class.Drop == mapping.DropTrack) && mapping.MayHaveClick(ev.Bytes)
}

// click keeps the affiliate click of a dropped page or track event for the
// event's person.
func (p *Processor) click(ctx context.Context, out Outcome, ev Event) (Outcome, error) {
	c, userID, anonymousID, st := mapping.ParseClick(ev.Bytes)
	out.Click = st
	if st != mapping.ClickFound {
		return out, nil
	}
	// Kept as an identify keeps traits: under the userId when there is one,
	// with the anonymousId linked to it (so a delete of either erases it).
	id := userID
	if id == "" {
		id = anonymousID
	}
	if err := p.ids.Merge(ctx, id, mapping.Traits{Click: c}); err != nil {
		return out, storeError(ctx, err)
	}
	if userID != "" && anonymousID != "" && anonymousID != userID {
		if err := p.ids.Link(ctx, anonymousID, userID); err != nil {
			return out, storeError(ctx, err)
		}
	}
	return out, nil
}

// storeError returns ctx's error when ctx ended, and otherwise err as a
// *failure.StoreUnavailable naming the identity store (unless it is one).
func storeError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var su *failure.StoreUnavailable
	if errors.As(err, &su) {
		return err
	}
	return &failure.StoreUnavailable{Store: "identity store", Err: err}
}

// prefixed is id with an account's order-id prefix, or "" when id is.
func prefixed(prefix, id string) string {
	if id == "" {
		return ""
	}
	return prefix + id
}

const tracerName = "github.com/refersion-relay/refersion-relay/processor"

// firstFrames keeps the start of a stack trace, enough to find the defect.
func firstFrames(stack []byte) string {
	const max = 2048
	if len(stack) > max {
		stack = stack[:max]
	}
	return string(stack)
}
