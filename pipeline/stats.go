package pipeline

import (
	"sync/atomic"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sink"
)

// stats are the pipeline's counters. Every field is updated atomically;
// Snapshot reads them for metrics, readiness and summaries.
type stats struct {
	messages, events                   atomic.Int64
	orders, delivered, skipped         atomic.Int64
	identify, alias, delete            atomic.Int64
	dropped                            [8]atomic.Int64                      // by mapping.DropReason
	deadLettered                       [len(deadLetterReasons)]atomic.Int64 // by reasonIndex
	cancels                            [5]atomic.Int64                      // by cancelIndex
	orderPanics                        atomic.Int64
	clicks, clicksMalformed            atomic.Int64
	cancelEvents                       atomic.Int64
	credited, clicksOutsideWindow      atomic.Int64
	redone                             atomic.Int64
	commitFailures, deadLetterFailures atomic.Int64
	fetchErrors, identityErrors        atomic.Int64
	inFlight                           atomic.Int64
}

var deadLetterReasons = [...]string{deadletter.ReasonInvalid, deadletter.ReasonMalformed, deadletter.ReasonIdentity,
	deadletter.ReasonRejected, deadletter.ReasonPanic, deadletter.ReasonUndelivered,
	deadletter.ReasonRefundBeforeOrder, deadletter.ReasonAmountOnly, deadletter.ReasonNoAccount, deadletter.ReasonConflict}

var cancelOutcomes = [...]sink.CancelOutcome{sink.Cancelled, sink.Clamped, sink.NothingToCancel, sink.NoConversion, sink.AlreadyDone}

func cancelIndex(o sink.CancelOutcome) int {
	for i, v := range cancelOutcomes {
		if v == o {
			return i
		}
	}
	return 0
}

func reasonIndex(r string) int {
	for i, v := range deadLetterReasons {
		if v == r {
			return i
		}
	}
	return 0
}

// Snapshot is a consistent-enough copy of the counters (each is exact; they
// are not read at one instant).
type Snapshot struct {
	Messages     int64            `json:"messages"`
	Events       int64            `json:"events"`
	Orders       int64            `json:"orders"`    // order events seen
	Delivered    int64            `json:"delivered"` // accepted by Refersion
	Skipped      int64            `json:"skipped"`   // already sent before
	DeadLettered map[string]int64 `json:"dead_lettered"`
	Dropped      map[string]int64 `json:"dropped"`
	Identify     int64            `json:"identify"`
	Alias        int64            `json:"alias"`
	Delete       int64            `json:"delete"`
	// OrderPanics counts order events whose handling panicked; they are
	// among DeadLettered["panic"], with any other events that panicked.
	OrderPanics int64 `json:"order_panics"`
	// Click capture: clicks kept, rfsn values that were unusable, orders
	// credited to a captured click, and orders whose person's last click
	// was outside the attribution window.
	Clicks              int64 `json:"clicks"`
	ClicksMalformed     int64 `json:"clicks_malformed"`
	Credited            int64 `json:"credited_by_click"`
	ClicksOutsideWindow int64 `json:"clicks_outside_window"`
	// Cancels counts refunds and cancellations settled without a dead
	// letter, by outcome (cancelled, clamped, nothing_to_cancel,
	// no_conversion, already_done).
	Cancels map[string]int64 `json:"cancels"`
	// CancelEvents counts refund and cancellation events seen.
	CancelEvents int64 `json:"cancel_events"`
	// Redone counts orders that had to wait for the destination and were
	// tried again (outage, breaker open, retries exhausted).
	Redone             int64 `json:"redone"`
	CommitFailures     int64 `json:"commit_failures"`
	DeadLetterFailures int64 `json:"dead_letter_failures"`
	FetchErrors        int64 `json:"fetch_errors"`
	IdentityErrors     int64 `json:"identity_errors"`
	InFlight           int64 `json:"in_flight"`
}

func (s *stats) snapshot() Snapshot {
	out := Snapshot{
		Messages: s.messages.Load(), Events: s.events.Load(), Orders: s.orders.Load(),
		Delivered: s.delivered.Load(), Skipped: s.skipped.Load(),
		Identify: s.identify.Load(), Alias: s.alias.Load(), Delete: s.delete.Load(), OrderPanics: s.orderPanics.Load(), CancelEvents: s.cancelEvents.Load(),
		Clicks: s.clicks.Load(), ClicksMalformed: s.clicksMalformed.Load(), Credited: s.credited.Load(), ClicksOutsideWindow: s.clicksOutsideWindow.Load(),
		Redone: s.redone.Load(), CommitFailures: s.commitFailures.Load(),
		DeadLetterFailures: s.deadLetterFailures.Load(), FetchErrors: s.fetchErrors.Load(),
		IdentityErrors: s.identityErrors.Load(), InFlight: s.inFlight.Load(),
		DeadLettered: map[string]int64{}, Dropped: map[string]int64{}, Cancels: map[string]int64{},
	}
	for i, r := range deadLetterReasons {
		out.DeadLettered[r] = s.deadLettered[i].Load()
	}
	for i, o := range cancelOutcomes {
		out.Cancels[string(o)] = s.cancels[i].Load()
	}
	for _, r := range mapping.DropReasons {
		out.Dropped[r.String()] = s.dropped[r].Load()
	}
	return out
}

// DeadLetteredTotal sums DeadLettered.
func (s Snapshot) DeadLetteredTotal() int64 {
	var n int64
	for _, v := range s.DeadLettered {
		n += v
	}
	return n
}

// DroppedTotal sums Dropped.
func (s Snapshot) DroppedTotal() int64 {
	var n int64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// Settled is how many events have an outcome: dropped, identity changes
// applied, orders delivered or skipped as sent, cancels settled, and dead
// letters written.
// Once the pipeline has drained, Settled equals Events: no event is lost
// (the accounting invariant, tested on every stream).
func (s Snapshot) Settled() int64 {
	n := s.DroppedTotal() + s.Identify + s.Alias + s.Delete + s.Delivered + s.Skipped + s.DeadLetteredTotal()
	for _, v := range s.Cancels {
		n += v
	}
	return n
}
