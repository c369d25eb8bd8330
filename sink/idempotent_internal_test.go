package sink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The outage log on a test clock: an hour of failures is one line, then a
// reminder a minute; a store that flaps within outageQuiet of its last line
// is told by those reminders, not by a pair of lines per flap.
func TestOutageLogIsOneLinePerChangeAndAReminderAMinute(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	l := newOutageLog(slog.New(slog.NewTextHandler(&buf, nil)), func() time.Time { return now })
	down := errors.New("connection refused")
	take := func() []string {
		defer buf.Reset()
		return strings.FieldsFunc(buf.String(), func(r rune) bool { return r == '\n' })
	}

	// Ten minutes of failures, 100 a second.
	for range 10 * 60 * 100 {
		l.failed(ctx, "confirm", "o-1", down)
		now = now.Add(10 * time.Millisecond)
	}
	l.notRecorded()
	lines := take()
	if len(lines) != 10 { // the first line, then one reminder a minute
		t.Fatalf("%d lines for 10 minutes of failures, want 10:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "order_id=o-1") || !strings.Contains(lines[0], "connection refused") {
		t.Errorf("first line: %s", lines[0])
	}
	if !strings.Contains(lines[1], "still fails") || !strings.Contains(lines[1], "failures=") {
		t.Errorf("reminder: %s", lines[1])
	}
	l.ok(ctx)
	l.ok(ctx)
	lines = take()
	if len(lines) != 1 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], "not_recorded=1") {
		t.Fatalf("after the outage: %q", lines)
	}

	// Flapping: down and up every second for two minutes, starting 5s after
	// the recovery line.
	now = now.Add(5 * time.Second)
	for range 120 {
		l.failed(ctx, "renew", "o-2", down)
		now = now.Add(500 * time.Millisecond)
		l.ok(ctx)
		now = now.Add(500 * time.Millisecond)
	}
	lines = take()
	if len(lines) > 4 {
		t.Fatalf("%d lines for two minutes of flapping, want at most 4:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if len(lines) == 0 || !strings.Contains(lines[0], "outages=") {
		t.Fatalf("flapping was not told: %q", lines)
	}
}
