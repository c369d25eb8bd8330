// Package sinktest holds the conformance suites every sink.SentStore and
// every sink.Sink must pass, and test orders.
package sinktest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sink"
)

// TestSentStore checks the sink.SentStore contract. newStore returns an
// empty store; it is called once per subtest. The store must keep order_ids
// of different subtests apart only within one store.
func TestSentStore(t *testing.T, newStore func(t *testing.T) sink.SentStore) {
	ctx := context.Background()
	const lease = time.Minute

	claim := func(t *testing.T, s sink.SentStore, id string, lease time.Duration) sink.Claim {
		t.Helper()
		c, err := s.Claim(ctx, id, lease)
		if err != nil {
			t.Fatalf("Claim(%q): %v", id, err)
		}
		return c
	}
	want := func(t *testing.T, c sink.Claim, status sink.ClaimStatus) {
		t.Helper()
		if c.Status != status {
			t.Fatalf("Claim(%q) = %v, want %v", c.OrderID, c.Status, status)
		}
	}

	t.Run("FirstClaimHoldsWithAToken", func(t *testing.T) {
		c := claim(t, newStore(t), "o-1", lease)
		want(t, c, sink.Claimed)
		if c.Token == "" || c.OrderID != "o-1" {
			t.Fatalf("claim %+v lacks its token or order_id", c)
		}
	})
	t.Run("HeldClaimRefusesOthers", func(t *testing.T) {
		s := newStore(t)
		claim(t, s, "o-1", lease)
		want(t, claim(t, s, "o-1", lease), sink.HeldElsewhere)
		want(t, claim(t, s, "o-2", lease), sink.Claimed)
	})
	t.Run("ConfirmedIsAlreadySent", func(t *testing.T) {
		s := newStore(t)
		c := claim(t, s, "o-1", lease)
		if err := s.Confirm(ctx, c); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), sink.AlreadySent)
		if err := s.Release(ctx, c); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), sink.AlreadySent)
	})
	t.Run("ReleasedCanBeClaimedAgain", func(t *testing.T) {
		s := newStore(t)
		first := claim(t, s, "o-1", lease)
		if err := s.Release(ctx, first); err != nil {
			t.Fatal(err)
		}
		second := claim(t, s, "o-1", lease)
		want(t, second, sink.Claimed)
		if second.Token == first.Token {
			t.Fatalf("two claims share token %q", first.Token)
		}
	})
	t.Run("ExpiredLeaseCanBeClaimedAndStaleReleaseIsIgnored", func(t *testing.T) {
		s := newStore(t)
		stale := claim(t, s, "o-1", 20*time.Millisecond)
		want(t, stale, sink.Claimed)
		var fresh sink.Claim
		deadline := time.Now().Add(10 * time.Second)
		for fresh = claim(t, s, "o-1", lease); fresh.Status != sink.Claimed; fresh = claim(t, s, "o-1", lease) {
			want(t, fresh, sink.HeldElsewhere)
			if time.Now().After(deadline) {
				t.Fatal("a 20ms lease did not expire in 10s")
			}
			<-time.After(5 * time.Millisecond)
		}
		if err := s.Release(ctx, stale); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), sink.HeldElsewhere)
	})
	t.Run("ConfirmWithoutALiveClaimStillRecords", func(t *testing.T) {
		s := newStore(t)
		if err := s.Confirm(ctx, sink.Claim{OrderID: "o-1", Status: sink.Claimed, Token: "gone"}); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), sink.AlreadySent)
	})
	t.Run("ConcurrentClaimsHaveOneWinner", func(t *testing.T) {
		s := newStore(t)
		const racers = 16
		var wg sync.WaitGroup
		results := make(chan sink.ClaimStatus, racers)
		for range racers {
			wg.Go(func() {
				c, err := s.Claim(ctx, "o-race", lease)
				if err != nil {
					t.Error(err)
					return
				}
				results <- c.Status
			})
		}
		wg.Wait()
		close(results)
		won := 0
		for st := range results {
			if st == sink.Claimed {
				won++
			} else if st != sink.HeldElsewhere {
				t.Errorf("racer got %v", st)
			}
		}
		if won != 1 {
			t.Fatalf("%d racers claimed one order_id", won)
		}
	})
}
