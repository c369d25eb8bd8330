package pipeline

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// Settlement is what became of one order, cancel or dead letter, as
// Config.Journal receives it. It carries no keys and no customer; OrderID,
// Reason and Body may hold personal data, which the receiver masks.
type Settlement struct {
	Time time.Time
	// Outcome is delivered or skipped (orders); cancelled, clamped,
	// nothing_to_cancel, no_conversion or already_done (cancels); a
	// dead-letter reason (invalid, malformed, identity, rejected, panic,
	// undelivered, refund_before_order, amount_only_refund) when
	// DeadLettered; unauthorized or stopped when consuming stopped on it.
	Outcome      string
	DeadLettered bool
	OrderID      string
	Account      string // the order's account, "" with one account
	Status       int    // HTTP status of Refersion's answer, when known
	// Attempts is how many times the pipeline sent it (each send includes
	// the sink's own retries), or the dead-letter record's count; 0 when
	// nothing was sent.
	Attempts int
	// Latency runs from the start of the delivery (or of the dead-letter
	// write, for an event never sent) to the settlement.
	Latency   time.Duration
	Body      string // Refersion's answer, as the failure kept it (at most 512 bytes)
	Reason    string // the first problem, or why consuming stopped
	TraceID   string // the order's trace, when traces are on
	Partition int
	Offset    int64
}

// Journal receives every settlement, synchronously on the settling
// goroutine: it must be quick and safe for concurrent use.
type Journal interface {
	Settled(Settlement)
}

// settleStartKey carries when a delivery started to the dead-letter write
// that settles it.
type settleStartKey struct{}

func withSettleStart(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, settleStartKey{}, t)
}

// settled hands s to the journal, if any, with its time, latency and trace
// id filled in. start is used when ctx carries no delivery start.
func (p *Pipeline) settled(ctx context.Context, start time.Time, s Settlement) {
	if p.cfg.Journal == nil {
		return
	}
	if t, ok := ctx.Value(settleStartKey{}).(time.Time); ok {
		start = t
	}
	s.Time = time.Now()
	s.Latency = s.Time.Sub(start)
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		s.TraceID = sc.TraceID().String()
	}
	p.cfg.Journal.Settled(s)
}

// firstProblem is the first problem as one line, "field: reason", or "".
func firstProblem(ps []mapping.Problem) string {
	if len(ps) == 0 {
		return ""
	}
	if ps[0].Field == "" {
		return ps[0].Reason
	}
	return ps[0].Field + ": " + ps[0].Reason
}
