package state_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

// stateConfig is the default state configuration on backend.
func stateConfig(backend string) config.State {
	return config.State{Backend: backend, Dir: "unused", IdentityTTL: 90 * 24 * time.Hour, SentTTL: 30 * 24 * time.Hour, MemoryMaxEntries: 1000}
}

func open(t *testing.T, cfg config.State) *state.Stores {
	t.Helper()
	s, err := state.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// roundTrip writes a person and sends an order through s, and checks both.
func roundTrip(t *testing.T, s *state.Stores) {
	t.Helper()
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	p := storetest.WritePerson(t, s.Identities, "p")
	if got, _, err := s.Identities.Lookup(ctx, p.AnonymousID); err != nil || got != p.Traits {
		t.Fatalf("Lookup: %+v, %v", got, err)
	}
	c, err := s.Sent.Claim(ctx, "o-1", time.Minute)
	if err != nil || c.Status != store.Claimed {
		t.Fatalf("Claim: %v, %v", c.Status, err)
	}
	if err := s.Sent.Confirm(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func TestOpenEachBackend(t *testing.T) {
	t.Run("memory", func(t *testing.T) { roundTrip(t, open(t, stateConfig("memory"))) })
	t.Run("disk", func(t *testing.T) {
		cfg := stateConfig("disk")
		cfg.Dir = t.TempDir()
		roundTrip(t, open(t, cfg))
	})
	t.Run("redis", func(t *testing.T) {
		cfg := stateConfig("redis")
		cfg.RedisURL = config.NewURL(statetest.StartRedis(t).URL())
		roundTrip(t, open(t, cfg))
	})
}

func TestDiskStateOutlivesTheProcess(t *testing.T) {
	ctx := context.Background()
	cfg := stateConfig("disk")
	cfg.Dir = t.TempDir()
	s, err := state.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, cfg)
	if got, found, _ := s.Identities.Lookup(ctx, "user-p"); !found || got.Email != "mail-p@example.com" {
		t.Fatalf("identity after reopen: %+v", got)
	}
	if c, _ := s.Sent.Claim(ctx, "o-1", time.Minute); c.Status != store.AlreadySent {
		t.Fatalf("order after reopen: %v", c.Status)
	}
}

func TestOneDiskStateDirPerProcess(t *testing.T) {
	cfg := stateConfig("disk")
	cfg.Dir = t.TempDir()
	open(t, cfg)
	if _, err := state.Open(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open of one directory: %v", err)
	}
}

func TestInvalidConfigNamesTheVariable(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.State
		want string
	}{
		{stateConfig("sqlite"), "STATE_BACKEND"},
		{func() config.State { c := stateConfig("disk"); c.Dir = ""; return c }(), "STATE_DIR"},
		{stateConfig("redis"), "REDIS_URL"},
		{func() config.State { c := stateConfig("memory"); c.IdentityTTL = 0; return c }(), "IDENTITY_TTL"},
	} {
		_, err := state.Open(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s): %v, want an error naming %s", tc.cfg.Backend, err, tc.want)
		}
	}
}

func TestRedisDownIsUnreadyNotFatal(t *testing.T) {
	srv := statetest.StartRedis(t)
	cfg := stateConfig("redis")
	cfg.RedisURL = config.NewURL(srv.URL())
	s := open(t, cfg)
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping with the server down succeeded")
	}
	if _, _, err := s.Identities.Lookup(ctx, "u"); err == nil {
		t.Fatal("Lookup with the server down succeeded")
	}
}

func TestRedisErrorsHideThePassword(t *testing.T) {
	srv := statetest.StartRedis(t, "--requirepass", "right-password")
	cfg := stateConfig("redis")
	cfg.RedisURL = config.NewURL("redis://:hunter2-secret@" + strings.TrimPrefix(srv.URL(), "redis://"))
	err := open(t, cfg).Ping(context.Background())
	if err == nil {
		t.Fatal("Ping with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the error shows the password: %v", err)
	}
}
