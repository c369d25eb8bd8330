package mapstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/mapstream"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/storefront"
)

func newProc(t *testing.T, o processor.Options) *processor.Processor {
	t.Helper()
	p, err := processor.New(mapping.MustNew(mapping.Options{}), memory.NewIdentities(memory.Options{}), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// reference maps in the plainest way, one line after the other with
// Processor.Process, and returns the JSON of the orders and how many events
// each outcome kind had.
func reference(t *testing.T, in []byte) (orders []string, kinds map[processor.Kind]int) {
	t.Helper()
	proc := newProc(t, processor.Options{})
	kinds = map[processor.Kind]int{}
	for _, line := range bytes.Split(in, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		err := proc.Process(context.Background(), line, func(o processor.Outcome) bool {
			kinds[o.Kind]++
			if o.Kind == processor.Order {
				b, err := json.Marshal(o.Order)
				if err != nil {
					t.Fatal(err)
				}
				orders = append(orders, string(b))
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return orders, kinds
}

// The generated stream spans several of the reader's batches: every order
// comes out as the plain line-by-line driver maps it (enriched by the
// identities applied before it), in order, and every event is counted.
func TestRunMatchesTheLineByLineDriver(t *testing.T) {
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Batch = 20000, 3, 0.1
	var in bytes.Buffer
	if _, err := storefront.Generate(&in, o); err != nil {
		t.Fatal(err)
	}
	wantOrders, kinds := reference(t, in.Bytes())
	var out bytes.Buffer
	sum, err := mapstream.Run(context.Background(), bytes.NewReader(in.Bytes()), &out, newProc(t, processor.Options{}), 0)
	if err != nil {
		t.Fatal(err)
	}
	var gotOrders []string
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var l map[string]json.RawMessage
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		if o, ok := l["order"]; ok {
			gotOrders = append(gotOrders, string(o))
		}
	}
	if len(gotOrders) != len(wantOrders) {
		t.Fatalf("%d orders, want %d", len(gotOrders), len(wantOrders))
	}
	for i := range wantOrders {
		if gotOrders[i] != wantOrders[i] {
			t.Fatalf("order %d:\n got %s\nwant %s", i, gotOrders[i], wantOrders[i])
		}
	}
	dropped := 0
	for _, n := range sum.Dropped {
		dropped += n
	}
	if sum.Orders != kinds[processor.Order] || dropped != kinds[processor.Dropped] || sum.Identify+sum.Alias+sum.Delete != kinds[processor.IdentityChanged] ||
		sum.Settled() != sum.Events || sum.Lines != bytes.Count(in.Bytes(), []byte("\n")) {
		t.Errorf("summary %+v, want %v by kind and %d lines", sum, kinds, bytes.Count(in.Bytes(), []byte("\n")))
	}
}

const order = `{"type":"track","event":"Order Completed","userId":"u","properties":{"cart_id":"c","order_id":"o-1","currency":"USD","products":[{"sku":"S","price":1}]}}`

// A line longer than the read buffer (1 MiB) is put together; one over the
// size limit is one malformed event, named by its line number.
func TestLongLinesAreReadWholeAndOversizedOnesAreMalformed(t *testing.T) {
	long := `{"type":"page","properties":{"pad":"` + strings.Repeat("x", 1500<<10) + `"}}`
	in := strings.Join([]string{`{"type":"page"}`, long, order, long + "  ", order}, "\n")

	var out bytes.Buffer
	sum, err := mapstream.Run(context.Background(), strings.NewReader(in), &out, newProc(t, processor.Options{MaxMessageBytes: 2 << 20}), 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 5 || sum.Dropped["page"] != 3 || sum.Orders != 2 || sum.Malformed != 0 {
		t.Errorf("under the limit: %+v, want 5 lines, 3 pages, 2 orders", sum)
	}

	out.Reset()
	sum, err = mapstream.Run(context.Background(), strings.NewReader(in), &out, newProc(t, processor.Options{}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 5 || sum.Dropped["page"] != 1 || sum.Orders != 2 || sum.Malformed != 2 {
		t.Errorf("over the limit: %+v, want 5 lines, 1 page, 2 orders, 2 malformed", sum)
	}
	var lines []int
	for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var v struct {
			Invalid *mapstream.InvalidLine `json:"invalid"`
		}
		if err := json.Unmarshal(l, &v); err != nil {
			t.Fatal(err)
		}
		if v.Invalid != nil {
			lines = append(lines, v.Invalid.Line)
		}
	}
	if len(lines) != 2 || lines[0] != 2 || lines[1] != 4 {
		t.Errorf("malformed lines %v, want [2 4]", lines)
	}
}

// failingReader gives its data, then fails.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestAReadErrorEndsTheRunAfterTheLinesBeforeIt(t *testing.T) {
	boom := errors.New("disk on fire")
	in := &failingReader{data: []byte(order + "\n" + order + "\n"), err: boom}
	var out bytes.Buffer
	sum, err := mapstream.Run(context.Background(), in, &out, newProc(t, processor.Options{}), 0)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "reading input") {
		t.Fatalf("error %v, want reading input: %v", err, boom)
	}
	if sum.Lines != 2 || sum.Orders != 2 || bytes.Count(out.Bytes(), []byte("\n")) != 0 {
		t.Errorf("%+v, %d bytes written; want both lines mapped, nothing flushed", sum, out.Len())
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestAWriteErrorEndsTheRun(t *testing.T) {
	full := errors.New("no space left")
	// More than the 1 MiB write buffer, so that a write happens mid-run.
	in := strings.Repeat(order+"\n", 10000)
	_, err := mapstream.Run(context.Background(), strings.NewReader(in), failingWriter{full}, newProc(t, processor.Options{}), 0)
	if !errors.Is(err, full) || !strings.Contains(err.Error(), "writing output") {
		t.Fatalf("error %v, want writing output: %v", err, full)
	}
}

func TestACancelledRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := mapstream.Run(ctx, strings.NewReader(strings.Repeat(order+"\n", 100)), io.Discard, newProc(t, processor.Options{}), 0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
