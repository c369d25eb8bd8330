package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

// One account's view of a shared store keeps the store's contract, and the
// same order_id in two accounts is two orders.
func TestAccountViewsKeepTheContract(t *testing.T) {
	storetest.TestSent(t, func(t *testing.T) store.Sent { return store.SentOf(memory.NewSent(memory.Options{}), "brand-a") })
	storetest.TestLedger(t, func(t *testing.T) store.Ledger { return store.LedgerOf(memory.NewLedger(memory.Options{}), "brand-a") })

	ctx := context.Background()
	shared := memory.NewSent(memory.Options{})
	a, b := store.SentOf(shared, "a"), store.SentOf(shared, "b")
	c, err := a.Claim(ctx, "1001", time.Minute)
	if err != nil || c.Status != store.Claimed || c.OrderID != "1001" {
		t.Fatalf("claim in a: %+v, %v", c, err)
	}
	if err := a.Confirm(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c, _ := a.Claim(ctx, "1001", time.Minute); c.Status != store.AlreadySent {
		t.Errorf("a's 1001 again: %v, want already sent", c.Status)
	}
	if c, _ := b.Claim(ctx, "1001", time.Minute); c.Status != store.Claimed {
		t.Errorf("b's 1001: %v, want claimed: another account's order", c.Status)
	}
	if c, _ := shared.Claim(ctx, "1001", time.Minute); c.Status != store.Claimed {
		t.Errorf("the one-account 1001: %v, want claimed", c.Status)
	}
}
