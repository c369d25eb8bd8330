// Package mapstream is the map command's driver of the event processor: it
// reads NDJSON events, one message per line, and writes what the relay would
// do with each, without Kafka or Refersion:
//
//	{"order": {...}}    the payload that would be POSTed
//	{"cancel": {...}}   a refund's or cancellation's request to the REST API,
//	                    planned against the orders mapped before it
//	{"invalid": {...}}  an event that would be dead-lettered: line, reason, problems
//
// Dropped events and identity changes write nothing; they are counted in the
// Summary. Identity changes go to the identity store given, so later orders
// are enriched as the relay would enrich them.
package mapstream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
)

// Summary counts what map saw, by outcome. Every event ends in exactly one of
// Orders, Identify, Alias, Delete, Dropped, Invalid, IdentityInvalid,
// Malformed or Failed; Events is their sum.
type Summary struct {
	Lines           int            `json:"lines"`
	Events          int            `json:"events"`
	Orders          int            `json:"orders"`
	Invalid         int            `json:"invalid"` // invalid orders
	Identify        int            `json:"identify"`
	Alias           int            `json:"alias"`
	Delete          int            `json:"delete"`
	IdentityInvalid int            `json:"identity_invalid"` // identify, alias or delete naming nobody
	Malformed       int            `json:"malformed"`
	Failed          int            `json:"failed"` // the relay panicked on the event
	Dropped         map[string]int `json:"dropped"`
	// Click capture: clicks kept (among Dropped), rfsn values unusable,
	// orders credited to a click, and orders whose last click was too old.
	Clicks          int `json:"clicks,omitempty"`
	ClicksMalformed int `json:"clicks_malformed,omitempty"`
	Credited        int `json:"credited_by_click,omitempty"`
	OutsideWindow   int `json:"clicks_outside_window,omitempty"`
	// Refunds and cancellations (among Events): written as cancel lines,
	// with nothing left to cancel, or dead-lettered (among Invalid).
	Cancels         int `json:"cancels,omitempty"`
	NothingToCancel int `json:"nothing_to_cancel,omitempty"`
	Clamped         int `json:"cancels_clamped,omitempty"`
}

