package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/statetest"
)

// Redis stopped under a running relay: /readyz names the state store (not
// Refersion), stderr holds only the relay's own structured lines (none of
// go-redis's raw ones), SIGTERM still exits within the drain time, and once
// Redis is back a restart delivers every order exactly once.
func TestRedisStoppedUnderRunIsNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary and redis-server")
	}
	redis := statetest.StartRedis(t)
	w := newWorld(t, 4000, sandbox.Options{Latency: time.Millisecond})
	env := []string{"STATE_BACKEND=redis", "REDIS_URL=" + redis.URL(), "LOG_LEVEL=info", "DRAIN_TIMEOUT=3s"}
	r := start(t, w, env...)
	waitFor(t, 60*time.Second, "first deliveries", func() bool { return len(w.Sandbox.Orders()) >= 10 }, r)
	addr := adminAddr(t, r)
	redis.Stop()

	var reason string
	waitFor(t, 30*time.Second, "/readyz to name the state store", func() bool {
		reason = readyz(addr)
		return strings.Contains(reason, "redis")
	}, r)
	t.Logf("/readyz with Redis down: %s", reason)
	if strings.Contains(reason, "refersion unavailable") {
		t.Errorf("/readyz blames Refersion for Redis: %q", reason)
	}
	if err := r.Stop(3*time.Second + time.Second); err != nil {
		t.Fatalf("exit after SIGTERM with Redis down: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.Stderr()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("stderr line not from the relay's logger: %s", line)
		}
	}

	// Orders delivered after the last commit that Redis let through (a
	// commit waits for the identity store) are read again after the
	// restart; with the record of what was sent gone, they may go again.
	before := accepted(t, w)
	redis.Restart() // without persistence: the record of what was sent is gone, and said so
	r2 := start(t, w, append(env, "STATE_ACCEPT_NEW=true")...)
	waitFor(t, 120*time.Second, "the rest of the stream", func() bool {
		return len(accepted(t, w)) == len(w.Valid) && w.Lag() == 0
	}, r2)
	again := 0
	for id, n := range accepted(t, w) {
		switch {
		case n > 2 || (n == 2 && before[id] != 1):
			t.Errorf("order %s delivered %d times", id, n)
		case n == 2:
			again++
		}
	}
	t.Logf("%d orders delivered before Redis was lost, after the last commit, sent again (the accepted loss of the sent record)", again)
}

// adminAddr reads the admin address from the relay's start line.
func adminAddr(t *testing.T, r *harness.Relay) string {
	t.Helper()
	addr, err := r.AdminAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// readyz is harness.Readyz.
func readyz(addr string) string { return harness.Readyz(addr) }
