package disk_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

// recovering is a store whose commits fail until its first Flush: the file
// comes back then, and Flush must see every change through.
type recovering struct{ *disk.Identities }

func (r recovering) Flush(ctx context.Context) error {
	disk.SetCommitFault(r.Identities, nil)
	return r.Identities.Flush(ctx)
}

// The contract holds whatever the writer does: with every commit failing,
// the store answers from memory alone (until a Flush, which cannot succeed
// while they fail: the file then recovers first); with slow commits, from
// memory and the file at once.
func TestIdentitiesConformWhileCommitsLag(t *testing.T) {
	for name, fault := range map[string]func() error{
		"Failing": failCommits,
		"Slow":    func() error { time.Sleep(time.Millisecond); return nil },
	} {
		t.Run(name, func(t *testing.T) {
			storetest.TestIdentities(t, func(t *testing.T) store.Identities {
				s := openIdentities(t, t.TempDir(), disk.Options{})
				disk.SetCommitFault(s, fault)
				if name == "Failing" {
					return recovering{s}
				}
				return s
			})
			storetest.TestIdentityExpiry(t, time.Hour, func(t *testing.T, ttl time.Duration) (store.Identities, storetest.Advance) {
				c := newClock()
				s := openIdentities(t, t.TempDir(), disk.Options{TTL: ttl, Now: c.Now})
				disk.SetCommitFault(s, fault)
				return s, c.Advance
			})
		})
	}
}

// Writers, readers and flushes at once, with a small overlay so that
// writers also wait for the writer: every change is kept, in memory and
// then in the file.
func TestConcurrentChangesLookupsAndFlushes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := disk.OpenIdentities(dir, disk.Options{MaxPending: 64})
	if err != nil {
		t.Fatal(err)
	}
	const partitions, people = 4, 200
	var writers, others sync.WaitGroup
	done := make(chan struct{})
	for g := range partitions {
		writers.Go(func() {
			for i := range people {
				u, a := fmt.Sprint("u", g, "-", i), fmt.Sprint("a", g, "-", i)
				for _, err := range []error{
					s.Merge(ctx, a, mapping.Traits{FirstName: u}),
					s.Link(ctx, a, u),
					s.Merge(ctx, u, mapping.Traits{Email: u + "@example.com"}),
				} {
					if err != nil {
						t.Error(err)
					}
				}
				if got, _, err := s.Lookup(ctx, a); err != nil || got.Email != u+"@example.com" {
					t.Errorf("Lookup(%s) right after writing = %+v, %v", a, got, err)
				}
			}
		})
	}
	others.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := s.Flush(ctx); err != nil {
				t.Error(err)
			}
		}
	})
	writers.Wait()
	close(done)
	others.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openIdentities(t, dir, disk.Options{})
	for g := range partitions {
		for i := range people {
			u := fmt.Sprint("u", g, "-", i)
			wantTraits(t, s, fmt.Sprint("a", g, "-", i), mapping.Traits{Email: u + "@example.com", FirstName: u})
		}
	}
}

// BenchmarkIdentitiesFlush measures throughput with durability: one op is
// 10,000 identifies and aliases applied by one writer, then one Flush.
func BenchmarkIdentitiesFlush(b *testing.B) {
	ctx := context.Background()
	updates := statetest.Updates(b, 10000)
	s := openIdentities(b, b.TempDir(), disk.Options{})
	for b.Loop() {
		for _, u := range updates {
			if err := mapping.Apply(ctx, s, u); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(updates))/b.Elapsed().Seconds(), "identifies/s")
}