// Settled is the number of events with an outcome; it equals Events.
func (s Summary) Settled() int {
	n := s.Orders + s.Invalid + s.Identify + s.Alias + s.Delete + s.IdentityInvalid + s.Malformed + s.Failed + s.Cancels + s.NothingToCancel
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// InvalidLine is the "invalid" object map writes.
type InvalidLine struct {
	Line      int               `json:"line"`
	Reason    string            `json:"reason"`
	MessageID string            `json:"message_id,omitempty"`
	OrderID   string            `json:"order_id,omitempty"`
	Problems  []mapping.Problem `json:"problems"`
}

// Run maps r to w, one output line per order or dead-letter outcome, in input
// order. It fails only when reading or writing fails, the identity store
// fails, or ctx ends.
func Run(ctx context.Context, r io.Reader, w io.Writer, proc *processor.Processor, maxLine int) (Summary, error) {
	if maxLine <= 0 {
		maxLine = processor.MaxMessageBytes
	}
	sum := Summary{Dropped: map[string]int{}}
	led := ledger{memory.NewLedger(memory.Options{})}
	br := bufio.NewReaderSize(r, 1<<20)
	bw := bufio.NewWriterSize(w, 1<<20)
	var werr error
	emit := func(key string, v any) {
		if werr != nil {
			return
		}
		b, err := json.Marshal(map[string]any{key: v})
		if err == nil {
			b = append(b, '\n')
			_, err = bw.Write(b)
		}
		werr = err
	}
	for werr == nil {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		line, size, err := readLine(br, maxLine)
		if size > 0 {
			sum.Lines++
			if perr := mapLine(ctx, proc, led, line, size, sum.Lines, &sum, emit); perr != nil {
				return sum, perr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, fmt.Errorf("reading input: %w", err)
		}
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if werr != nil {
		return sum, fmt.Errorf("writing output: %w", werr)
	}
	return sum, nil
}

// mapLine settles the events of one line (one message) of size bytes, of
// which line holds at most the first maxLine.
func mapLine(ctx context.Context, proc *processor.Processor, led ledger, line []byte, size, n int, sum *Summary, emit func(string, any)) error {
	var lerr error // the ledger failed (a memory one does only when ctx ends)
	settle := func(out processor.Outcome) bool {
		sum.Events++
		switch out.Kind {
		case processor.Dropped:
			sum.Dropped[out.Drop.String()]++
			switch out.Click {
			case mapping.ClickFound:
				sum.Clicks++
			case mapping.ClickMalformed:
				sum.ClicksMalformed++
			}
			return true
		case processor.IdentityChanged:
			switch out.Identity {
			case mapping.KindIdentify:
				sum.Identify++
			case mapping.KindAlias:
				sum.Alias++
			case mapping.KindDelete:
				sum.Delete++
			}
			return true
		case processor.Cancel:
			plan, reason, err := led.plan(ctx, out.Cancel)
			if err != nil {
				lerr = err
				return false
			}
			switch {
			case reason != "":
				sum.Invalid++
				emit("invalid", InvalidLine{Line: n, Reason: reason, MessageID: out.MessageID, OrderID: out.OrderID,
					Problems: []mapping.Problem{{Reason: reasonText[reason]}}})
			case plan.Empty():
				sum.NothingToCancel++
			default:
				sum.Cancels++
				if plan.Clamped > 0 {
					sum.Clamped++
				}
				emit("cancel", plan.Request)
			}
			return true
		case processor.Order:
			if lerr = led.L.RecordDelivery(ctx, out.OrderID, mapping.LinesOf(out.Order)); lerr != nil {
				return false
			}
			sum.Orders++
			switch out.Credit {
			case mapping.Credited:
				sum.Credited++
			case mapping.OutsideWindow:
				sum.OutsideWindow++
			}
			emit("order", out.Order)
			return true
		case processor.Invalid:
			if out.Reason == "identity" {
				sum.IdentityInvalid++
			} else {
				sum.Invalid++
			}
		case processor.Malformed:
			sum.Malformed++
		case processor.Failed:
			sum.Failed++
		}
		emit("invalid", InvalidLine{Line: n, Reason: out.Reason, MessageID: out.MessageID, OrderID: out.OrderID, Problems: out.Problems})
		return true
	}
	if size > len(line) { // over the limit: one malformed event, as the relay would see it
		out, err := proc.Handle(ctx, proc.Oversized(size, line))
		if err == nil {
			settle(out)
		}
		return err
	}
	return errors.Join(proc.Process(ctx, line, settle), lerr)
}

// readLine returns the next line without its end of line and its size in
// bytes. A line over maxLine is consumed whole but only its first maxLine
// bytes are returned (size says how long it was).
func readLine(br *bufio.Reader, maxLine int) (line []byte, size int, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if !full {
			chunk = trimEOL(chunk)
		}
		size += len(chunk)
		if keep := maxLine - len(line); keep > 0 {
			line = append(line, chunk[:min(keep, len(chunk))]...)
		}
		if full {
			continue
		}
		if size <= maxLine {
			line = trimEOL(line)
			size = len(line)
		}
		return line, size, err
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// ledger is map's order ledger: the relay's own (a memory one), fed the
// orders mapped so far, so that a cancel line is the request the relay would
// send at that point of the stream.
type ledger struct{ L *memory.Ledger }

var reasonText = map[string]string{
	deadletter.ReasonRefundBeforeOrder: "no order with this order_id was mapped before the refund",
	deadletter.ReasonAmountOnly:        "a refund of an amount less than the order's items, naming no items, cannot be said per item",
}

// plan is the cancel request for c, or the dead-letter reason it gets, as
// sink.Canceller plans it: a cancel id done before cancels nothing.
func (l ledger) plan(ctx context.Context, c mapping.Cancel) (mapping.Plan, string, error) {
	claim, err := l.L.ClaimCancel(ctx, c.OrderID, c.ID, time.Minute)
	if err != nil || claim.Status == store.AlreadySent {
		return mapping.Plan{}, "", err
	}
	e, found, err := l.L.Entry(ctx, c.OrderID)
	if err != nil || !found {
		return mapping.Plan{}, deadletter.ReasonRefundBeforeOrder, errors.Join(err, l.L.ReleaseCancel(ctx, claim))
	}
	p := mapping.PlanCancel(c, e.Lines, e.Cancelled)
	if p.AmountOnly {
		return p, deadletter.ReasonAmountOnly, l.L.ReleaseCancel(ctx, claim)
	}
	return p, "", l.L.ConfirmCancel(ctx, claim, p.Request.Items)
}
