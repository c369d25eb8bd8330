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
