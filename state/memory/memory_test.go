package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestIdentitiesConform(t *testing.T) {
	storetest.TestIdentities(t, func(*testing.T) store.Identities {
		return memory.NewIdentities(memory.Options{})
	})
}

func TestIdentitiesExpire(t *testing.T) {
	storetest.TestIdentityExpiry(t, time.Hour, func(_ *testing.T, ttl time.Duration) (store.Identities, storetest.Advance) {
		c := newClock()
		return memory.NewIdentities(memory.Options{TTL: ttl, Now: c.Now}), c.Advance
	})
}

func TestSentConforms(t *testing.T) {
	storetest.TestSent(t, func(*testing.T) store.Sent { return memory.NewSent(memory.Options{}) })
}

func TestSentExpires(t *testing.T) {
	storetest.TestSentExpiry(t, time.Hour, func(_ *testing.T, ttl time.Duration) (store.Sent, storetest.Advance) {
		c := newClock()
		return memory.NewSent(memory.Options{TTL: ttl, Now: c.Now}), c.Advance
	})
}

func TestSentRacingSendersSendOnce(t *testing.T) {
	storetest.TestSentReplicas(t, func(*testing.T) []store.Sent {
		s := memory.NewSent(memory.Options{})
		return []store.Sent{s, s}
	})
}

func TestForgetLeavesNothing(t *testing.T) {
	s := memory.NewIdentities(memory.Options{})
	p := storetest.WritePerson(t, s, "p")
	if err := s.Forget(context.Background(), p.EarlierID); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 0 {
		t.Fatalf("%d entries left after Forget", n)
	}
}

