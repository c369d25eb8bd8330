package disk_test

import (
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/state/disk"
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
	storetest.TestIdentities(t, func(t *testing.T) store.Identities {
		return openIdentities(t, t.TempDir(), disk.Options{})
	})
}

func TestIdentitiesExpire(t *testing.T) {
	storetest.TestIdentityExpiry(t, time.Hour, func(t *testing.T, ttl time.Duration) (store.Identities, storetest.Advance) {
		c := newClock()
		return openIdentities(t, t.TempDir(), disk.Options{TTL: ttl, Now: c.Now}), c.Advance
	})
}

func TestSentConforms(t *testing.T) {
	storetest.TestSent(t, func(t *testing.T) store.Sent { return openSent(t, t.TempDir(), disk.Options{}) })
}

func TestSentExpires(t *testing.T) {
	storetest.TestSentExpiry(t, time.Hour, func(t *testing.T, ttl time.Duration) (store.Sent, storetest.Advance) {
		c := newClock()
		return openSent(t, t.TempDir(), disk.Options{TTL: ttl, Now: c.Now}), c.Advance
	})
}

func TestSentRacingSendersSendOnce(t *testing.T) {
	storetest.TestSentReplicas(t, func(t *testing.T) []store.Sent {
		s := openSent(t, t.TempDir(), disk.Options{})
		return []store.Sent{s, s}
	})
}

func BenchmarkIdentities(b *testing.B) {
	statetest.BenchmarkIdentities(b, func(b *testing.B) store.Identities {
		return openIdentities(b, b.TempDir(), disk.Options{})
	})
}

func BenchmarkSent(b *testing.B) {
	statetest.BenchmarkSent(b, func(b *testing.B) store.Sent { return openSent(b, b.TempDir(), disk.Options{}) })
}
