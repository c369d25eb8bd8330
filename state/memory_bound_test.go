package state_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state"
)

// defaultState is the State configuration of an environment that sets
// nothing but STATE_BACKEND.
func defaultState(t *testing.T, backend string) config.State {
	t.Helper()
	for _, k := range []string{"STATE_DIR", "REDIS_URL", "REDIS_URL_FILE", "IDENTITY_TTL", "SENT_TTL",
		"STATE_MEMORY_MAX_ENTRIES", "STATE_MEMORY_MAX_BYTES", "STATE_ACCEPT_NEW"} {
		t.Setenv(k, "")
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("STATE_BACKEND", backend)
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.State
}

// podLimit is the container memory limit of the Kubernetes deployment.
func podLimit(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile("../deploy/kubernetes/base/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`limits:\s*\n(?:\s+cpu:.*\n)?\s+memory:\s*(\d+)Mi`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("no memory limit in deployment.yaml")
	}
	mi, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return mi << 20
}

// The memory backend's default bound is in bytes, and fits the pod: filled
// past it, its stores hold a heap within a fifth of STATE_MEMORY_MAX_BYTES,
// and that, with the relay's own peak (45 MiB measured under load, see
// deployment.yaml), leaves a quarter of the limit to the collector. Before,
// the bound was a million entries per store: 0.6 GB against 128 MiB.
func TestMemoryBackendFitsThePodLimit(t *testing.T) {
	ctx := context.Background()
	cfg := defaultState(t, "memory")
	limit, bound := podLimit(t), int64(cfg.MemoryMaxBytes)
	const relayPeak = 45 << 20
	if bound*6/5+relayPeak > limit*3/4 {
		t.Fatalf("STATE_MEMORY_MAX_BYTES is %d MiB by default: with the relay's %d MiB it does not fit three quarters of the pod's %d MiB",
			bound>>20, relayPeak>>20, limit>>20)
	}
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	s, err := state.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 200_000 {
		c, err := s.Sent.Claim(ctx, fmt.Sprintf("order-%07d", i), time.Minute)
		if err == nil {
			err = s.Sent.Confirm(ctx, c)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50_000 {
		u := fmt.Sprintf("user-%07d", i)
		err := mapping.Apply(ctx, s.Identities, mapping.IdentityUpdate{Kind: mapping.KindIdentify, UserID: u,
			AnonymousID: fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", i, i%65536, i%4096, i%4096, i*13),
			Traits:      mapping.Traits{Email: u + "@example.com", FirstName: "Ann", LastName: "Lee"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	grown := heap() - before
	t.Logf("heap grew %.1f MiB for STATE_MEMORY_MAX_BYTES of %d MiB (pod limit %d MiB)", float64(grown)/(1<<20), bound>>20, limit>>20)
	if grown > bound*6/5 {
		t.Fatalf("the stores hold %d MiB of heap for a bound of %d MiB", grown>>20, bound>>20)
	}
	runtime.KeepAlive(s)
}
