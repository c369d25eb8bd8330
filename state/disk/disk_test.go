package disk_test

import (
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/state/statetest"
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

func openIdentities(t testing.TB, dir string, opts disk.Options) *disk.Identities {
	t.Helper()
	s, err := disk.OpenIdentities(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openSent(t testing.TB, dir string, opts disk.Options) *disk.Sent {
	t.Helper()
	s, err := disk.OpenSent(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestIdentitiesConform(t *testing.T) {
	statetest.TestIdentities(t, func(t *testing.T) mapping.IdentityStore {
		return openIdentities(t, t.TempDir(), disk.Options{})
	})
}

func TestIdentitiesExpire(t *testing.T) {
	statetest.TestIdentityExpiry(t, time.Hour, func(t *testing.T, ttl time.Duration) (mapping.IdentityStore, statetest.Advance) {
		c := newClock()
		return openIdentities(t, t.TempDir(), disk.Options{TTL: ttl, Now: c.Now}), c.Advance
	})
}

func TestSentConforms(t *testing.T) {
	sinktest.TestSentStore(t, func(t *testing.T) sink.SentStore { return openSent(t, t.TempDir(), disk.Options{}) })
}

func TestSentExpires(t *testing.T) {
	statetest.TestSentExpiry(t, time.Hour, func(t *testing.T, ttl time.Duration) (sink.SentStore, statetest.Advance) {
		c := newClock()
		return openSent(t, t.TempDir(), disk.Options{TTL: ttl, Now: c.Now}), c.Advance
	})
}

func TestSentRacingSendersSendOnce(t *testing.T) {
	statetest.TestSentReplicas(t, func(t *testing.T) []sink.SentStore {
		s := openSent(t, t.TempDir(), disk.Options{})
		return []sink.SentStore{s, s}
	})
}

func BenchmarkIdentities(b *testing.B) {
	statetest.BenchmarkIdentities(b, func(b *testing.B) mapping.IdentityStore {
		return openIdentities(b, b.TempDir(), disk.Options{})
	})
}

func BenchmarkSent(b *testing.B) {
	statetest.BenchmarkSent(b, func(b *testing.B) sink.SentStore { return openSent(b, b.TempDir(), disk.Options{}) })
}
