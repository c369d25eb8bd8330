package storefront

import (
	"bufio"
	"io"
	"time"
)

// Generator produces a stream line by line, holding one line in memory.
// It is not safe for concurrent use.
type Generator struct {
	o      Options
	r      rng
	w      jw
	seq    int // events generated so far; numbers messageIds
	counts Counts
	events []Event
	tsBuf  []byte

	curPage       int        // index in pages of the last context.page written
	lastOrders    []orderRef // per store, the last valid order
	lastOrderJSON string     // the order_id of the last order as it was written (JSON)
	itemBuf       []item

	// Stores (Options.Stores ≥ 2): their own random draws, the store of the
	// event being written, the stores of each shared order_id, and counts.
	sr       rng
	curStore int
	owners   map[string][]int
	stores   []StoreCounts

	// Refunds (Options.Refunds): refunds waiting to be written, and what
	// each valid order's lines come to after them, by store name.
	pending []refund
	net     map[string]map[string]map[string]int
}

// New returns a Generator for o, or an error if o is out of range.
// A zero o.Start means DefaultOptions().Start.
func New(o Options) (*Generator, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Start.IsZero() {
		o.Start = DefaultOptions().Start
	}
	o.Start = o.Start.UTC()
	g := &Generator{o: o, r: rng{s: uint64(o.Seed)*0x2545f4914f6cdd1d + 0x1234567},
		sr: rng{s: uint64(o.Seed)*0x9e3779b97f4a7c15 ^ 0x570e5}, lastOrders: make([]orderRef, max(o.Stores, 1))}
	if g.multiStore() {
		g.stores = make([]StoreCounts, o.Stores)
	}
	return g, nil
}

// Next returns the next line, or false once o.N events were generated.
// The Line's Data and Events are overwritten by the following call: copy
// what you keep (a Kafka producer must copy Data before handing it over).
func (g *Generator) Next() (Line, bool) {
	left := g.o.N - g.seq
	if left <= 0 {
		return Line{}, false
	}
	k := 1
	if g.o.Batch > 0 && g.r.chance(g.o.Batch) {
		k = 2 + g.r.intn(4)
		k = min(k, left)
	}
	g.w.b, g.w.comma, g.w.stack = g.w.b[:0], false, g.w.stack[:0]
	g.events = g.events[:0]
	batch := k > 1
	if batch {
		g.w.begin('{')
		g.w.key("batch")
		g.w.begin('[')
	}
	for range k {
		g.event()
	}
	if batch {
		g.w.end(']')
		g.w.key("sentAt")
		g.w.str(string(g.timestamp(g.seq, 1500)))
		g.w.end('}')
		g.counts.Batches++
	}
	g.counts.Lines++
	return Line{Data: g.w.b, Events: g.events, Batch: batch}, true
}

// Counts returns the counts of the lines generated so far.
func (g *Generator) Counts() Counts { return g.counts }

// event appends one event of a kind drawn from the mix.
func (g *Generator) event() {
	o := &g.o
	p := g.r.float()
	var e Event
	switch {
	case len(g.pending) > 0 && g.pending[0].due <= g.seq:
		e = g.refund()
	case p < o.Orders:
		e = g.order(g.r.chance(o.Invalid))
	case p < o.Orders+o.Identifies:
		e = g.identify()
	case p < o.Orders+o.Identifies+pageShare:
		e = g.page()
	case p < o.Orders+o.Identifies+pageShare+o.Aliases:
		e = g.alias()
	default:
		e = g.track()
	}
	g.counts.add(e.Kind)
	g.countStore(e)
	g.events = append(g.events, e)
}

// timestamp formats the time of event seq, plus up to jitterMs of random
// delay (0: none). The result is valid until the next call.
func (g *Generator) timestamp(seq, jitterMs int) []byte {
	d := time.Duration(seq) * 37 * time.Millisecond
	if jitterMs > 0 {
		d += time.Duration(g.r.intn(jitterMs)) * time.Millisecond
	}
	g.tsBuf = g.o.Start.Add(d).AppendFormat(g.tsBuf[:0], time.RFC3339Nano)
	return g.tsBuf
}

// Generate writes o.N events to w as NDJSON and returns their counts.
func Generate(w io.Writer, o Options) (Counts, error) {
	g, err := New(o)
	if err != nil {
		return Counts{}, err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	for {
		l, ok := g.Next()
		if !ok {
			break
		}
		bw.Write(l.Data)
		if err := bw.WriteByte('\n'); err != nil {
			return g.Counts(), err
		}
	}
	return g.Counts(), bw.Flush()
}