func TestIdentitiesStayWithinMaxEntries(t *testing.T) {
	ctx := context.Background()
	s := memory.NewIdentities(memory.Options{MaxEntries: 100})
	for i := range 1000 {
		if err := s.Link(ctx, fmt.Sprint("a", i), fmt.Sprint("u", i)); err != nil {
			t.Fatal(err)
		}
		if err := s.Merge(ctx, fmt.Sprint("u", i), mapping.Traits{Email: fmt.Sprint(i, "@example.com")}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Len(); n > 100 {
		t.Fatalf("%d entries kept, bound is 100", n)
	}
	// The newest person is whole; the oldest is gone, links included.
	if got, _, _ := s.Lookup(ctx, "a999"); got.Email != "999@example.com" {
		t.Fatalf("newest person: %+v", got)
	}
	if _, found, _ := s.Lookup(ctx, "a0"); found {
		t.Fatal("oldest person still found")
	}
}

func TestIdentitiesStayWithinMaxBytes(t *testing.T) {
	ctx := context.Background()
	const maxBytes = 64 << 10
	s := memory.NewIdentities(memory.Options{MaxBytes: maxBytes})
	long := fmt.Sprintf("%0500d", 0)
	for i := range 1000 {
		if err := s.Merge(ctx, fmt.Sprint("u", i), mapping.Traits{FirstName: long}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Len(); n == 0 || n*500 > maxBytes {
		t.Fatalf("%d entries of 500+ bytes kept, bound is %d bytes", n, maxBytes)
	}
}

// A person with more devices than the small slice holds moves them to a
// set; linking, relinking elsewhere, lookups and erasure work the same on
// both sides of the change.
func TestManyIDsLinkingToOnePerson(t *testing.T) {
	ctx := context.Background()
	s := memory.NewIdentities(memory.Options{})
	if err := s.Merge(ctx, "user-1", mapping.Traits{Email: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		if err := s.Link(ctx, fmt.Sprintf("device-%d", i), "user-1"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if tr, ok, err := s.Lookup(ctx, fmt.Sprintf("device-%d", i)); err != nil || !ok || tr.Email != "ann@example.com" {
			t.Fatalf("device-%d: %+v %v %v", i, tr, ok, err)
		}
	}
	// Half the devices move to another person: the first no longer names them.
	if err := s.Merge(ctx, "user-2", mapping.Traits{Email: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 2 {
		if err := s.Link(ctx, fmt.Sprintf("device-%d", i), "user-2"); err != nil {
			t.Fatal(err)
		}
	}
	erased, err := s.Erase(ctx, "user-1")
	if err != nil {
		t.Fatal(err)
	}
	if erased.IDs != 1+n/2 || erased.Links != n/2 {
		t.Fatalf("erasing user-1: %+v, want %d ids and %d links", erased, 1+n/2, n/2)
	}
	for i := range n {
		tr, ok, _ := s.Lookup(ctx, fmt.Sprintf("device-%d", i))
		if want := i%2 == 0; ok != want || (want && tr.Email != "bob@example.com") {
			t.Fatalf("device-%d after erasing user-1: %+v %v", i, tr, ok)
		}
	}
	if s.Len() != 1+n/2 {
		t.Fatalf("%d ids left, want user-2 and its %d devices", s.Len(), n/2)
	}
}

func TestEvictionCutsLinksBothWays(t *testing.T) {
	ctx := context.Background()
	s := memory.NewIdentities(memory.Options{MaxEntries: 3})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Merge(ctx, "u", mapping.Traits{Email: "u@example.com"}))
	must(s.Link(ctx, "a", "u"))
	must(s.Merge(ctx, "x", mapping.Traits{FirstName: "X"}))
	must(s.Merge(ctx, "a", mapping.Traits{FirstName: "A"})) // u is now the oldest
	must(s.Merge(ctx, "y", mapping.Traits{FirstName: "Y"})) // evicts u
	if got, _, _ := s.Lookup(ctx, "a"); got != (mapping.Traits{FirstName: "A"}) {
		t.Fatalf("a after its target was evicted: %+v", got)
	}
	must(s.Forget(ctx, "a"))
	if got, found, _ := s.Lookup(ctx, "x"); !found || got.FirstName != "X" {
		t.Fatalf("x lost by Forget of an unrelated id: %+v", got)
	}
}

func TestSentStaysWithinBounds(t *testing.T) {
	ctx := context.Background()
	s := memory.NewSent(memory.Options{MaxEntries: 50})
	for i := range 500 {
		c, err := s.Claim(ctx, fmt.Sprint("o", i), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Confirm(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Len(); n > 50 {
		t.Fatalf("%d order_ids kept, bound is 50", n)
	}
	if c, _ := s.Claim(ctx, "o499", time.Minute); c.Status != store.AlreadySent {
		t.Fatalf("newest order_id: %v", c.Status)
	}
	// The oldest was evicted: it can be claimed again.
	if c, _ := s.Claim(ctx, "o0", time.Minute); c.Status != store.Claimed {
		t.Fatalf("oldest order_id: %v", c.Status)
	}
}

func TestSentSweepsExpiredClaims(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := memory.NewSent(memory.Options{Now: c.Now})
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		if cl, err := s.Claim(ctx, id, time.Second); err != nil || cl.Status != store.Claimed {
			t.Fatalf("Claim(%s) = %v, %v", id, cl.Status, err)
		}
	}
	c.Advance(2 * time.Second)
	if _, err := s.Claim(ctx, "o-4", time.Second); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 1 {
		t.Fatalf("%d entries after the leases expired, want 1", n)
	}
}

func TestIdentitiesFlushIsImmediate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := memory.NewIdentities(memory.Options{})
	if err := s.Merge(ctx, "u", mapping.Traits{Email: "u@example.com"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v, want nil: every change is in place already", err)
	}
}

func BenchmarkIdentities(b *testing.B) {
	statetest.BenchmarkIdentities(b, func(*testing.B) store.Identities { return memory.NewIdentities(memory.Options{}) })
}

func BenchmarkSent(b *testing.B) {
	statetest.BenchmarkSent(b, func(*testing.B) store.Sent { return memory.NewSent(memory.Options{}) })
}

// heapInUse is the bytes of live objects in the heap, after a collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// The byte bound is what the heap holds: stores filled past their default
// bound with realistic ids keep a heap within a fifth of MaxBytes (the
// default bound was 256 MiB charged at about half the real cost, and the
// entries bound of a million let a store hold 0.2 to 0.4 GB).
func TestDefaultBoundIsBytesTheHeapHolds(t *testing.T) {
	ctx := context.Background()
	limit := int64(memory.DefaultMaxBytes)
	if limit > 32<<20 {
		t.Fatalf("DefaultMaxBytes is %d MiB per store, want at most 32 MiB (the pod's limit is 128 MiB)", limit>>20)
	}
	t.Run("Sent", func(t *testing.T) {
		before := heapInUse()
		s := memory.NewSent(memory.Options{})
		const n = 200_000 // about twice what fits
		for i := range n {
			c, err := s.Claim(ctx, fmt.Sprintf("order-%07d", i), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if i%10 != 0 { // a tenth of the claims stay in flight
				if err := s.Confirm(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
		}
		grown := heapInUse() - before
		t.Logf("%d of %d order_ids kept, %d bytes charged, heap grew %d bytes (%.0f per entry)", s.Len(), n, s.Bytes(), grown, float64(grown)/float64(s.Len()))
		if s.Len() >= n || int64(s.Bytes()) > limit {
			t.Fatalf("%d entries, %d bytes charged: the bound of %d bytes did not evict", s.Len(), s.Bytes(), limit)
		}
		if grown > limit*6/5 {
			t.Fatalf("the heap grew %d MiB for a bound of %d MiB", grown>>20, limit>>20)
		}
		runtime.KeepAlive(s)
	})
	t.Run("Identities", func(t *testing.T) {
		before := heapInUse()
		s := memory.NewIdentities(memory.Options{})
		const n = 50_000 // people, two or three ids each: about twice what fits
		for i := range n {
			u, a := fmt.Sprintf("user-%07d", i), fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", i, i%65536, i%4096, i%4096, i*13)
			up := mapping.IdentityUpdate{Kind: mapping.KindIdentify, UserID: u, AnonymousID: a,
				Traits: mapping.Traits{Email: u + "@example.com", FirstName: "Ann", LastName: "Lee"}}
			if err := mapping.Apply(ctx, s, up); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				if err := s.Link(ctx, "device-"+a, u); err != nil {
					t.Fatal(err)
				}
			}
		}
		grown := heapInUse() - before
		t.Logf("%d ids kept, %d bytes charged, heap grew %d bytes (%.0f per id)", s.Len(), s.Bytes(), grown, float64(grown)/float64(s.Len()))
		if int64(s.Bytes()) > limit {
			t.Fatalf("%d bytes charged: the bound of %d bytes did not evict", s.Bytes(), limit)
		}
		if grown > limit*6/5 {
			t.Fatalf("the heap grew %d MiB for a bound of %d MiB", grown>>20, limit>>20)
		}
		runtime.KeepAlive(s)
	})
}

// A memory store is New at every start of the process, until adopted.
func TestSentIsNewUntilAdopted(t *testing.T) {
	ctx := context.Background()
	s := memory.NewSent(memory.Options{})
	if o, _ := s.Origin(ctx); !o.New || o.ID != "" {
		t.Fatalf("a new memory store: %+v", o)
	}
	o, err := s.Adopt(ctx)
	if err != nil || o.New || o.ID == "" {
		t.Fatalf("Adopt: %+v, %v", o, err)
	}
	if again, _ := s.Origin(ctx); again != o {
		t.Fatalf("Origin after Adopt: %+v, want %+v", again, o)
	}
}
