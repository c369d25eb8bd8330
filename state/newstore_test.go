package state_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/internal/syncbuf"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/state/statetest"
)

// group is a consumer group that has, or has not, committed offsets.
func group(committed bool) state.Group {
	return state.Group{Topic: "events", ID: "refersion-relay", Committed: func(context.Context) (bool, error) { return committed, nil }}
}

// openLogged opens cfg's stores with a logger into logs.
func openLogged(t *testing.T, cfg config.State, logs *syncbuf.Buffer, opts ...state.Option) *state.Stores {
	t.Helper()
	s, err := state.Open(context.Background(), cfg, append(opts, state.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// wantRefused checks that err is CheckNew's refusal, naming what it must.
func wantRefused(t *testing.T, err error, names ...string) {
	t.Helper()
	var nse *state.NewStoreError
	if !errors.As(err, &nse) || !errors.Is(err, state.ErrNewStore) {
		t.Fatalf("CheckNew: %v, want a *state.NewStoreError", err)
	}
	for _, want := range append(names, `group "refersion-relay"`, "STATE_ACCEPT_NEW=true", "--accept-new-state") {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not name %q:\n%v", want, err)
		}
	}
}

// A sent.db lost (deleted, or emptied to 0 bytes) while the group kept its
// offsets is not taken for a new store: CheckNew refuses, naming the file
// and the way out, until told to accept it. Before, every order read again
// was sent again, without a word.
func TestCheckNewRefusesALostDiskStore(t *testing.T) {
	ctx := context.Background()
	cfg := stateConfig("disk")
	cfg.Dir = t.TempDir()
	path := filepath.Join(cfg.Dir, disk.SentFile)
	var logs syncbuf.Buffer

	// First start: the group has no offsets yet, so the store is adopted.
	s := openLogged(t, cfg, &logs)
	if err := s.CheckNew(ctx, group(false), false); err != nil {
		t.Fatalf("first start: %v", err)
	}
	first, _ := s.Origin(ctx)
	roundTrip(t, s)
	_ = s.Close()

	// A restart on the same store: not new.
	s = openLogged(t, cfg, &logs)
	if err := s.CheckNew(ctx, group(true), false); err != nil {
		t.Fatalf("restart on the same store: %v", err)
	}
	if o, _ := s.Origin(ctx); o.ID != first.ID || o.New {
		t.Fatalf("after a restart: %+v, want %+v", o, first)
	}
	_ = s.Close()

	for _, loss := range []struct {
		name string
		do   func() error
	}{
		{"emptied", func() error { return os.Truncate(path, 0) }},
		{"deleted", func() error { return os.Remove(path) }},
	} {
		t.Run(loss.name, func(t *testing.T) {
			if err := loss.do(); err != nil {
				t.Fatal(err)
			}
			s := openLogged(t, cfg, &logs)
			wantRefused(t, s.CheckNew(ctx, group(true), false), path, "deleted, emptied")
			_ = s.Close()
			// Refused again on the next start: the refusal adopted nothing.
			s = openLogged(t, cfg, &logs)
			wantRefused(t, s.CheckNew(ctx, group(true), false), path)
			logs.Take()
			if err := s.CheckNew(ctx, group(true), true); err != nil {
				t.Fatalf("told to accept: %v", err)
			}
			if out := logs.Take(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "may be sent again") {
				t.Errorf("accepting a new store is not warned:\n%s", out)
			}
			_ = s.Close()
			s = openLogged(t, cfg, &logs)
			if err := s.CheckNew(ctx, group(true), false); err != nil {
				t.Fatalf("the next start, on the accepted store: %v", err)
			}
		})
	}
}

// A Redis restarted without persistence is a new store: refused, naming
// the cause, while the group has offsets.
func TestCheckNewRefusesARedisThatLostTheStore(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	cfg := stateConfig("redis")
	cfg.RedisURL = config.NewURL(srv.URL())
	var logs syncbuf.Buffer
	s := openLogged(t, cfg, &logs)
	if err := s.CheckNew(ctx, group(false), false); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s = openLogged(t, cfg, &logs)
	if err := s.CheckNew(ctx, group(true), false); err != nil {
		t.Fatalf("restart on the same server: %v", err)
	}
	srv.Restart()
	s = openLogged(t, cfg, &logs)
	wantRefused(t, s.CheckNew(ctx, group(true), false), "restarted without persistence")
}

// A Redis flushed while the relay sends is refused at the next start, as
// one flushed while it was stopped, although the send in flight at the
// flush confirmed its order_id into the emptied server: the refusal says
// the store lost its id, and holds until accepted.
func TestCheckNewRefusesARedisFlushedWhileInUse(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	cfg := stateConfig("redis")
	cfg.RedisURL = config.NewURL(srv.URL())
	var logs syncbuf.Buffer
	s := openLogged(t, cfg, &logs)
	if err := s.CheckNew(ctx, group(false), false); err != nil {
		t.Fatal(err)
	}
	inFlight, err := s.Sent.Claim(ctx, "o-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	inFlight.Fingerprint = "v1:00"
	if err := s.Sent.Confirm(ctx, inFlight); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	for range 2 {
		s = openLogged(t, cfg, &logs)
		wantRefused(t, s.CheckNew(ctx, group(true), false), "key prefix", "lost its store id")
		_ = s.Close()
	}
	s = openLogged(t, cfg, &logs)
	logs.Take()
	if err := s.CheckNew(ctx, group(true), true); err != nil {
		t.Fatalf("told to accept: %v", err)
	}
	if out := logs.Take(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "may be sent again") {
		t.Errorf("accepting the lost store is not warned:\n%s", out)
	}
	_ = s.Close()
	s = openLogged(t, cfg, &logs)
	if err := s.CheckNew(ctx, group(true), false); err != nil {
		t.Fatalf("the next start, on the accepted store: %v", err)
	}
}

// CheckNew waits for a Redis that does not answer yet, saying so once.
func TestCheckNewWaitsForRedis(t *testing.T) {
	srv := statetest.StartRedis(t)
	cfg := stateConfig("redis")
	cfg.RedisURL = config.NewURL(srv.URL())
	var logs syncbuf.Buffer
	s := openLogged(t, cfg, &logs)
	logs.Take()
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.CheckNew(ctx, group(false), false) }()
	var seen string
	eventuallyTrue(t, "CheckNew says it waits", func() bool {
		seen += logs.Take()
		return strings.Contains(seen, "retrying until it answers")
	})
	srv.Restart()
	if err := <-done; err != nil {
		t.Fatalf("CheckNew after the server came back: %v", err)
	}
	if n := strings.Count(seen+logs.Take(), "retrying until it answers"); n != 1 {
		t.Errorf("%d waiting lines, want 1", n)
	}
}

// The memory backend is new at every start: refused while the group has
// offsets, unless accepted.
func TestCheckNewOnMemory(t *testing.T) {
	ctx := context.Background()
	var logs syncbuf.Buffer
	s := openLogged(t, stateConfig("memory"), &logs)
	wantRefused(t, s.CheckNew(ctx, group(true), false), "STATE_BACKEND=memory")
	if err := s.CheckNew(ctx, group(true), true); err != nil {
		t.Fatal(err)
	}
	if err := openLogged(t, stateConfig("memory"), &logs).CheckNew(ctx, group(false), false); err != nil {
		t.Fatal(err)
	}
}

// GroupCommitted asks the brokers whether the group committed an offset
// on the topic.
func TestGroupCommitted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Options{Topics: []broker.Topic{{Name: "events", Partitions: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := &kafka.Client{Addr: kafka.TCP(b.Addr()), Timeout: 10 * time.Second}
	for _, tc := range []struct{ topic, group string }{{"no-such-topic", "g"}, {"events", "g"}} {
		if got, err := state.GroupCommitted(ctx, c, tc.topic, tc.group); err != nil || got {
			t.Fatalf("GroupCommitted(%s, %s) before any commit: %v, %v", tc.topic, tc.group, got, err)
		}
	}
	res, err := c.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: "g", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"events": {{Partition: 2, Offset: 7}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range res.Topics["events"] {
		if ps.Error != nil {
			t.Fatal(ps.Error)
		}
	}
	g := state.KafkaGroup(c, "events", "g")
	if got, err := g.Committed(ctx); err != nil || !got {
		t.Fatalf("after a commit: %v, %v", got, err)
	}
	if got, err := state.GroupCommitted(ctx, c, "events", "other-group"); err != nil || got {
		t.Fatalf("another group: %v, %v", got, err)
	}
}

// Open logs where the disk state is, as an absolute path, whatever
// STATE_DIR's form.
func TestOpenLogsTheAbsoluteStateDir(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	cfg := stateConfig("disk")
	cfg.Dir = "./refersion-relay-state"
	var logs syncbuf.Buffer
	s := openLogged(t, cfg, &logs)
	abs := filepath.Join(root, "refersion-relay-state")
	if real, err := filepath.EvalSymlinks(root); err == nil && s.Dir != abs {
		abs = filepath.Join(real, "refersion-relay-state")
	}
	if s.Dir != abs {
		t.Fatalf("Stores.Dir = %q, want %q", s.Dir, abs)
	}
	if out := logs.Take(); !strings.Contains(out, "dir="+abs) || !strings.Contains(out, "state opened") {
		t.Fatalf("the start is not logged with %s:\n%s", abs, out)
	}
}

// With Existing, a state directory that does not exist is refused, and not
// created.
func TestExistingRefusesAMissingStateDir(t *testing.T) {
	cfg := stateConfig("disk")
	cfg.Dir = filepath.Join(t.TempDir(), "nowhere")
	_, err := state.Open(context.Background(), cfg, state.Existing())
	if err == nil || !strings.Contains(err.Error(), cfg.Dir) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Open of a missing directory: %v", err)
	}
	if _, err := os.Stat(cfg.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the directory was created: %v", err)
	}
}

// eventuallyTrue polls cond until it holds, failing the test after 20s.
func eventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-time.After(5 * time.Millisecond)
	}
}
