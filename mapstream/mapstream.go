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
//
// Reading and classifying run a batch of lines ahead of handling, on another
// goroutine: classifying an event needs no state, so it can overlap the
// handling of the lines before it, which happens in order as before. Run
// returns once that goroutine is done with r.
func Run(ctx context.Context, r io.Reader, w io.Writer, proc *processor.Processor, maxLine int) (Summary, error) {
	if maxLine <= 0 {
		maxLine = processor.MaxMessageBytes
	}
	m := &mapper{ctx: ctx, proc: proc, led: ledger{memory.NewLedger(memory.Options{})}, sum: Summary{Dropped: map[string]int{}},
		bw: bufio.NewWriterSize(w, 1<<20)}
	m.each = m.event
	readCtx, stop := context.WithCancel(ctx)
	rd := &lineReader{br: bufio.NewReaderSize(r, 1<<20), proc: proc, maxLine: maxLine,
		batches: make(chan *lineBatch, 1), free: make(chan *lineBatch, 3)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rd.run(readCtx)
	}()
	err := m.consume(rd)
	stop()
	for range rd.batches { // let the reader see stop, wherever it is
	}
	<-done
	m.foldDropped()
	return m.sum, err
}

// consume handles the reader's batches in order until the input ends or
// something fails.
func (m *mapper) consume(rd *lineReader) error {
	stop := m.ctx.Done()
	for b := range rd.batches {
		for i := range b.lines {
			select {
			case <-stop:
				return m.ctx.Err()
			default:
			}
			l := &b.lines[i]
			m.sum.Lines++
			if err := m.mapLine(l, b.events[l.first:l.first+l.events]); err != nil {
				return err
			}
			if m.werr != nil {
				return fmt.Errorf("writing output: %w", m.werr)
			}
		}
		if b.err != nil {
			if errors.Is(b.err, io.EOF) {
				break
			}
			return fmt.Errorf("reading input: %w", b.err)
		}
		b.reset()
		select {
		case rd.free <- b:
		default:
		}
	}
	if err := m.ctx.Err(); err != nil { // the reader stopped for it
		return err
	}
	if m.werr = m.bw.Flush(); m.werr != nil {
		return fmt.Errorf("writing output: %w", m.werr)
	}
	return nil
}

// lineReader reads lines and classifies their events, a batch at a time.
type lineReader struct {
	br      *bufio.Reader
	proc    *processor.Processor
	maxLine int
	batches chan *lineBatch // closed when reading ends
	free    chan *lineBatch
	long    []byte // a line longer than br's buffer, put together
}

// lineBatch is consecutive lines, copied, with their classified events.
type lineBatch struct {
	buf    []byte // the lines' bytes; events point into it
	lines  []lineInfo
	events []processor.Event
	err    error // what reading met after these lines: io.EOF at the end
}

// lineInfo is one line of a batch: events[first:first+events] are its.
type lineInfo struct {
	size          int // its size in bytes, which may exceed maxLine
	first, events int
}

// batchBytes is about how many bytes of lines one batch holds.
const batchBytes = 1 << 20

func (b *lineBatch) reset() {
	b.buf, b.lines, b.err = b.buf[:0], b.lines[:0], nil
	clear(b.events) // drops the references into buf
	b.events = b.events[:0]
}

// run reads until the input ends, reading fails, or ctx is done, and closes
// batches.
func (rd *lineReader) run(ctx context.Context) {
	defer close(rd.batches)
	b := rd.batch()
	for ctx.Err() == nil {
		var line []byte
		var size int
		var err error
		line, size, rd.long, err = readLine(rd.br, rd.maxLine, rd.long)
		if size > 0 {
			if len(b.lines) > 0 && len(line) > cap(b.buf)-len(b.buf) { // b is full: the line starts the next one
				if !rd.send(ctx, b) {
					return
				}
				b = rd.batch()
			}
			rd.add(b, line, size)
		}
		if err != nil {
			b.err = err
			rd.send(ctx, b)
			return
		}
		if len(b.buf) >= batchBytes {
			if !rd.send(ctx, b) {
				return
			}
			b = rd.batch()
		}
	}
}

// batch returns an empty batch, a used one if there is one.
func (rd *lineReader) batch() *lineBatch {
	select {
	case b := <-rd.free:
		return b
	default:
		return &lineBatch{buf: make([]byte, 0, batchBytes)}
	}
}

// add copies line (of size bytes) into b and classifies its events.
func (rd *lineReader) add(b *lineBatch, line []byte, size int) {
	if len(line) > cap(b.buf)-len(b.buf) { // a line longer than a batch: a batch of its own
		b.buf = make([]byte, 0, len(line))
	}
	at := len(b.buf)
	b.buf = append(b.buf, line...)
	line = b.buf[at:len(b.buf):len(b.buf)]
	first := len(b.events)
	if size > len(line) { // over the limit: one malformed event, as the relay would see it
		b.events = append(b.events, rd.proc.Oversized(size, line))
	} else {
		rd.proc.Each(line, func(ev processor.Event) bool {
			b.events = append(b.events, ev)
			return true
		})
	}
	b.lines = append(b.lines, lineInfo{size: size, first: first, events: len(b.events) - first})
}

