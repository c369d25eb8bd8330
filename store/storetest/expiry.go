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

// TestSentExpiry checks that a confirmed order_id is remembered for ttl and
// then may be claimed again. See TestIdentityExpiry for newStore.
func TestSentExpiry(t *testing.T, ttl time.Duration, newStore func(t *testing.T, ttl time.Duration) (store.Sent, Advance)) {
	ctx := context.Background()
	s, advance := newStore(t, ttl)
	c, err := s.Claim(ctx, "o-ttl", time.Minute)
	must(t, err)
	must(t, s.Confirm(ctx, c))
	if c, err = s.Claim(ctx, "o-ttl", time.Minute); err != nil || c.Status != store.AlreadySent {
		t.Fatalf("Claim after Confirm = %v, %v; want already sent", c.Status, err)
	}
	if advance != nil {
		advance(ttl + time.Millisecond)
	}
	eventually(t, "the order_id is free after its TTL", func() bool {
		c, err := s.Claim(ctx, "o-ttl", time.Minute)
		must(t, err)
		return c.Status == store.Claimed
	})
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
}
