package disk_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

var errInjected = errors.New("injected write failure")

func failCommits() error { return errInjected }

// crashCopy copies the identity file of dir, as a crash now would leave it,
// into a new directory, and opens the store there.
func crashCopy(t *testing.T, dir string) *disk.Identities {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, disk.IdentitiesFile))
	if err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	if err := os.WriteFile(filepath.Join(crashed, disk.IdentitiesFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return openIdentities(t, crashed, disk.Options{})
}

// flushEventually calls Flush until it returns nil: after a failure, Flush
// reports it until the writer's next attempt succeeds.
func flushEventually(t *testing.T, s *disk.Identities) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for err := s.Flush(context.Background()); err != nil; err = s.Flush(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatalf("Flush still failing after 10s: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantPerson fails unless every id of p looks up p's traits, or nothing
// when want is false.
func wantPerson(t *testing.T, s mapping.Identities, p storetest.Person, want bool) {
	t.Helper()
	for _, id := range p.IDs() {
		got, found, err := s.Lookup(context.Background(), id)
		if err != nil || found != want || want && got != p.Traits {
			t.Errorf("Lookup(%s) = %+v, %v, %v; want the person: %v", id, got, found, err, want)
		}
	}
}

// wantTraits fails unless id looks up want.
func wantTraits(t *testing.T, s mapping.Identities, id string, want mapping.Traits) {
	t.Helper()
	if got, _, err := s.Lookup(context.Background(), id); err != nil || got != want {
		t.Errorf("Lookup(%s) = %+v, %v; want %+v", id, got, err, want)
	}
}

func TestFlushMakesChangesDurable(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.OpenIdentities(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := storetest.WritePerson(t, s, "p")
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantPerson(t, crashCopy(t, dir), p, true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantPerson(t, openIdentities(t, dir, disk.Options{}), p, true)
}

func TestFailedCommitKeepsChangesUntilTheyAreWritten(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openIdentities(t, dir, disk.Options{})
	p := storetest.WritePerson(t, s, "p")
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	disk.SetCommitFault(s, failCommits)
	q := storetest.WritePerson(t, s, "q")
	wantPerson(t, s, q, true) // from memory
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for name, err := range map[string]error{"Flush": s.Flush(short), "Ping": s.Ping(ctx)} {
		var su *failure.StoreUnavailable
		if !errors.Is(err, errInjected) || failure.KindOf(err) != failure.KindStoreUnavailable ||
			!errors.As(err, &su) || su.Store != "disk identity store" {
			t.Fatalf("%s while commits fail: %v, want a StoreUnavailable naming the disk identity store", name, err)
		}
	}
	crashed := crashCopy(t, dir) // opens cleanly, without the unwritten change
	wantPerson(t, crashed, p, true)
	wantPerson(t, crashed, q, false)

	disk.SetCommitFault(s, nil)
	flushEventually(t, s)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping once commits succeed: %v", err)
	}
	wantPerson(t, crashCopy(t, dir), q, true)
}

func TestForgetOfUnwrittenPersonLeavesNoTrace(t *testing.T) {
	dir := t.TempDir()
	s := openIdentities(t, dir, disk.Options{ScrubDelay: time.Hour})
	disk.SetCommitFault(s, failCommits)
	p := storetest.WritePerson(t, s, "p")
	q := storetest.WritePerson(t, s, "q")
	if err := s.Forget(context.Background(), p.EarlierID); err != nil {
		t.Fatal(err)
	}
	wantPerson(t, s, p, false)
	wantPerson(t, s, q, true)
	disk.SetCommitFault(s, nil)
	flushEventually(t, s)
	path := filepath.Join(dir, disk.IdentitiesFile)
	noTrace(t, path, p.Strings()) // never written, even before the scrub
	if err := s.Scrub(); err != nil {
		t.Fatal(err)
	}
	noTrace(t, path, p.Strings())
	wantPerson(t, crashCopy(t, dir), q, true)
}

func TestCloseReportsUnwrittenChanges(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.OpenIdentities(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	disk.SetCommitFault(s, failCommits)
	p := storetest.WritePerson(t, s, "p")
	if err := s.Close(); !errors.Is(err, errInjected) {
		t.Fatalf("Close with unwritable changes: %v", err)
	}
	if err := s.Merge(context.Background(), "u", mapping.Traits{Email: "u@example.com"}); !errors.Is(err, disk.ErrClosed) {
		t.Fatalf("Merge after Close: %v", err)
	}
	wantPerson(t, openIdentities(t, dir, disk.Options{}), p, false)
}

func TestFullOverlayHoldsWritersBack(t *testing.T) {
	ctx := context.Background()
	s := openIdentities(t, t.TempDir(), disk.Options{MaxPending: 10})
	disk.SetCommitFault(s, failCommits)
	for i := range 10 { // one record each
		if err := s.Merge(ctx, fmt.Sprint("u", i), mapping.Traits{FirstName: "Ann"}); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.Merge(short, "u10", mapping.Traits{FirstName: "Ann"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Merge into a full overlay: %v", err)
	}
	wantTraits(t, s, "u9", mapping.Traits{FirstName: "Ann"})
	disk.SetCommitFault(s, nil)
	if err := s.Merge(ctx, "u10", mapping.Traits{FirstName: "Ann"}); err != nil {
		t.Fatalf("Merge once the writer catches up: %v", err)
	}
	wantTraits(t, s, "u10", mapping.Traits{FirstName: "Ann"})
}
