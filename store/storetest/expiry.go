package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// TestIdentityExpiry checks that identities expire ttl after their last
// write. newStore returns an empty store with that TTL and the Advance of
// its clock; with a nil Advance (a store on real time) the checks wait for
// the expiry instead, and ttl is short.
func TestIdentityExpiry(t *testing.T, ttl time.Duration, newStore func(t *testing.T, ttl time.Duration) (store.Identities, Advance)) {
	ctx := context.Background()
	t.Run("TraitsAndLinksExpire", func(t *testing.T) {
		s, advance := newStore(t, ttl)
		p := WritePerson(t, s, "p")
		wantTraits(t, s, p.AnonymousID, p.Traits)
		if advance != nil {
			advance(ttl + time.Millisecond)
		}
		for _, id := range p.IDs() {
			eventually(t, "Lookup("+id+") finds nothing", func() bool {
				_, found := lookup(t, s, id)
				return !found
			})
		}
	})
	t.Run("WriteRenewsTheTTL", func(t *testing.T) {
		s, advance := newStore(t, ttl)
		if advance == nil {
			t.Skip("a store on real time checks renewal in its own tests")
		}
		must(t, s.Merge(ctx, "u", mapping.Traits{Email: "u@example.com"}))
		advance(ttl * 3 / 4)
		must(t, s.Merge(ctx, "u", mapping.Traits{FirstName: "Ann"}))
		advance(ttl * 3 / 4)
		wantTraits(t, s, "u", mapping.Traits{Email: "u@example.com", FirstName: "Ann"})
		advance(ttl / 2)
		wantTraits(t, s, "u", mapping.Traits{})
	})
}

// TestSentExpiry checks that a confirmed order_id is remembered for ttl,
// with its content, and then may be claimed again, its content gone with
// it. See TestIdentityExpiry for newStore.
func TestSentExpiry(t *testing.T, ttl time.Duration, newStore func(t *testing.T, ttl time.Duration) (store.Sent, Advance)) {
	ctx := context.Background()
	s, advance := newStore(t, ttl)
	c, err := s.Claim(ctx, "o-ttl", time.Minute)
	must(t, err)
	c.Fingerprint, c.Summary = "v1:ttl", "total 1.00 USD, 1 item"
	must(t, s.Confirm(ctx, c))
	if c, err = s.Claim(ctx, "o-ttl", time.Minute); err != nil || c.Status != store.AlreadySent || c.Fingerprint != "v1:ttl" {
		t.Fatalf("Claim after Confirm = %v (fingerprint %q), %v; want already sent, v1:ttl", c.Status, c.Fingerprint, err)
	}
	if advance != nil {
		advance(ttl + time.Millisecond)
	}
	var again store.Claim
	eventually(t, "the order_id is free after its TTL", func() bool {
		again, err = s.Claim(ctx, "o-ttl", time.Minute)
		must(t, err)
		return again.Status == store.Claimed
	})
	must(t, s.Confirm(ctx, again)) // sent again, by a sender that records no content
	if c, err = s.Claim(ctx, "o-ttl", time.Minute); err != nil || c.Status != store.AlreadySent || c.Fingerprint != "" || c.Summary != "" {
		t.Fatalf("Claim after the TTL and a Confirm without content = %+v, %v; want already sent, no content", c, err)
	}
}

// TestSentReplicas checks idempotency across replicas. newStores returns
// handles on one shared store, as each replica would open it (for a
// single-process backend, the same store twice). Senders on every handle
// race on the same order_ids, each sending an order only after claiming
// it, until every order is done: each must have been sent exactly once.
func TestSentReplicas(t *testing.T, newStores func(t *testing.T) []store.Sent) {
	ctx := context.Background()
	const orders, sendersPerReplica = 50, 4
	replicas := newStores(t)
	var sent [orders]atomic.Int32
	var wg sync.WaitGroup
	for r, s := range replicas {
		for w := range sendersPerReplica {
			wg.Go(func() {
				for i := range orders {
					id := fmt.Sprintf("o-%d", (i+r*7+w*13)%orders)
					for done := false; !done; {
						c, err := s.Claim(ctx, id, time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						switch c.Status {
						case store.Claimed:
							sent[(i+r*7+w*13)%orders].Add(1)
							c.Fingerprint, c.Summary = "fp-"+id, "summary of "+id
							if err := s.Confirm(ctx, c); err != nil {
								t.Error(err)
								return
							}
							done = true
						case store.AlreadySent:
							done = true
						case store.HeldElsewhere:
							time.Sleep(time.Millisecond)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	for i := range sent {
		if n := sent[i].Load(); n != 1 {
			t.Errorf("order o-%d was sent %d times", i, n)
		}
	}
	// Every replica reads the content whichever recorded it.
	for r, s := range replicas {
		for i := range orders {
			id := fmt.Sprintf("o-%d", i)
			c, err := s.Claim(ctx, id, time.Minute)
			must(t, err)
			if c.Status != store.AlreadySent || c.Fingerprint != "fp-"+id || c.Summary != "summary of "+id {
				t.Errorf("replica %d: Claim(%s) = %+v, want already sent with its content", r, id, c)
			}
		}
	}
}
