package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// TestLedger checks the store.Ledger contract. newStore returns an empty
// ledger; it is called once per subtest.
func TestLedger(t *testing.T, newStore func(t *testing.T) store.Ledger) {
	ctx := context.Background()
	lines := []mapping.Line{{SKU: "A", Quantity: 2, Price: "9.99"}, {SKU: "B", Quantity: 1, Price: "5"}}
	claim := func(t *testing.T, l store.Ledger, order, id string) store.CancelClaim {
		t.Helper()
		c, err := l.ClaimCancel(ctx, order, id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("AnOrderNeverDeliveredIsNotFound", func(t *testing.T) {
		if _, found, err := newStore(t).Entry(ctx, "none"); found || err != nil {
			t.Errorf("found %v, %v", found, err)
		}
	})
	t.Run("DeliveredLinesAreKept", func(t *testing.T) {
		l := newStore(t)
		must(t, l.RecordDelivery(ctx, "o", lines))
		e, found, err := l.Entry(ctx, "o")
		if err != nil || !found || len(e.Lines) != 2 || e.Lines[0] != lines[0] || e.Lines[1] != lines[1] || len(e.Cancelled) != 0 {
			t.Errorf("entry %+v found %v err %v", e, found, err)
		}
	})
	t.Run("ACancelIsDoneOnce", func(t *testing.T) {
		l := newStore(t)
		must(t, l.RecordDelivery(ctx, "o", lines))
		c := claim(t, l, "o", "refund-1")
		if c.Status != store.Claimed {
			t.Fatalf("claim %v", c.Status)
		}
		must(t, l.ConfirmCancel(ctx, c, []mapping.CancelItem{{SKU: "A", Quantity: 1, Price: "9.99"}}))
		if again := claim(t, l, "o", "refund-1"); again.Status != store.AlreadySent {
			t.Errorf("the same cancel again: %v", again.Status)
		}
		c2 := claim(t, l, "o", "refund-2")
		must(t, l.ConfirmCancel(ctx, c2, []mapping.CancelItem{{SKU: "A", Quantity: 1, Price: "9.99"}, {SKU: "B", Quantity: 1, Price: "5"}}))
		e, _, _ := l.Entry(ctx, "o")
		if e.Cancelled["A"] != 2 || e.Cancelled["B"] != 1 {
			t.Errorf("cancelled %v, want A:2 B:1", e.Cancelled)
		}
	})
	t.Run("OneCancelOfAnOrderAtATime", func(t *testing.T) {
		l := newStore(t)
		c := claim(t, l, "o", "r1")
		if other := claim(t, l, "o", "r2"); other.Status != store.HeldElsewhere {
			t.Errorf("a second cancel while one is in flight: %v", other.Status)
		}
		if elsewhere := claim(t, l, "p", "r2"); elsewhere.Status != store.Claimed {
			t.Errorf("another order's cancel: %v", elsewhere.Status)
		}
		must(t, l.ReleaseCancel(ctx, c))
		if next := claim(t, l, "o", "r2"); next.Status != store.Claimed {
			t.Errorf("after release: %v", next.Status)
		}
	})
	t.Run("RecordingAgainKeepsWhatWasCancelled", func(t *testing.T) {
		l := newStore(t)
		must(t, l.RecordDelivery(ctx, "o", lines))
		must(t, l.ConfirmCancel(ctx, claim(t, l, "o", "r1"), []mapping.CancelItem{{SKU: "B", Quantity: 1}}))
		must(t, l.RecordDelivery(ctx, "o", lines))
		if e, _, _ := l.Entry(ctx, "o"); e.Cancelled["B"] != 1 {
			t.Errorf("cancelled %v after recording again", e.Cancelled)
		}
	})
	t.Run("AnUnconfirmedIntentIsPendingForTheNextSender", func(t *testing.T) {
		l := newStore(t)
		must(t, l.RecordDelivery(ctx, "o", lines))
		c, err := l.ClaimCancel(ctx, "o", "r1", 50*time.Millisecond)
		must(t, err)
		items := []mapping.CancelItem{{SKU: "A", Quantity: 1, Price: "9.99"}}
		must(t, l.Intend(ctx, c, items))
		// The sender dies; its lease runs out.
		var next store.CancelClaim
		for deadline := time.Now().Add(10 * time.Second); ; {
			next = claim(t, l, "o", "r1")
			if next.Status == store.Claimed || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond) // polling the lease's end
		}
		if next.Status != store.Claimed || len(next.Pending) != 1 || next.Pending[0] != items[0] {
			t.Fatalf("the next claim: %+v, want the pending intent", next)
		}
		must(t, l.ConfirmCancel(ctx, next, next.Pending))
		if e, _, _ := l.Entry(ctx, "o"); e.Cancelled["A"] != 1 {
			t.Errorf("cancelled %v", e.Cancelled)
		}
		if other := claim(t, l, "o", "r2"); other.Status != store.Claimed || other.Pending != nil {
			t.Errorf("another cancel id: %+v, want no pending intent", other)
		}
	})
	t.Run("AReleasedIntentIsGone", func(t *testing.T) {
		l := newStore(t)
		c := claim(t, l, "o", "r1")
		must(t, l.Intend(ctx, c, []mapping.CancelItem{{SKU: "A", Quantity: 1}}))
		must(t, l.ReleaseCancel(ctx, c))
		if next := claim(t, l, "o", "r1"); next.Status != store.Claimed || next.Pending != nil {
			t.Errorf("after a release: %+v", next)
		}
	})
	t.Run("ConcurrentClaimsOneWins", func(t *testing.T) {
		l := newStore(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := l.ClaimCancel(ctx, "o", "r"+string(rune('a'+i)), time.Minute)
				if err == nil && c.Status == store.Claimed {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Errorf("%d claims won, want 1", won)
		}
	})
}
