package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/disk"
)

// runUntilSomeDelivered runs the relay with env until it has delivered
// some orders, then stops it with SIGTERM.
func runUntilSomeDelivered(t *testing.T, w *harness.World, env ...string) {
	t.Helper()
	r := start(t, w, env...)
	waitFor(t, 60*time.Second, "some deliveries", func() bool { return len(w.Sandbox.Orders()) >= len(w.Valid)/2 }, r)
	if err := r.Stop(30 * time.Second); err != nil {
		t.Fatalf("first run: %v", err)
	}
}

// cut truncates the file at path to its first two pages (its meta pages),
// as a full disk or a bad copy leaves it. Half its size is not always
// damage: bbolt grows a file ahead of the pages in use, and a file cut
// within that margin is whole.
func cut(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	twoPages := int64(2 * os.Getpagesize()) // bbolt's page size
	if st.Size() <= twoPages {
		t.Fatalf("%s is %d bytes: nothing past its meta pages to cut", path, st.Size())
	}
	if err := os.Truncate(path, twoPages); err != nil {
		t.Fatal(err)
	}
}

// A sent.db cut short stops `run` at once with an error that names the file
// and the way out, never a panic or a SIGBUS, and nothing is sent.
func TestRunOnADamagedSentFileStopsWithTheWayOut(t *testing.T) {
	w := newWorld(t, 20000, sandbox.Options{})
	dir := t.TempDir()
	env := []string{"STATE_BACKEND=disk", "STATE_DIR=" + dir}
	runUntilSomeDelivered(t, w, env...)
	path := filepath.Join(dir, disk.SentFile)
	cut(t, path)
	before := len(w.Sandbox.Orders())

	r := start(t, w, env...)
	select {
	case <-r.Exited():
	case <-time.After(30 * time.Second):
		t.Fatalf("run on a damaged sent.db did not stop; stderr:\n%s", r.Stderr())
	}
	stderr := r.Stderr()
	if r.Err() == nil {
		t.Errorf("run exited 0 on a damaged sent.db")
	}
	for _, want := range []string{path, "damaged", "backup", "STATE_ACCEPT_NEW"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	for _, bad := range []string{"panic", "SIGBUS", "goroutine "} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr shows a crash (%q):\n%s", bad, stderr)
		}
	}
	if after := len(w.Sandbox.Orders()); after != before {
		t.Errorf("%d orders sent on a damaged sent.db", after-before)
	}
}

// An identities.db cut short is set aside with a warning; `run` goes on
// and delivers the whole stream.
func TestRunOnADamagedIdentityFileSetsItAside(t *testing.T) {
	w := newWorld(t, 20000, sandbox.Options{})
	dir := t.TempDir()
	env := []string{"STATE_BACKEND=disk", "STATE_DIR=" + dir}
	runUntilSomeDelivered(t, w, env...)
	path := filepath.Join(dir, disk.IdentitiesFile)
	cut(t, path)

	r := start(t, w, env...)
	waitFor(t, 120*time.Second, "the whole stream", func() bool { return len(accepted(t, w)) == len(w.Valid) && w.Lag() == 0 }, r)
	if err := r.Stop(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("set aside as %v, want one file", aside)
	}
	if stderr := r.Stderr(); !strings.Contains(stderr, "set aside") || !strings.Contains(stderr, aside[0]) {
		t.Errorf("no warning naming %s:\n%s", aside[0], stderr)
	}
}
