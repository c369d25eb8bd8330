package disk

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/statetest"
)

// SetCommitFault makes every commit of s's writer call f first and fail
// with its error, if any, until SetCommitFault(s, nil). f may block, to
// hold the writer in a commit.
func SetCommitFault(s *Identities, f func() error) {
	if f == nil {
		s.wb.fault.Store(nil)
		return
	}
	s.wb.fault.Store(&f)
}

// stepClock advances a second at each reading, so that every change has
// its own time and early records expire during a test.
func stepClock() func() time.Time {
	var mu sync.Mutex
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

// dump returns every record of s's file, by bucket and key.
func dump(t *testing.T, s *Identities) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				out[string(name)+"/"+string(k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Once flushed, the file holds exactly what applying each change and
// waiting for it would have left, however the writer's batches fell and
// even when some of its commits failed and were retried.
func TestCommittedFileEqualsSynchronousApplication(t *testing.T) {
	ctx := context.Background()
	updates := statetest.Updates(t, 2000)
	for i := 97; i < len(updates); i += 97 { // some people are forgotten
		u := updates[i-50]
		updates[i] = mapping.IdentityUpdate{Kind: mapping.KindDelete, UserID: u.UserID, AnonymousID: u.AnonymousID}
	}
	open := func() *Identities {
		s, err := OpenIdentities(t.TempDir(), Options{TTL: 1500 * time.Second, Now: stepClock(), ScrubDelay: time.Hour, CommitPace: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	direct, behind := open(), open()
	for _, u := range updates {
		if err := mapping.Apply(ctx, direct, u); err != nil {
			t.Fatal(err)
		}
		if err := direct.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	commits := 0
	SetCommitFault(behind, func() error { // called for one commit at a time
		commits++
		if commits%5 == 0 {
			return errors.New("injected")
		}
		time.Sleep(time.Duration(commits%3) * time.Millisecond)
		return nil
	})
	for i, u := range updates {
		if err := mapping.Apply(ctx, behind, u); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if i%25 == 0 { // let batches of many sizes form
			time.Sleep(time.Millisecond)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); behind.Flush(ctx) != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Flush still failing after 10s")
		}
	}
	want, got := dump(t, direct), dump(t, behind)
	if len(got) != len(want) {
		t.Errorf("%d records, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("record %q = %x, want %x", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("record %q should not be there", k)
		}
	}
	t.Logf("%d records, %d commits", len(got), commits)
	if commits < 10 || !bytes.Equal([]byte(want["meta/dirty"]), []byte{1}) {
		t.Errorf("%d commits, dirty mark %q: the test did not exercise batches and forgets", commits, want["meta/dirty"])
	}
}

// A change that would only renew records written within 1% of the TTL is
// not written, so they expire a TTL after the write before it; a change of
// traits is written whenever it comes, and so is a renewal past that 1%.
func TestRenewalWithinAHundredthOfTheTTLIsLeftOut(t *testing.T) {
	ctx := context.Background()
	const ttl = 100 * time.Hour
	var mu sync.Mutex
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s, err := OpenIdentities(t.TempDir(), Options{TTL: ttl, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	accepted := func() uint64 { s.wb.mu.RLock(); defer s.wb.mu.RUnlock(); return s.wb.accepted }
	identify := func(user, anon string, tr mapping.Traits) {
		t.Helper()
		if err := s.Merge(ctx, user, tr); err != nil {
			t.Fatal(err)
		}
		if err := s.Link(ctx, anon, user); err != nil {
			t.Fatal(err)
		}
	}
	found := func(id string) bool {
		t.Helper()
		_, ok, err := s.Lookup(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	ann := mapping.Traits{Email: "ann@example.com", FirstName: "Ann"}

	identify("u1", "a1", ann)
	identify("u2", "a2", ann)
	if got := accepted(); got != 4 {
		t.Fatalf("first writes: %d changes accepted, want 4", got)
	}
	advance(ttl/100 - time.Minute)
	identify("u1", "a1", ann)
	identify("u1", "a1", mapping.Traits{Email: ann.Email}) // a subset of what is kept: no change
	if got := accepted(); got != 4 {
		t.Fatalf("renewals within 1%% of the TTL: %d changes accepted, want 4", got)
	}
	if err := s.Merge(ctx, "u2", mapping.Traits{LastName: "Lee"}); err != nil {
		t.Fatal(err)
	}
	if got := accepted(); got != 5 {
		t.Fatalf("a change of traits within 1%% of the TTL: %d changes accepted, want 5", got)
	}
	advance(2 * time.Minute) // past 1% of the TTL since the first writes
	identify("u2", "a2", ann)
	if got := accepted(); got != 6 {
		t.Fatalf("renewal past 1%% of the TTL: %d changes accepted, want 6 (the link renewed; u2's traits written a minute ago)", got)
	}
	advance(ttl - ttl/100 - time.Minute) // the first writes' TTL is over
	for id, want := range map[string]bool{"u1": false, "a1": false, "u2": true, "a2": true} {
		if got := found(id); got != want {
			t.Errorf("a TTL after the first writes: Lookup(%s) found = %v, want %v", id, got, want)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// A record that expires later than a write now would make it, because the
// TTL was shortened since, is written again with the shorter TTL.
func TestRenewalAfterTheTTLWasShortenedIsWritten(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	open := func(ttl time.Duration) *Identities {
		s, err := OpenIdentities(dir, Options{TTL: ttl, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ann := mapping.Traits{Email: "ann@example.com"}
	s := open(90 * 24 * time.Hour)
	if err := s.Merge(ctx, "u", ann); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(30 * 24 * time.Hour)
	defer s.Close()
	if err := s.Merge(ctx, "u", ann); err != nil {
		t.Fatal(err)
	}
	s.wb.mu.RLock()
	accepted := s.wb.accepted
	s.wb.mu.RUnlock()
	if accepted != 1 {
		t.Fatalf("%d changes accepted after the TTL was shortened, want 1 (the record rewritten to expire sooner)", accepted)
	}
	now = now.Add(31 * 24 * time.Hour)
	if _, found, err := s.Lookup(ctx, "u"); err != nil || found {
		t.Fatalf("Lookup 31 days later, with a TTL of 30: found = %v, %v; want nothing", found, err)
	}
}
