package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/store"
)

// TestSent checks the store.Sent contract. newStore returns an
// empty store; it is called once per subtest. The store must keep order_ids
// of different subtests apart only within one store.
func TestSent(t *testing.T, newStore func(t *testing.T) store.Sent) {
	ctx := context.Background()
	const lease = time.Minute

	claim := func(t *testing.T, s store.Sent, id string, lease time.Duration) store.Claim {
		t.Helper()
		c, err := s.Claim(ctx, id, lease)
		if err != nil {
			t.Fatalf("Claim(%q): %v", id, err)
		}
		return c
	}
	want := func(t *testing.T, c store.Claim, status store.ClaimStatus) {
		t.Helper()
		if c.Status != status {
			t.Fatalf("Claim(%q) = %v, want %v", c.OrderID, c.Status, status)
		}
	}

	t.Run("FirstClaimHoldsWithAToken", func(t *testing.T) {
		c := claim(t, newStore(t), "o-1", lease)
		want(t, c, store.Claimed)
		if c.Token == "" || c.OrderID != "o-1" {
			t.Fatalf("claim %+v lacks its token or order_id", c)
		}
	})
	t.Run("HeldClaimRefusesOthers", func(t *testing.T) {
		s := newStore(t)
		claim(t, s, "o-1", lease)
		want(t, claim(t, s, "o-1", lease), store.HeldElsewhere)
		want(t, claim(t, s, "o-2", lease), store.Claimed)
	})
	t.Run("ConfirmedIsAlreadySent", func(t *testing.T) {
		s := newStore(t)
		c := claim(t, s, "o-1", lease)
		if err := s.Confirm(ctx, c); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), store.AlreadySent)
		if err := s.Release(ctx, c); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), store.AlreadySent)
	})
	t.Run("ReleasedCanBeClaimedAgain", func(t *testing.T) {
		s := newStore(t)
		first := claim(t, s, "o-1", lease)
		if err := s.Release(ctx, first); err != nil {
			t.Fatal(err)
		}
		second := claim(t, s, "o-1", lease)
		want(t, second, store.Claimed)
		if second.Token == first.Token {
			t.Fatalf("two claims share token %q", first.Token)
		}
	})
	t.Run("ExpiredLeaseCanBeClaimedAndStaleReleaseIsIgnored", func(t *testing.T) {
		s := newStore(t)
		stale := claim(t, s, "o-1", 20*time.Millisecond)
		want(t, stale, store.Claimed)
		var fresh store.Claim
		deadline := time.Now().Add(10 * time.Second)
		for fresh = claim(t, s, "o-1", lease); fresh.Status != store.Claimed; fresh = claim(t, s, "o-1", lease) {
			want(t, fresh, store.HeldElsewhere)
			if time.Now().After(deadline) {
				t.Fatal("a 20ms lease did not expire in 10s")
			}
			<-time.After(5 * time.Millisecond)
		}
		if err := s.Release(ctx, stale); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), store.HeldElsewhere)
	})
	// expired waits until a claim of lease, taken after the claims of the
	// caller, has expired (a witness order_id can be claimed again): the
	// caller's claims of at most that lease have expired too.
	expired := func(t *testing.T, s store.Sent, witness string, lease time.Duration) {
		t.Helper()
		want(t, claim(t, s, witness, lease), store.Claimed)
		deadline := time.Now().Add(10 * time.Second)
		for c := claim(t, s, witness, time.Minute); c.Status != store.Claimed; c = claim(t, s, witness, time.Minute) {
			want(t, c, store.HeldElsewhere)
			if time.Now().After(deadline) {
				t.Fatalf("a %v lease did not expire in 10s", lease)
			}
			<-time.After(5 * time.Millisecond)
		}
	}
	renew := func(t *testing.T, s store.Sent, c store.Claim, lease time.Duration) error {
		t.Helper()
		err := s.Renew(ctx, c, lease)
		if err != nil && !errors.Is(err, store.ErrClaimLost) {
			t.Fatalf("Renew(%q): %v", c.OrderID, err)
		}
		return err
	}
	t.Run("RenewedClaimOutlivesItsFirstLease", func(t *testing.T) {
		s := newStore(t)
		short := 30 * time.Millisecond
		c := claim(t, s, "o-1", short)
		want(t, c, store.Claimed)
		if err := renew(t, s, c, lease); err != nil {
			t.Fatalf("Renew of a live claim: %v", err)
		}
		expired(t, s, "o-witness", short)
		want(t, claim(t, s, "o-1", lease), store.HeldElsewhere)
		// The renewed claim is still the owner's: its Release frees it.
		if err := s.Release(ctx, c); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), store.Claimed)
	})
	t.Run("RenewKeepsAClaimThatExpiredUntaken", func(t *testing.T) {
		s := newStore(t)
		short := 30 * time.Millisecond
		c := claim(t, s, "o-1", short)
		expired(t, s, "o-witness", short)
		if err := renew(t, s, c, lease); err != nil {
			t.Fatalf("Renew of an expired claim nobody took: %v", err)
		}
		want(t, claim(t, s, "o-1", lease), store.HeldElsewhere)
		if err := s.Confirm(ctx, c); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), store.AlreadySent)
	})
	t.Run("RenewOfAClaimAnotherSenderTookIsLost", func(t *testing.T) {
		s := newStore(t)
		short := 30 * time.Millisecond
		stale := claim(t, s, "o-1", short)
		expired(t, s, "o-witness", short)
		fresh := claim(t, s, "o-1", lease)
		want(t, fresh, store.Claimed)
		if err := renew(t, s, stale, lease); err == nil {
			t.Fatal("Renew of a claim another sender holds succeeded")
		}
		// The other sender still holds it.
		if err := s.Release(ctx, stale); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), store.HeldElsewhere)
		if err := renew(t, s, fresh, lease); err != nil {
			t.Fatalf("Renew by the holder: %v", err)
		}
	})
	t.Run("RenewOfAConfirmedOrderIsLost", func(t *testing.T) {
		s := newStore(t)
		c := claim(t, s, "o-1", lease)
		if err := s.Confirm(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := renew(t, s, c, lease); err == nil {
			t.Fatal("Renew of a confirmed order_id succeeded")
		}
		want(t, claim(t, s, "o-1", lease), store.AlreadySent)
	})
	t.Run("ConfirmWithoutALiveClaimStillRecords", func(t *testing.T) {
		s := newStore(t)
		if err := s.Confirm(ctx, store.Claim{OrderID: "o-1", Status: store.Claimed, Token: "gone"}); err != nil {
			t.Fatal(err)
		}
		want(t, claim(t, s, "o-1", lease), store.AlreadySent)
	})
	// confirmed claims id, which must be sent already, and returns the
	// answer; wantContent checks the content an answer carries.
	confirmed := func(t *testing.T, s store.Sent, id string) store.Claim {
		t.Helper()
		c := claim(t, s, id, lease)
		want(t, c, store.AlreadySent)
		if c.Token != "" {
			t.Fatalf("an already-sent answer carries a token: %+v", c)
		}
		return c
	}
	wantContent := func(t *testing.T, c store.Claim, fingerprint, summary string) {
		t.Helper()
		if c.Fingerprint != fingerprint || c.Summary != summary {
			t.Fatalf("Claim(%q) carries content (%q, %q), want (%q, %q)", c.OrderID, c.Fingerprint, c.Summary, fingerprint, summary)
		}
	}
	t.Run("ConfirmRecordsTheContent", func(t *testing.T) {
		s := newStore(t)
		c := claim(t, s, "o-1", lease)
		if c.Fingerprint != "" || c.Summary != "" {
			t.Fatalf("a fresh claim carries content: %+v", c)
		}
		c.Fingerprint, c.Summary = "v1:00112233445566778899aabbccddeeff", "total 104.50 USD, 3 items"
		if err := s.Confirm(ctx, c); err != nil {
			t.Fatal(err)
		}
		wantContent(t, confirmed(t, s, "o-1"), c.Fingerprint, c.Summary)
		wantContent(t, confirmed(t, s, "o-1"), c.Fingerprint, c.Summary) // a Claim reads it, does not take it
		other := claim(t, s, "o-2", lease)
		want(t, other, store.Claimed)
		wantContent(t, other, "", "")
		wantContent(t, claim(t, s, "o-2", lease), "", "") // held elsewhere: no content
	})
	t.Run("ConfirmWithoutContentIsUnknown", func(t *testing.T) {
		s := newStore(t)
		if err := s.Confirm(ctx, claim(t, s, "o-1", lease)); err != nil {
			t.Fatal(err)
		}
		wantContent(t, confirmed(t, s, "o-1"), "", "")
	})
	t.Run("ConfirmReplacesTheContent", func(t *testing.T) {
		s := newStore(t)
		c := claim(t, s, "o-1", lease)
		c.Fingerprint, c.Summary = "fp-a", "total 1.00 USD, 1 item"
		if err := s.Confirm(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.Fingerprint, c.Summary = "fp-b", "total 2.00 USD, 1 item"
		if err := s.Confirm(ctx, c); err != nil {
			t.Fatal(err)
		}
		wantContent(t, confirmed(t, s, "o-1"), "fp-b", "total 2.00 USD, 1 item")
		c.Fingerprint, c.Summary = "", ""
		if err := s.Confirm(ctx, c); err != nil {
			t.Fatal(err)
		}
		wantContent(t, confirmed(t, s, "o-1"), "", "") // nothing stale comes back
	})
	t.Run("ContentIsKeptByteForByte", func(t *testing.T) {
		s := newStore(t)
		cases := []struct{ id, fingerprint, summary string }{
			{"o-colons", "12:v1:ab:cd", "3:total: 5"},
			{"o-summary-only", "", "total ? EUR, 1 item"},
			{"o-fingerprint-only", "v1:ff", ""},
			{"o-text", "v1:\x00\n", "total 1 234,50 € — 2 items\n"},
			{"o-long-" + strings.Repeat("x", 300), strings.Repeat("f", 200), strings.Repeat("s", 500)},
		}
		for _, k := range cases {
			c := claim(t, s, k.id, lease)
			c.Fingerprint, c.Summary = k.fingerprint, k.summary
			if err := s.Confirm(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range cases {
			wantContent(t, confirmed(t, s, k.id), k.fingerprint, k.summary)
		}
	})
	t.Run("ConcurrentClaimsHaveOneWinner", func(t *testing.T) {
		s := newStore(t)
		const racers = 16
		var wg sync.WaitGroup
		results := make(chan store.ClaimStatus, racers)
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
			if st == store.Claimed {
				won++
			} else if st != store.HeldElsewhere {
				t.Errorf("racer got %v", st)
			}
		}
		if won != 1 {
			t.Fatalf("%d racers claimed one order_id", won)
		}
	})
}
