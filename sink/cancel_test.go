package sink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/state/redisstore"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
)

// backends returns a sent-order store and a ledger of each backend.
func backends(t *testing.T) map[string]func(t *testing.T) (store.Sent, store.Ledger) {
	return map[string]func(t *testing.T) (store.Sent, store.Ledger){
		"memory": func(*testing.T) (store.Sent, store.Ledger) {
			return memory.NewSent(memory.Options{}), memory.NewLedger(memory.Options{})
		},
		"disk": func(t *testing.T) (store.Sent, store.Ledger) {
			dir := t.TempDir()
			s, err := disk.OpenSent(dir, disk.Options{})
			if err != nil {
				t.Fatal(err)
			}
			l, err := disk.OpenLedger(dir, disk.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(); l.Close() })
			return s, l
		},
		"redis": func(t *testing.T) (store.Sent, store.Ledger) {
			if testing.Short() {
				t.Skip("needs redis-server")
			}
			srv := statetest.StartRedis(t)
			c := srv.Client(t)
			return redisstore.NewSent(c, redisstore.Options{}), redisstore.NewLedger(c, redisstore.Options{})
		},
	}
}

func TestCancellerFollowsTheOrderToTheEnd(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) { testCanceller(t, open) })
	}
}

func testCanceller(t *testing.T, open func(t *testing.T) (store.Sent, store.Ledger)) {
	sb := startSandbox(t, sandbox.Options{})
	keys, _ := sink.ParseKeys(testKeys)
	sent, ledger := open(t)
	cfg := sink.Config{Endpoint: sb.Endpoint(), Keys: keys, Retry: sink.RetryConfig{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}}
	orders, err := sink.New(cfg, sent, sink.WithLedger(ledger))
	if err != nil {
		t.Fatal(err)
	}
	defer orders.Close()
	cfg.Endpoint = sb.APIURL()
	cancels, err := sink.NewCanceller(cfg, sent, ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer cancels.Close()
	ctx := context.Background()
	o := mapping.Order{CartID: "c", OrderID: "o-1", CurrencyCode: "USD", Items: []mapping.Item{
		{SKU: "A", Price: "10.00", Quantity: "2"}, {SKU: "B", Price: "5", Quantity: "1"}}}
	if err := orders.Send(ctx, o); err != nil {
		t.Fatal(err)
	}
	refund := func(id string, items ...mapping.Item) mapping.Cancel {
		return mapping.Cancel{Kind: mapping.KindRefund, ID: id, OrderID: "o-1", Items: items}
	}
	cases := []struct {
		name    string
		c       mapping.Cancel
		outcome sink.CancelOutcome
		netA    int64
		netB    int64
	}{
		{"a partial refund by product", refund("r1", mapping.Item{SKU: "A", Quantity: "1"}), sink.Cancelled, 1, 1},
		{"the same refund again cancels nothing", refund("r1", mapping.Item{SKU: "A", Quantity: "1"}), sink.AlreadyDone, 1, 1},
		{"an over-refund is clamped", refund("r2", mapping.Item{SKU: "A", Quantity: "5"}), sink.Clamped, 0, 1},
		{"a cancellation cancels exactly the rest", mapping.Cancel{Kind: mapping.KindCancel, ID: "c1", OrderID: "o-1"}, sink.Cancelled, 0, 0},
		{"nothing is left", mapping.Cancel{Kind: mapping.KindCancel, ID: "c2", OrderID: "o-1"}, sink.NothingToCancel, 0, 0},
	}
	for _, c := range cases {
		res, err := cancels.Cancel(ctx, c.c)
		if err != nil || res.Outcome != c.outcome || sb.Net("o-1", "A") != c.netA || sb.Net("o-1", "B") != c.netB {
			t.Errorf("%s: %+v, %v; net A %d B %d, want %v, A %d B %d", c.name, res, err, sb.Net("o-1", "A"), sb.Net("o-1", "B"), c.outcome, c.netA, c.netB)
		}
	}
	if _, err := cancels.Cancel(ctx, mapping.Cancel{ID: "r9", OrderID: "never"}); !errors.Is(err, sink.ErrOrderNotDelivered) {
		t.Errorf("a refund before its order: %v", err)
	}
	if _, err := cancels.Cancel(ctx, mapping.Cancel{ID: "r10", OrderID: "o-1", Amount: "1.00"}); !errors.Is(err, sink.ErrAmountOnly) {
		t.Errorf("an amount-only refund: %v", err)
	}
	// An order the relay delivered but Refersion holds no conversion for.
	if err := ledger.RecordDelivery(ctx, "o-2", []mapping.Line{{SKU: "A", Quantity: 1, Price: "1"}}); err != nil {
		t.Fatal(err)
	}
	if res, err := cancels.Cancel(ctx, mapping.Cancel{ID: "r11", OrderID: "o-2"}); err != nil || res.Outcome != sink.NoConversion {
		t.Errorf("422 error 5: %+v %v", res, err)
	}
	// An order in flight: its claim is held; the refund waits for it.
	claim, _ := sent.Claim(ctx, "o-3", time.Minute)
	if _, err := cancels.Cancel(ctx, mapping.Cancel{ID: "r12", OrderID: "o-3"}); failure.KindOf(err) != failure.KindClaimHeld {
		t.Errorf("a refund of an order in flight: %v", err)
	}
	_ = sent.Release(ctx, claim)
	if st := sb.Stats(); st.Cancels != 3 || st.CancelRejected != 1 {
		t.Errorf("sandbox counted %d cancels, %d rejected; want 3 and 1", st.Cancels, st.CancelRejected)
	}
}

// An outage of the REST API does not touch the webhook, and the other way
// round: each destination has its own breaker.
func TestAnAPIOutageLeavesOrdersFlowing(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	keys, _ := sink.ParseKeys(testKeys)
	sent, ledger := memory.NewSent(memory.Options{}), memory.NewLedger(memory.Options{})
	cfg := sink.Config{Endpoint: sb.Endpoint(), Keys: keys, Retry: sink.RetryConfig{MaxAttempts: 1},
		Breaker: sink.BreakerConfig{Failures: 2, OpenTimeout: time.Hour}}
	orders, _ := sink.New(cfg, sent, sink.WithLedger(ledger))
	cfg.Endpoint = sb.APIURL()
	cancels, _ := sink.NewCanceller(cfg, sent, ledger)
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if err := orders.Send(ctx, mapping.Order{CartID: "c", OrderID: id, CurrencyCode: "USD", Items: []mapping.Item{{SKU: "A", Price: "1", Quantity: "1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	sb.SetAPIDown(true)
	for _, id := range []string{"a", "b", "c"} {
		_, _ = cancels.Cancel(ctx, mapping.Cancel{ID: "x-" + id, OrderID: id})
	}
	if cancels.BreakerState() != sink.BreakerOpen || orders.BreakerState() != sink.BreakerClosed {
		t.Fatalf("breakers: cancels %v, orders %v", cancels.BreakerState(), orders.BreakerState())
	}
	if err := orders.Send(ctx, mapping.Order{CartID: "c", OrderID: "d", CurrencyCode: "USD", Items: []mapping.Item{{SKU: "A", Price: "1", Quantity: "1"}}}); err != nil {
		t.Errorf("an order during the API outage: %v", err)
	}
}