// send hands b over; false if ctx ended first.
func (rd *lineReader) send(ctx context.Context, b *lineBatch) bool {
	select {
	case rd.batches <- b:
		return true
	case <-ctx.Done():
		return false
	}
}

// mapper is one Run's state: what it counted and wrote so far.
type mapper struct {
	ctx     context.Context
	proc    *processor.Processor
	led     ledger
	sum     Summary
	dropped [256]int // plain drops by mapping.DropReason, folded into sum.Dropped at the end
	bw      *bufio.Writer
	werr    error // the first write error: nothing more is written
	out     []byte
	each    func(processor.Event) bool // m.event, bound once
	line    int                        // the line being mapped
	err     error                      // the identity store or the ledger failed on it
}

// foldDropped adds the plain drops to sum.Dropped.
func (m *mapper) foldDropped() {
	for reason, n := range m.dropped {
		if n > 0 {
			m.sum.Dropped[mapping.DropReason(reason).String()] += n
			m.dropped[reason] = 0
		}
	}
}

// mapLine settles the events of one line, classified by the reader.
func (m *mapper) mapLine(l *lineInfo, events []processor.Event) error {
	m.line, m.err = m.sum.Lines, nil
	for _, ev := range events {
		if !m.each(ev) {
			break
		}
	}
	return m.err
}

// event settles one event: a plain drop (most events) is only counted, as
// the relay's own driver does; the others are handled.
func (m *mapper) event(ev processor.Event) bool {
	if ev.Class.Kind == mapping.KindDropped && !m.proc.Inspects(ev) {
		m.sum.Events++
		m.dropped[ev.Class.Drop]++
		return true
	}
	out, err := m.proc.Handle(m.ctx, ev)
	if err != nil {
		m.err = err
		return false
	}
	return m.settle(out)
}

// settle counts out and writes its line, if it has one.
func (m *mapper) settle(out processor.Outcome) bool {
	sum := &m.sum
	sum.Events++
	switch out.Kind {
	case processor.Dropped:
		m.dropped[out.Drop]++
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
		plan, reason, err := m.led.plan(m.ctx, out.Cancel)
		if err != nil {
			m.err = err
			return false
		}
		switch {
		case reason != "":
			sum.Invalid++
			m.emit("invalid", InvalidLine{Line: m.line, Reason: reason, MessageID: out.MessageID, OrderID: out.OrderID,
				Problems: []mapping.Problem{{Reason: reasonText[reason]}}})
		case plan.Empty():
			sum.NothingToCancel++
		default:
			sum.Cancels++
			if plan.Clamped > 0 {
				sum.Clamped++
			}
			m.emit("cancel", plan.Request)
		}
		return true
	case processor.Order:
		if m.err = m.led.L.RecordDelivery(m.ctx, out.OrderID, mapping.LinesOf(out.Order)); m.err != nil {
			return false
		}
		sum.Orders++
		switch out.Credit {
		case mapping.Credited:
			sum.Credited++
		case mapping.OutsideWindow:
			sum.OutsideWindow++
		}
		m.emit("order", out.Order)
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
	m.emit("invalid", InvalidLine{Line: m.line, Reason: out.Reason, MessageID: out.MessageID, OrderID: out.OrderID, Problems: out.Problems})
	return true
}

// emit writes {"key": v} and a newline, as json.Marshal of that one-key
// object would.
func (m *mapper) emit(key string, v any) {
	if m.werr != nil {
		return
	}
	out := append(append(append(m.out[:0], `{"`...), key...), `":`...)
	var err error
	if o, ok := v.(mapping.Order); ok {
		out, err = o.AppendJSON(out) // json.Marshal's bytes, without reflection
	} else {
		var b []byte
		if b, err = json.Marshal(v); err == nil {
			out = append(out, b...)
		}
	}
	if err == nil {
		m.out = append(out, "}\n"...)
		_, err = m.bw.Write(m.out)
	}
	m.werr = err
}

// readLine returns the next line without its end of line and its size in
// bytes. A line over maxLine is consumed whole but only its first maxLine
// bytes are returned (size says how long it was). The line is br's own
// buffer, valid until the next read, or long's (returned for reuse) when it
// is longer than br's buffer.
func readLine(br *bufio.Reader, maxLine int, long []byte) (line []byte, size int, _ []byte, err error) {
	chunk, err := br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) { // the whole line in the buffer: most lines
		chunk = trimEOL(chunk)
		return chunk[:min(len(chunk), maxLine)], len(chunk), long, err
	}
	line = long[:0]
	for {
		full := errors.Is(err, bufio.ErrBufferFull)
		if !full {
			chunk = trimEOL(chunk)
		}
		size += len(chunk)
		if keep := maxLine - len(line); keep > 0 {
			line = append(line, chunk[:min(keep, len(chunk))]...)
		}
		if !full {
			break
		}
		chunk, err = br.ReadSlice('\n')
	}
	if size <= maxLine {
		line = trimEOL(line)
		size = len(line)
	}
	return line, size, line, err
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
