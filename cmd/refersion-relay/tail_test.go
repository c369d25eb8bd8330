package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/internal/syncbuf"
	"github.com/refersion-relay/refersion-relay/journal"
)

// serveJournal serves j's stream on loopback and returns the address.
func serveJournal(t *testing.T, j *journal.Journal) string {
	t.Helper()
	mux := http.NewServeMux()
	done := make(chan struct{})
	mux.Handle("GET "+journal.StreamPath, journal.Stream{Journal: j, Done: done})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(done); _ = srv.Close() })
	return ln.Addr().String()
}

func TestTailPrintsAndFilters(t *testing.T) {
	j := journal.New(journal.Options{})
	at := time.Date(2026, 12, 2, 12, 4, 5, 123e6, time.UTC)
	j.Add(journal.Entry{Time: at, OrderID: "1042", Outcome: "delivered", Attempts: 1, LatencyMS: 45.2, Partition: 2, Offset: 1187})
	j.Add(journal.Entry{Time: at, OrderID: "1043", Outcome: "rejected", DeadLettered: true, Status: 422, Attempts: 1, LatencyMS: 12,
		Body: `{"errors":["bad"]}`, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"})
	j.Add(journal.Entry{Time: at, Outcome: "malformed", DeadLettered: true, Reason: "not JSON"})
	addr := serveJournal(t, j)

	var out, errOut bytes.Buffer
	if err := cmdTail(context.Background(), []string{"--addr", addr, "--no-follow"}, nil, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"12:04:05.123Z  delivered                   order 1042  1 attempt  45.2 ms  p2@1187",
		`12:04:05.123Z  rejected (dead-lettered)    order 1043  HTTP 422  1 attempt  12.0 ms  p0@0  {"errors":["bad"]}  trace 4bf92f3577b34da6a3ce929d0e0e4736`,
		"12:04:05.123Z  malformed (dead-lettered)   (no order_id)  0.0 ms  p0@0  not JSON",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("tail printed\n%s\nwant\n%s", out.String(), strings.Join(want, "\n"))
	}

	out.Reset()
	if err := cmdTail(context.Background(), []string{"--addr", addr, "--no-follow", "--json", "--outcome", "dead_lettered", "--order-id", "1043"}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var e journal.Entry
	if err := json.Unmarshal(out.Bytes(), &e); err != nil || e.OrderID != "1043" || e.Status != 422 || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("--json --outcome dead_lettered --order-id 1043: %q (%v)", out.String(), err)
	}

	out.Reset()
	if err := cmdTail(context.Background(), []string{"--addr", addr, "--no-follow", "-n", "1"}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "malformed") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("-n 1: %q", out.String())
	}
}

func TestTailFollowsUntilInterrupted(t *testing.T) {
	j := journal.New(journal.Options{})
	addr := serveJournal(t, j)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- cmdTail(ctx, []string{"--addr", addr, "--json"}, nil, out, out) }()
	// Entries added once tail is connected (it subscribes on connecting;
	// entries before that would be in its backlog of 10 anyway).
	for i := 0; i < 3; i++ {
		j.Add(journal.Entry{OrderID: "o" + string(rune('1'+i)), Outcome: "delivered"})
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("tail printed %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("tail after an interrupt: %v", err)
	}
}

func TestTailErrors(t *testing.T) {
	if code, _, stderr := runCLI(t, "tail", "--outcome", "lost"); code != 2 || !strings.Contains(stderr, "want one of delivered") {
		t.Errorf("--outcome lost: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "tail", "-n", "-1"); code != 2 || !strings.Contains(stderr, "-n -1") {
		t.Errorf("-n -1: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "tail", "--addr", "127.0.0.1:1", "--no-follow"); code != 1 || !strings.Contains(stderr, "is the relay running") {
		t.Errorf("nothing listening: exit %d: %s", code, stderr)
	}
}
