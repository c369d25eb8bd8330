package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

// forgetEnv sets the state variables and clears Kafka's and Refersion's,
// which forget must not need.
func forgetEnv(t *testing.T, env map[string]string) config.State {
	t.Helper()
	configEnv(t, nil)
	for _, k := range []string{"STATE_BACKEND", "STATE_DIR", "REDIS_URL"} {
		t.Setenv(k, env[k])
	}
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.State
}

// stored writes two people into the backend of cfg, and closes it.
func stored(t *testing.T, cfg config.State) (p, other storetest.Person) {
	t.Helper()
	s, err := state.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, other = storetest.WritePerson(t, s.Identities, "p"), storetest.WritePerson(t, s.Identities, "q")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return p, other
}

// wantForgotten checks that p is gone from the backend of cfg and other is not.
func wantForgotten(t *testing.T, cfg config.State, p, other storetest.Person) {
	t.Helper()
	ctx := context.Background()
	s, err := state.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range p.IDs() {
		if _, found, err := s.Identities.Lookup(ctx, id); found || err != nil {
			t.Errorf("Lookup(%s) after forget: found=%v, %v", id, found, err)
		}
	}
	if got, _, _ := s.Identities.Lookup(ctx, other.UserID); got != other.Traits {
		t.Errorf("another person was erased too: %+v", got)
	}
}

func TestForgetErasesFromDiskState(t *testing.T) {
	dir := t.TempDir()
	cfg := forgetEnv(t, map[string]string{"STATE_BACKEND": "disk", "STATE_DIR": dir})
	p, other := stored(t, cfg)
	var stdout bytes.Buffer
	if err := cmdForget(context.Background(), []string{"--anonymous-id", p.AnonymousID}, nil, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	if strings.Contains(out, p.AnonymousID) || !strings.Contains(out, "forgotten") || !strings.Contains(out, dir) {
		t.Errorf("output %q", out)
	}
	// WritePerson stores traits under 3 of the person's 4 ids, and 3 alias links.
	if !strings.Contains(out, "identity store: 6 records erased (3 traits, 3 alias links) under 4 ids") ||
		!strings.Contains(out, "sent-order store and ledger: 0 records erased") {
		t.Errorf("output does not count what was erased in each store:\n%s", out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, disk.IdentitiesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Strings() {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the file still holds %q", s)
		}
	}
	wantForgotten(t, cfg, p, other)
}

func TestForgetErasesFromRedisState(t *testing.T) {
	srv := statetest.StartRedis(t)
	cfg := forgetEnv(t, map[string]string{"STATE_BACKEND": "redis", "REDIS_URL": srv.URL()})
	p, other := stored(t, cfg)
	var stdout bytes.Buffer
	if err := cmdForget(context.Background(), []string{"--user-id", p.UserID}, nil, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if out := stdout.String(); !strings.Contains(out, "identity store: 6 records erased (3 traits, 3 alias links) under 4 ids") {
		t.Errorf("output does not count what was erased:\n%s", out)
	}
	wantForgotten(t, cfg, p, other)
	// A second time, there is nothing left to erase, and it says so.
	stdout.Reset()
	if err := cmdForget(context.Background(), []string{"--user-id", p.UserID}, nil, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if out := stdout.String(); !strings.Contains(out, "identity store: 0 records erased") {
		t.Errorf("a second forget:\n%s", out)
	}
}

// A STATE_DIR that does not exist (mistyped, or the default relative to
// another working directory) is refused: before, forget created it and
// reported success, having erased nothing.
func TestForgetRefusesAStateDirThatDoesNotExist(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "refersion-relay-state")
	forgetEnv(t, map[string]string{"STATE_BACKEND": "disk", "STATE_DIR": dir})
	var stdout bytes.Buffer
	err := cmdForget(context.Background(), []string{"--user-id", "u"}, nil, &stdout, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("forget in a missing STATE_DIR: %v, want an error naming %s", err, dir)
	}
	if strings.Contains(stdout.String(), "forgotten") {
		t.Errorf("reported success: %q", stdout.String())
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory was created: %v", err)
	}
}

func TestForgetNeedsAnID(t *testing.T) {
	forgetEnv(t, map[string]string{"STATE_BACKEND": "disk", "STATE_DIR": t.TempDir()})
	err := cmdForget(context.Background(), nil, nil, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, errUsage) {
		t.Fatalf("forget without ids: %v", err)
	}
}

func TestForgetRefusesTheMemoryBackend(t *testing.T) {
	forgetEnv(t, map[string]string{"STATE_BACKEND": "memory"})
	err := cmdForget(context.Background(), []string{"--user-id", "u"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "nothing to forget") {
		t.Fatalf("forget on memory: %v", err)
	}
}

func TestForgetReportsInvalidStateConfig(t *testing.T) {
	forgetEnv(t, map[string]string{"STATE_BACKEND": "redis"})
	err := cmdForget(context.Background(), []string{"--user-id", "u"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("forget without REDIS_URL: %v", err)
	}
}

func TestForgetWhileTheRelayHoldsTheDiskState(t *testing.T) {
	dir := t.TempDir()
	cfg := forgetEnv(t, map[string]string{"STATE_BACKEND": "disk", "STATE_DIR": dir})
	s, err := state.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = cmdForget(ctx, []string{"--user-id", "u"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, disk.ErrLocked) || !strings.Contains(err.Error(), "delete event") {
		t.Fatalf("forget while the directory is held: %v", err)
	}
}
