// Package e2e runs the refersion-relay binary as a separate process against
// an in-process broker and sandbox, and kills it.
package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "refersion-relay-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary, err = harness.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newWorld starts a broker and a sandbox and produces n generated events.
func newWorld(t testing.TB, n int, sb sandbox.Options) *harness.World {
	t.Helper()
	w, err := harness.NewWorld(sb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if err := w.Produce(n, 1); err != nil {
		t.Fatal(err)
	}
	return w
}

// start runs the relay binary for w; it is killed when the test ends.
func start(t testing.TB, w *harness.World, env ...string) *harness.Relay {
	t.Helper()
	r, err := harness.Start(binary, w.Env(env...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Kill)
	return r
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool, relays ...*harness.Relay) {
	t.Helper()
	if err := harness.WaitFor(limit, what, cond, relays...); err != nil {
		t.Fatal(err)
	}
}

func accepted(t testing.TB, w *harness.World) map[string]int {
	t.Helper()
	got, err := w.Accepted()
	if err != nil {
		t.Fatal(err)
	}
	return got
}
