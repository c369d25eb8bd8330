package e2e

import (
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

// SIGTERM while Refersion is down (breaker open, orders being redone, claims
// held with the default lease): the relay exits 0 within DRAIN_TIMEOUT plus a
// second, committing only what is done; once Refersion is back, a restart
// delivers every order exactly once.
func TestSIGTERMDuringAnOutageExitsWithinTheDrainTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	const drain = 3 * time.Second
	w := newWorld(t, 4000, sandbox.Options{Latency: 2 * time.Millisecond})
	dir := t.TempDir()
	env := []string{"DRAIN_TIMEOUT=3s", "STATE_BACKEND=disk", "STATE_DIR=" + dir}
	r := start(t, w, env...)
	waitFor(t, 60*time.Second, "first deliveries", func() bool { return len(w.Sandbox.Orders()) >= 10 }, r)
	w.Sandbox.SetDown(true)
	refused := w.Sandbox.Stats().DownRefused
	waitFor(t, 30*time.Second, "orders redone against the outage", func() bool { return w.Sandbox.Stats().DownRefused > refused+5 }, r)

	began := time.Now()
	if err := r.Stop(drain + time.Second); err != nil {
		t.Fatalf("exit after SIGTERM during an outage: %v\n%s", err, r.Stderr())
	}
	t.Logf("stopped in %v with Refersion down", time.Since(began))

	w.Sandbox.SetDown(false)
	r2 := start(t, w, env...)
	waitFor(t, 120*time.Second, "the rest of the stream", func() bool {
		return len(accepted(t, w)) == len(w.Valid) && w.Lag() == 0
	}, r2)
	for id, n := range accepted(t, w) {
		if n > 1 {
			t.Errorf("order %s delivered %d times", id, n)
		}
	}
}
