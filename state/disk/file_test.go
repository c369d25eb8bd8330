package disk_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

// noTrace fails if the file at path holds any of strs, anywhere in its bytes.
func noTrace(t *testing.T, path string, strs []string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range strs {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("%s still holds %q", filepath.Base(path), s)
		}
	}
}

func TestWritesOutliveARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ids, err := disk.OpenIdentities(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sent := openSent(t, dir, disk.Options{})
	p := storetest.WritePerson(t, ids, "p")
	c, _ := sent.Claim(ctx, "o-1", time.Minute)
	if err := sent.Confirm(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := ids.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sent.Close(); err != nil {
		t.Fatal(err)
	}
	ids = openIdentities(t, dir, disk.Options{})
	if got, _, _ := ids.Lookup(ctx, p.AnonymousID); got != p.Traits {
		t.Fatalf("after reopen: %+v, want %+v", got, p.Traits)
	}
	if c, _ := openSent(t, dir, disk.Options{}).Claim(ctx, "o-1", time.Minute); c.Status != store.AlreadySent {
		t.Fatalf("sent order after reopen: %v", c.Status)
	}
}

func TestSecondProcessIsLockedOut(t *testing.T) {
	dir := t.TempDir()
	openIdentities(t, dir, disk.Options{})
	_, err := disk.OpenIdentities(dir, disk.Options{LockTimeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v", err)
	}
}

func TestForgetLeavesNoTraceInTheFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openIdentities(t, dir, disk.Options{ScrubDelay: time.Hour})
	p := storetest.WritePerson(t, s, "p")
	other := storetest.WritePerson(t, s, "q")
	if err := s.Forget(ctx, p.OtherDevice); err != nil {
		t.Fatal(err)
	}
	if err := s.Scrub(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, disk.IdentitiesFile)
	noTrace(t, path, p.Strings())
	if got, _, _ := s.Lookup(ctx, other.UserID); got != other.Traits {
		t.Fatalf("other person after scrub: %+v", got)
	}
}

func TestForgetIsScrubbedAfterACrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openIdentities(t, dir, disk.Options{ScrubDelay: time.Hour})
	p := storetest.WritePerson(t, s, "p")
	if err := s.Forget(ctx, p.UserID); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A copy of the file as a crash would leave it: forgotten, not scrubbed.
	raw, err := os.ReadFile(filepath.Join(dir, disk.IdentitiesFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before the scrub, the file holds the email: %v", bytes.Contains(raw, []byte(p.Traits.Email)))
	crashed := t.TempDir()
	if err := os.WriteFile(filepath.Join(crashed, disk.IdentitiesFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	openIdentities(t, crashed, disk.Options{})
	noTrace(t, filepath.Join(crashed, disk.IdentitiesFile), p.Strings())
}

func TestForgetIsScrubbedOnClose(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.OpenIdentities(dir, disk.Options{ScrubDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p := storetest.WritePerson(t, s, "p")
	if err := s.Forget(context.Background(), p.AnonymousID); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	noTrace(t, filepath.Join(dir, disk.IdentitiesFile), p.Strings())
}

func TestForgetIsScrubbedAfterTheDelay(t *testing.T) {
	dir := t.TempDir()
	s := openIdentities(t, dir, disk.Options{ScrubDelay: time.Millisecond})
	p := storetest.WritePerson(t, s, "p")
	if err := s.Forget(context.Background(), p.UserID); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, disk.IdentitiesFile)
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw, err := os.ReadFile(path)
		if err == nil && !bytes.Contains(raw, []byte(p.Traits.Email)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the file still holds the email 10s after Forget")
		}
		time.Sleep(5 * time.Millisecond)
	}
	noTrace(t, path, p.Strings())
}

func TestSweepDeletesExpiredRecords(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	dir := t.TempDir()
	s := openIdentities(t, dir, disk.Options{TTL: time.Hour, Now: c.Now, ScrubDelay: time.Hour})
	for i := range 1100 { // more than one sweep chunk
		id := "u" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String()
		if err := s.Link(ctx, "a-"+id, id); err != nil {
			t.Fatal(err)
		}
		if err := s.Merge(ctx, id, mapping.Traits{Email: id + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	keep := storetest.WritePerson(t, s, "keep")
	c.Advance(59 * time.Minute)
	storetest.WritePerson(t, s, "keep") // renewed
	c.Advance(2 * time.Minute)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := s.Count()
	if err != nil {
		t.Fatal(err)
	}
	if want := (disk.Counts{Traits: 3, Links: 3, Back: 3}); n != want {
		t.Fatalf("records after sweep: %+v, want %+v", n, want)
	}
	if got, _, _ := s.Lookup(ctx, keep.EarlierID); got != keep.Traits {
		t.Fatalf("renewed person after sweep: %+v", got)
	}
}

func TestLongIDsAreStored(t *testing.T) {
	ctx := context.Background()
	s := openIdentities(t, t.TempDir(), disk.Options{})
	long := strings.Repeat("id", 20000) // past bbolt's key size limit
	other := long + "2"
	if err := s.Merge(ctx, long, mapping.Traits{Email: "long@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Link(ctx, other, long); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Lookup(ctx, other); got.Email != "long@example.com" {
		t.Fatalf("long id: %+v", got)
	}
	sent := openSent(t, t.TempDir(), disk.Options{})
	c, err := sent.Claim(ctx, long, time.Minute)
	if err != nil || sent.Confirm(ctx, c) != nil {
		t.Fatalf("long order_id: %v", err)
	}
}
