package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
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

// TestReplayReasonsAreChecked: an unknown --reason is a usage error listing
// the valid ones; each valid one is accepted.
func TestReplayReasonsAreChecked(t *testing.T) {
	replayEnv(t)
	code, out := replayCode(t, "--reason", "bogus")
	if code != 2 || !strings.Contains(out, "invalid, malformed, identity, rejected, panic, undelivered") {
		t.Fatalf("--reason bogus: exit %d, %s", code, out)
	}
	for _, r := range deadLetterReasons {
		if code, out := replayCode(t, "--dry-run", "--reason", r); code == 2 {
			t.Errorf("--reason %s: exit 2, %s", r, out)
		}
	}
}

// TestReplayWithoutADeadLetterTopic: nothing was dead-lettered yet, so
// there is nothing to replay, and that is no error; --export writes an
// empty file, which --file then replays as nothing.
func TestReplayWithoutADeadLetterTopic(t *testing.T) {
	replayEnv(t)
	t.Setenv("KAFKA_DLQ_TOPIC", "never-written")
	if code, out := replayCode(t); code != 0 || !strings.Contains(out, "nothing to replay: the dead-letter topic never-written does not exist yet") {
		t.Fatalf("replay: exit %d, %s", code, out)
	}
	path := filepath.Join(t.TempDir(), "failed.ndjson")
	if code, out := replayCode(t, "--export", path); code != 0 || !strings.Contains(out, "exported 0") {
		t.Fatalf("export: exit %d, %s", code, out)
	}
	if code, out := replayCode(t, "--file", path); code != 0 {
		t.Fatalf("replay of the empty export: exit %d, %s", code, out)
	}
}

// TestReplayOutputIsPlain: the last progress line has the final counts,
// a dry run says "would send", and the summary says that invalid events
// stay invalid and how to select the others.
func TestReplayOutputIsPlain(t *testing.T) {
	replayEnv(t)
	var stdout, stderr bytes.Buffer
	err := cmdReplay(context.Background(), []string{"--dry-run"}, nil, &stdout, &stderr)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("dry run of everything: %v (want exit 1: two events are still invalid)\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "replayed ") })
	if i < 1 {
		t.Fatalf("no progress line before the summary:\n%s", stderr.String())
	}
	if last := lines[i-1]; !strings.HasPrefix(last, "3/3 records (100%") || !strings.Contains(last, "would send 1") || strings.Contains(last, "delivered") {
		t.Errorf("last progress line %q", last)
	}
	summary := strings.Join(lines[i:], "\n")
	for _, want := range []string{"would send 1", "still invalid 2", "invalid for good", "--reason rejected --reason undelivered"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if !strings.Contains(ee.Error(), "2 events are still invalid") || strings.Contains(ee.Error(), "failed again") {
		t.Errorf("error %q", ee.Error())
	}
}
