package redisstore

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/internal/syncbuf"
)

func newTestLog(out *syncbuf.Buffer, now *time.Time) *clientLog {
	l := &clientLog{now: func() time.Time { return *now }}
	l.out.Store(slog.New(slog.NewTextHandler(out, nil)))
	return l
}

func TestClientLogWritesOneLinePerChangeOfState(t *testing.T) {
	ctx := context.Background()
	var out syncbuf.Buffer
	now := time.Unix(1000, 0)
	l := newTestLog(&out, &now)

	l.ok(ctx) // healthy: nothing to say
	if out.String() != "" {
		t.Fatalf("a success while healthy logged: %s", out.String())
	}
	l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %v", 5, "dial tcp 127.0.0.1:6379: connect: connection refused")
	l.failed(ctx, sentStore, "redis sent-order store unavailable: claim: connection refused")
	l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %v", 5, "connection refused")
	now = now.Add(90 * time.Second)
	l.ok(ctx)
	l.ok(ctx)

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines (failing, answers again), got %d:\n%s", len(lines), out.String())
	}
	for _, want := range []string{"level=WARN", "failing", "source=\"redis client\"", "connection pool: failed to dial after 5 attempts", "connection refused"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("first line lacks %q: %s", want, lines[0])
		}
	}
	if strings.Contains(lines[0], "redis: connection pool") {
		t.Errorf("go-redis's own prefix kept: %s", lines[0])
	}
	for _, want := range []string{"level=INFO", "answers again", "down_for=1m30s", "errors_not_logged=2"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("second line lacks %q: %s", want, lines[1])
		}
	}

	// A second outage is told again.
	l.failed(ctx, identityStore, "redis identity store unavailable: lookup: i/o timeout")
	if n := strings.Count(out.String(), "level=WARN"); n != 2 {
		t.Fatalf("a second outage logged %d warn lines in all, want 2:\n%s", n, out.String())
	}
}

func TestClientLogHidesPasswords(t *testing.T) {
	ctx := context.Background()
	var out syncbuf.Buffer
	now := time.Unix(0, 0)
	l := newTestLog(&out, &now)
	l.addSecret("hunter2-secret")
	l.Printf(ctx, "redis: auth with %s failed at %s", "hunter2-secret", "redis://user:other-pass@db:6379/0")
	got := out.String()
	if strings.Contains(got, "hunter2") || strings.Contains(got, "other-pass") {
		t.Fatalf("a password reached the log: %s", got)
	}
	if !strings.Contains(got, "auth with *** failed") || !strings.Contains(got, "redis://***@db:6379/0") {
		t.Fatalf("redacted line: %s", got)
	}
}

func TestClientLogDefaultsToSlogDefault(t *testing.T) {
	var out syncbuf.Buffer
	saved := slog.Default()
	defer slog.SetDefault(saved)
	slog.SetDefault(slog.New(slog.NewTextHandler(&out, nil)))
	l := &clientLog{now: time.Now}
	l.Printf(context.Background(), "redis: connection pool: failed to dial")
	if !strings.Contains(out.String(), "failing") {
		t.Fatalf("nothing through slog.Default(): %q", out.String())
	}
}
