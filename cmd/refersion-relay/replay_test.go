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

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
)

// replayEnv starts a broker whose dead-letter topic holds a rejected valid
// order, an invalid order and a malformed event, and a sandbox; it sets the
// environment replay reads, with disk state in a temporary directory.
func replayEnv(t *testing.T) *sandbox.Server {
	t.Helper()
	ctx := context.Background()
	w := harness.StartWorld(t, harness.Options{Partitions: 1})
	b, s := w.Broker, w.Sandbox
	dlq := deadletter.NewKafka([]string{b.Addr()}, "events.refersion-dlq", nil)
	defer dlq.Close()
	now := time.Now()
	for _, d := range []deadletter.Record{
		{Reason: deadletter.ReasonRejected, Status: 422, OrderID: "o-1", FirstFailure: now, Attempts: 1,
			Value: []byte(`{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"o-1","currency":"USD","products":[{"sku":"A","price":1}]}}`)},
		{Reason: deadletter.ReasonInvalid, FirstFailure: now,
			Value: []byte(`{"type":"track","event":"Order Completed","properties":{"order_id":"o-2","currency":"USD","products":[{"sku":"A","price":1}]}}`)},
		{Reason: deadletter.ReasonMalformed, FirstFailure: now, Value: []byte(`not json`)},
	} {
		if err := dlq.Write(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{
		"KAFKA_BROKERS": b.Addr(), "KAFKA_TOPIC": "events", "REFERSION_URL": s.Endpoint(), "REFERSION_API_KEY": sandbox.DefaultKeys,
		"STATE_BACKEND": "disk", "STATE_DIR": t.TempDir(), "LOG_LEVEL": "error", "REFERSION_RETRY_MAX_ATTEMPTS": "1",
	} {
		t.Setenv(k, v)
	}
	return s
}

func replayCode(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cmdReplay(context.Background(), args, nil, &out, &errOut)
	var ee *exitError
	switch {
	case err == nil:
		return 0, out.String() + errOut.String()
	case errors.As(err, &ee):
		return ee.code, out.String() + errOut.String() + ee.Error()
	case errors.Is(err, errUsage):
		return 2, err.Error()
	}
	t.Fatalf("replay returned %v", err)
	return -1, ""
}

func TestReplayExitCodesAndIdempotence(t *testing.T) {
	s := replayEnv(t)
	if code, out := replayCode(t, "--dry-run", "--reason", "rejected"); code != 0 || !strings.Contains(out, `{"send":`) || s.Stats().Requests != 0 {
		t.Fatalf("dry run: exit %d, %d requests, output %s", code, s.Stats().Requests, out)
	}
	if code, out := replayCode(t); code != 1 || !strings.Contains(out, "still invalid 2") {
		t.Fatalf("replay of everything: exit %d (want 1: one order is still invalid, one event malformed), output %s", code, out)
	}
	if st := s.Stats(); st.Accepted != 1 {
		t.Fatalf("sandbox accepted %d orders, want 1", st.Accepted)
	}
	if code, out := replayCode(t, "--reason", "rejected"); code != 0 || !strings.Contains(out, "skipped as already sent 1") {
		t.Fatalf("second replay: exit %d, output %s", code, out)
	}
	if st := s.Stats(); st.Accepted != 1 || st.Duplicates != 0 {
		t.Fatalf("second replay sent again: %+v", st)
	}
}

func TestReplayExportThenFile(t *testing.T) {
	replayEnv(t)
	path := filepath.Join(t.TempDir(), "dead.ndjson")
	if code, out := replayCode(t, "--export", path, "--reason", "rejected", "--reason", "malformed"); code != 0 || !strings.Contains(out, "exported 2") {
		t.Fatalf("export: exit %d, %s", code, out)
	}
	b, err := os.ReadFile(path)
	if err != nil || strings.Count(string(b), "\n") != 2 {
		t.Fatalf("export file: %v\n%s", err, b)
	}
	if code, out := replayCode(t, "--file", path, "--status", "422"); code != 0 || !strings.Contains(out, "delivered 1") {
		t.Fatalf("replay from file: exit %d, %s", code, out)
	}
}

func TestReplayUsageErrors(t *testing.T) {
	replayEnv(t)
	for _, args := range [][]string{
		{"--source-topic", "events"},
		{"--file", "x", "--source-topic", "events", "--since", "1h"},
		{"--status", "abc"},
		{"--since", "yesterday"},
	} {
		if code, _ := replayCode(t, args...); code != 2 {
			t.Errorf("replay %v: exit %d, want 2", args, code)
		}
	}
}

func TestReplayWithMemoryStateRefusesUnlessAllowed(t *testing.T) {
	s := replayEnv(t)
	t.Setenv("STATE_BACKEND", "memory")
	if code, out := replayCode(t); code != 2 || !strings.Contains(out, "--allow-resend") || s.Stats().Requests != 0 {
		t.Fatalf("replay with memory state: exit %d, %d requests, output %s", code, s.Stats().Requests, out)
	}
	if code, out := replayCode(t, "--dry-run", "--reason", "rejected"); code != 0 {
		t.Fatalf("a dry run needs no sent-order history: exit %d, %s", code, out)
	}
	if code, out := replayCode(t, "--allow-resend", "--reason", "rejected"); code != 0 || s.Stats().Accepted != 1 {
		t.Fatalf("--allow-resend: exit %d, accepted %d, output %s", code, s.Stats().Accepted, out)
	}
}
