package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
)

// Open gives every backend a ledger; the disk backend's outlives a restart.
func TestOpenFillsTheLedger(t *testing.T) {
	ctx := context.Background()
	cfg := func(backend string) config.State {
		return config.State{Backend: backend, Dir: t.TempDir(), IdentityTTL: time.Hour, SentTTL: time.Hour, MemoryMaxEntries: 10}
	}
	use := func(t *testing.T, cfg config.State, write bool) {
		t.Helper()
		s, err := state.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}()
		if s.Ledger == nil {
			t.Fatal("no ledger")
		}
		if write {
			if err := s.Ledger.RecordDelivery(ctx, "o", []mapping.Line{{SKU: "A", Quantity: 2, Price: "1"}}); err != nil {
				t.Fatal(err)
			}
			c, err := s.Ledger.ClaimCancel(ctx, "o", "r1", time.Minute)
			if err != nil || c.Status != store.Claimed {
				t.Fatalf("claim: %v, %v", c.Status, err)
			}
			if err := s.Ledger.ConfirmCancel(ctx, c, []mapping.CancelItem{{SKU: "A", Quantity: 1}}); err != nil {
				t.Fatal(err)
			}
		}
		if e, found, err := s.Ledger.Entry(ctx, "o"); err != nil || !found || e.Cancelled["A"] != 1 {
			t.Errorf("entry %+v found %v err %v", e, found, err)
		}
	}
	t.Run("memory", func(t *testing.T) { use(t, cfg("memory"), true) })
	t.Run("disk", func(t *testing.T) {
		c := cfg("disk")
		use(t, c, true)
		use(t, c, false)
	})
	t.Run("redis", func(t *testing.T) {
		c := cfg("redis")
		c.RedisURL = config.NewURL(statetest.StartRedis(t).URL())
		use(t, c, true)
		use(t, c, false)
	})
}
