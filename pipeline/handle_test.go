package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/internal/syncbuf"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
)

// These tests drive the handler — the seam between consuming and deciding
// events — with hand-written fakes: no broker, no HTTP.

type sinkFunc func(context.Context, mapping.Order) error

func (f sinkFunc) Send(ctx context.Context, o mapping.Order) error { return f(ctx, o) }

type dlqRecorder struct {
	mu   sync.Mutex
	recs []deadletter.Record
}

func (d *dlqRecorder) Write(_ context.Context, r deadletter.Record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recs = append(d.recs, r)
	return nil
}

func (d *dlqRecorder) reasons() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int{}
	for _, r := range d.recs {
		out[r.Reason]++
	}
	return out
}

func newTestPipeline(t *testing.T, s Sink, ids store.Identities, dlq deadletter.Writer) *Pipeline {
	t.Helper()
	p, err := New(Config{Brokers: []string{"unused:9092"}, Topic: "events", RedoBackoff: time.Millisecond, RedoBackoffMax: 2 * time.Millisecond},
		mapping.MustNew(mapping.Options{}), s, ids, dlq)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// feed hands msgs to the handler as one partition's messages from offset 0
// and waits until their work is finished; it returns the partition.
func feed(t *testing.T, p *Pipeline, msgs ...string) *partition {
	t.Helper()
	pt := &partition{topic: "events", tr: newTracker(), kick: make(chan struct{}, 1), committed: -1}
	ctx := context.Background()
	for i, m := range msgs {
		pt.tr.add(int64(i))
		if !p.handle(ctx, ctx, pt, kafka.Message{Topic: "events", Offset: int64(i), Value: []byte(m)}) {
			t.Fatalf("message %d not dispatched", i)
		}
	}
	pt.jobs.Wait()
	return pt
}

const testOrder = `{"type":"track","event":"Order Completed","userId":"u","properties":{"cart_id":"c","order_id":"o-1","currency":"USD","products":[{"sku":"S","price":1}]}}`

func TestEveryEventOfAMessageIsSettledAndCounted(t *testing.T) {
	var sent []string
	var mu sync.Mutex
	s := sinkFunc(func(_ context.Context, o mapping.Order) error {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, o.OrderID)
		return nil
	})
	dlq := &dlqRecorder{}
	p := newTestPipeline(t, s, memory.NewIdentities(memory.Options{}), dlq)
	var logs syncbuf.Buffer
	p.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pt := feed(t, p,
		`{"type":"page"}{"type":"identify","userId":"u","traits":{"email":"e@example.com"}}`+"\n"+testOrder+` junk`,
		`{"type":"identify"}`,
		``,
	)
	if pos := pt.tr.position(); pos != 3 {
		t.Errorf("commit position %d, want 3: every message done", pos)
	}
	st := p.Stats()
	if st.Events != 6 || st.Settled() != st.Events {
		t.Errorf("events %d, settled %d, want 6 and 6: %+v", st.Events, st.Settled(), st)
	}
	if len(sent) != 1 || st.Delivered != 1 || st.Identify != 1 || st.DroppedTotal() != 1 {
		t.Errorf("sent %v, stats %+v", sent, st)
	}
	want := map[string]int{deadletter.ReasonMalformed: 2, deadletter.ReasonIdentity: 1}
	if got := dlq.reasons(); len(got) != len(want) || got[deadletter.ReasonMalformed] != 2 || got[deadletter.ReasonIdentity] != 1 {
		t.Errorf("dead letters %v, want %v", got, want)
	}
	out := logs.String()
	if strings.Count(out, "msg=dead-lettered") != 3 || strings.Count(out, "msg=\"order delivered\"") != 1 || strings.Contains(out, "e@example.com") {
		t.Errorf("one line per dead letter and per delivered order, no email:\n%s", out)
	}
}

func TestAPanicIsDeadLetteredAndTheStreamGoesOn(t *testing.T) {
	s := sinkFunc(func(context.Context, mapping.Order) error { return nil })
	dlq := &dlqRecorder{}
	p := newTestPipeline(t, s, panickyIdentities{memory.NewIdentities(memory.Options{})}, dlq)
	pt := feed(t, p, testOrder, `{"type":"page"}`)
	if pos := pt.tr.position(); pos != 2 {
		t.Errorf("commit position %d, want 2", pos)
	}
	st := p.Stats()
	if got := dlq.reasons(); got[deadletter.ReasonPanic] != 1 || st.DeadLettered[deadletter.ReasonPanic] != 1 || st.OrderPanics != 1 {
		t.Errorf("dead letters %v, stats %+v; want one panic", got, st)
	}
	if st.Settled() != st.Events {
		t.Errorf("settled %d of %d events", st.Settled(), st.Events)
	}
}

type panickyIdentities struct{ *memory.Identities }

func (panickyIdentities) Lookup(context.Context, string) (mapping.Traits, bool, error) {
	panic("enrichment defect")
}

// flakyIdentities fails until healed, as a state store that is down.
type flakyIdentities struct {
	*memory.Identities
	mu     sync.Mutex
	down   bool
	failed chan struct{} // closed at the first failure
	once   sync.Once
}

func (f *flakyIdentities) Merge(ctx context.Context, id string, t mapping.Traits) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		f.once.Do(func() { close(f.failed) })
		return &failure.StoreUnavailable{Store: "redis state store", Err: errors.New("connection refused")}
	}
	return f.Identities.Merge(ctx, id, t)
}

func TestAStoreThatIsDownPausesUnderItsOwnName(t *testing.T) {
	ids := &flakyIdentities{Identities: memory.NewIdentities(memory.Options{}), down: true, failed: make(chan struct{})}
	p := newTestPipeline(t, sinkFunc(func(context.Context, mapping.Order) error { return nil }), ids, &dlqRecorder{})
	done := make(chan *partition)
	go func() { done <- feed(t, p, `{"type":"identify","userId":"u","traits":{"email":"e@example.com"}}`) }()
	<-ids.failed
	// The gate is held from the first failed try until a try succeeds.
	for {
		open, reason := p.gate.state()
		if !open {
			if reason != "redis state store unavailable" {
				t.Errorf("paused for %q, want the store named", reason)
			}
			break
		}
		time.Sleep(time.Millisecond) // polling the gate's state
	}
	ids.mu.Lock()
	ids.down = false
	ids.mu.Unlock()
	pt := <-done
	if open, reason := p.gate.state(); !open || pt.tr.position() != 1 || p.Stats().Identify != 1 {
		t.Errorf("after the store came back: open %v (%s), position %d, %+v", open, reason, pt.tr.position(), p.Stats())
	}
}

func TestAnOrderHeldByAnotherSenderDoesNotPause(t *testing.T) {
	var mu sync.Mutex
	tries := 0
	s := sinkFunc(func(context.Context, mapping.Order) error {
		mu.Lock()
		defer mu.Unlock()
		if tries++; tries < 5 {
			return failure.ErrClaimHeld
		}
		return nil
	})
	p := newTestPipeline(t, s, memory.NewIdentities(memory.Options{}), &dlqRecorder{})
	var paused bool
	p.gate.onChange = func(open bool, _ string) { paused = paused || !open }
	feed(t, p, testOrder)
	if paused || p.Stats().Delivered != 1 {
		t.Errorf("paused %v, stats %+v", paused, p.Stats())
	}
}
