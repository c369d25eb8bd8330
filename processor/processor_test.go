package processor_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
)

const validOrder = `{"type":"track","event":"Order Completed","userId":"u1","properties":{"cart_id":"c","order_id":"A-1","currency":"USD","products":[{"sku":"S","price":2.5}]}}`

func newProcessor(t *testing.T, ids store.Identities) *processor.Processor {
	t.Helper()
	p, err := processor.New(mapping.MustNew(mapping.Options{}), ids, processor.Options{MaxMessageBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func outcomes(t *testing.T, p *processor.Processor, msg string) []processor.Outcome {
	t.Helper()
	var outs []processor.Outcome
	if err := p.Process(context.Background(), []byte(msg), func(o processor.Outcome) bool {
		outs = append(outs, o)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return outs
}

func TestEveryEventOfAMessageHasOneOutcome(t *testing.T) {
	p := newProcessor(t, memory.NewIdentities(memory.Options{}))
	msg := `{"type":"identify","userId":"u1","traits":{"email":"a@example.com"}}` + "\n" +
		validOrder + ` {"type":"page"} {"type":"identify"} {"type":"track","event":"Order Completed","properties":{}} 42 junk`
	want := []struct {
		kind   processor.Kind
		reason string
	}{
		{processor.IdentityChanged, ""},
		{processor.Order, ""},
		{processor.Dropped, ""},
		{processor.Invalid, deadletter.ReasonIdentity},
		{processor.Invalid, deadletter.ReasonInvalid},
		{processor.Malformed, deadletter.ReasonMalformed},
		{processor.Malformed, deadletter.ReasonMalformed},
	}
	outs := outcomes(t, p, msg)
	if len(outs) != len(want) {
		t.Fatalf("%d outcomes, want %d: %+v", len(outs), len(want), outs)
	}
	for i, o := range outs {
		if o.Kind != want[i].kind || o.Reason != want[i].reason || o.Index != i {
			t.Errorf("outcome %d = %v %q at %d, want %v %q", i, o.Kind, o.Reason, o.Index, want[i].kind, want[i].reason)
		}
		if o.DeadLetter() != (o.Reason != "") {
			t.Errorf("outcome %d: DeadLetter() = %v with reason %q", i, o.DeadLetter(), o.Reason)
		}
		if o.DeadLetter() && len(o.Problems) == 0 {
			t.Errorf("outcome %d: dead letter without problems", i)
		}
	}
	if c := outs[1].Order.Customer; c == nil || c.Email != "a@example.com" {
		t.Errorf("order not enriched from the identify before it in the same message: %+v", c)
	}
}

func TestOversizedMessageIsOneMalformedEvent(t *testing.T) {
	p := newProcessor(t, memory.NewIdentities(memory.Options{}))
	msg := `{"type":"page","pad":"` + strings.Repeat("x", 5000) + `"}`
	outs := outcomes(t, p, msg)
	if len(outs) != 1 || outs[0].Kind != processor.Malformed || !strings.Contains(outs[0].Problems[0].Reason, "over the 4096-byte limit") {
		t.Fatalf("outcomes %+v, want one malformed event over the limit", outs)
	}
}

// panicky is an identity store whose lookups panic, as a defect in
// enrichment would.
type panicky struct{ *memory.Identities }

func (panicky) Lookup(context.Context, string) (mapping.Traits, bool, error) { panic("boom") }

func TestAPanicIsAFailedOutcomeNotACrash(t *testing.T) {
	p := newProcessor(t, panicky{memory.NewIdentities(memory.Options{})})
	outs := outcomes(t, p, validOrder+`{"type":"page"}`)
	if len(outs) != 2 || outs[0].Kind != processor.Failed || outs[0].Reason != deadletter.ReasonPanic {
		t.Fatalf("outcomes %+v, want failed then dropped", outs)
	}
	if !strings.Contains(outs[0].Problems[0].Reason, "boom") || outs[1].Kind != processor.Dropped {
		t.Errorf("outcomes %+v", outs)
	}
}

// down is an identity store that cannot be reached.
type down struct{ *memory.Identities }

var errDown = errors.New("connection refused")

func (down) Lookup(context.Context, string) (mapping.Traits, bool, error) {
	return mapping.Traits{}, false, errDown
}
func (down) Merge(context.Context, string, mapping.Traits) error { return errDown }

func TestAStoreThatIsDownLeavesTheEventUndecided(t *testing.T) {
	p := newProcessor(t, down{memory.NewIdentities(memory.Options{})})
	for _, msg := range []string{validOrder, `{"type":"identify","userId":"u","traits":{"email":"e@example.com"}}`} {
		var ev processor.Event
		p.Each([]byte(msg), func(e processor.Event) bool { ev = e; return false })
		_, err := p.Handle(context.Background(), ev)
		var su *failure.StoreUnavailable
		if !errors.As(err, &su) || failure.KindOf(err) != failure.KindStoreUnavailable || !errors.Is(err, errDown) {
			t.Errorf("%.30s: error %v, want a StoreUnavailable wrapping the cause", msg, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var ev processor.Event
	p.Each([]byte(validOrder), func(e processor.Event) bool { ev = e; return false })
	if _, err := p.Handle(ctx, ev); !errors.Is(err, context.Canceled) {
		t.Errorf("with ctx ended: %v, want context.Canceled", err)
	}
}

func TestDroppedEventsDoNotAllocate(t *testing.T) {
	p := newProcessor(t, memory.NewIdentities(memory.Options{}))
	msg := []byte(`{"type":"page","context":{"page":{"url":"https://x/"}}}` + "\n" + `{"type":"track","event":"Product Viewed"}`)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		p.Each(msg, func(ev processor.Event) bool {
			_, _ = p.Handle(ctx, ev)
			return true
		})
	})
	if allocs != 0 {
		t.Errorf("a message of dropped events allocates %v times, want 0", allocs)
	}
}
