package sink_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
)

func TestMemoryStoreConformance(t *testing.T) {
	sinktest.TestSentStore(t, func(*testing.T) sink.SentStore {
		return sink.NewMemoryStore(sink.MemoryStoreOptions{})
	})
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMemoryStoreForgetsSentOrdersAfterTTL(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	s := sink.NewMemoryStore(sink.MemoryStoreOptions{TTL: time.Hour, Now: clk.Now})
	ctx := context.Background()
	c, _ := s.Claim(ctx, "o-1", time.Minute)
	_ = s.Confirm(ctx, c)
	clk.advance(59 * time.Minute)
	if c, _ := s.Claim(ctx, "o-1", time.Minute); c.Status != sink.AlreadySent {
		t.Fatalf("within TTL: %v", c.Status)
	}
	clk.advance(2 * time.Minute)
	if c, _ := s.Claim(ctx, "o-1", time.Minute); c.Status != sink.Claimed {
		t.Fatalf("after TTL: %v", c.Status)
	}
}

func TestMemoryStoreEvictsTheOldestBeyondItsBound(t *testing.T) {
	s := sink.NewMemoryStore(sink.MemoryStoreOptions{MaxEntries: 2})
	ctx := context.Background()
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		c, _ := s.Claim(ctx, id, time.Minute)
		_ = s.Confirm(ctx, c)
	}
	if s.Len() != 2 {
		t.Fatalf("%d entries, bound 2", s.Len())
	}
	if c, _ := s.Claim(ctx, "o-1", time.Minute); c.Status != sink.Claimed {
		t.Fatalf("oldest entry kept: %v", c.Status)
	}
	if c, _ := s.Claim(ctx, "o-3", time.Minute); c.Status != sink.AlreadySent {
		t.Fatalf("newest entry lost: %v", c.Status)
	}
}

func TestMemoryStoreSweepsExpiredClaims(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	s := sink.NewMemoryStore(sink.MemoryStoreOptions{Now: clk.Now})
	ctx := context.Background()
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		_, _ = s.Claim(ctx, id, time.Second)
	}
	clk.advance(2 * time.Second)
	_, _ = s.Claim(ctx, "o-4", time.Second)
	if s.Len() != 1 {
		t.Fatalf("%d entries after the leases expired, want 1", s.Len())
	}
}
