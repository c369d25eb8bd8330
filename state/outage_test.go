package state_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/internal/syncbuf"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
)

// A redis outage under the stores Open built: every call fails as a
// store_unavailable naming the redis store, the redis client's own lines
// reach the logger given to Open (as one line when the outage starts and
// one when it ends), nothing reaches stderr, and the password never shows.
func TestRedisOutageGoesThroughTheLogger(t *testing.T) {
	const password = "hunter2-outage-secret"
	srv := statetest.StartRedis(t, "--requirepass", password)
	cfg := stateConfig("redis")
	cfg.RedisURL = config.NewURL("redis://:" + password + "@" + strings.TrimPrefix(srv.URL(), "redis://"))
	var logs syncbuf.Buffer
	s, err := state.Open(context.Background(), cfg, state.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Ping(context.Background()); err != nil { // also ends an outage an earlier test left
		t.Fatal(err)
	}
	logs.Take()

	stderr := statetest.CaptureStderr(t)
	srv.Stop()
	for name, op := range map[string]func(ctx context.Context) error{
		"Ping":   s.Ping,
		"Claim":  func(ctx context.Context) error { _, err := s.Sent.Claim(ctx, "o-1", time.Minute); return err },
		"Lookup": func(ctx context.Context) error { _, _, err := s.Identities.Lookup(ctx, "u"); return err },
		"Merge": func(ctx context.Context) error {
			return s.Identities.Merge(ctx, "u", mapping.Traits{Email: "u@example.com"})
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := op(ctx)
		cancel()
		var su *failure.StoreUnavailable
		if failure.KindOf(err) != failure.KindStoreUnavailable || !errors.As(err, &su) || !strings.HasPrefix(su.Store, "redis ") {
			t.Errorf("%s with the server down: %v (kind %s), want store_unavailable naming redis", name, err, failure.KindOf(err))
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
	down := logs.Take()
	srv.Restart()
	// go-redis's pool redials on its own schedule (about a second) after
	// PoolSize failed dials; until then calls fail as before.
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := s.Sent.Claim(context.Background(), "o-2", time.Minute)
		if err == nil && c.Status == store.Claimed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: %v, %v", c.Status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	up := logs.Take()
	if out := stderr(); out != "" {
		t.Errorf("written to stderr during the outage:\n%s", out)
	}
	t.Logf("logged while down:\n%slogged after the restart:\n%s", down, up)

	if n := strings.Count(down, "\n"); n != 1 || !strings.Contains(down, `"level":"WARN"`) || !strings.Contains(down, "redis state store failing") {
		t.Errorf("want one warn line while down, got:\n%s", down)
	}
	if n := strings.Count(up, "\n"); n != 1 || !strings.Contains(up, `"level":"INFO"`) || !strings.Contains(up, "answers again") {
		t.Errorf("want one info line after the restart, got:\n%s", up)
	}
	if strings.Contains(down+up, password) {
		t.Error("the log shows the password")
	}
}

func TestDiskPingNamesTheStore(t *testing.T) {
	cfg := stateConfig("disk")
	cfg.Dir = t.TempDir()
	s, err := state.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	err = s.Ping(context.Background())
	var su *failure.StoreUnavailable
	if !errors.As(err, &su) || !strings.Contains(su.Store, "disk") {
		t.Fatalf("Ping after Close: %v, want a StoreUnavailable naming the disk store", err)
	}
}
