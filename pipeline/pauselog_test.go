package pipeline

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestAFlappingPauseIsLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	l := newPauseLog(slog.New(slog.NewTextHandler(&buf, nil)))
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for range 13 { // the breaker flapping: paused, resumed, paused, ...
		l.change(false, "refersion unavailable")
		now = now.Add(100 * time.Millisecond)
		l.change(true, "")
		now = now.Add(100 * time.Millisecond)
	}
	if n := strings.Count(buf.String(), "consuming paused"); n != 1 {
		t.Errorf("%d pause lines for one flapping cause, want 1:\n%s", n, buf.String())
	}
	now = now.Add(time.Minute)
	l.change(false, "redis state store unavailable")
	now = now.Add(time.Minute)
	l.change(true, "")
	out := buf.String()
	if !strings.Contains(out, "redis state store unavailable") || !strings.Contains(out, "changes_not_logged=") || strings.Count(out, "consuming resumed") != 1 {
		t.Errorf("a new cause and its end should be logged, with what was left out:\n%s", out)
	}
}
