package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/console"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/replay"
)

const token = "test-token-0123456789"

// fakeDeadLetters holds records in memory.
type fakeDeadLetters struct{ records []console.DeadLetter }

func (f *fakeDeadLetters) List(_ context.Context, limit int) (console.Listing, error) {
	l := console.Listing{Total: int64(len(f.records))}
	for i := len(f.records) - 1; i >= 0 && len(l.Records) < limit; i-- {
		l.Records = append(l.Records, f.records[i])
	}
	return l, nil
}

func (f *fakeDeadLetters) Get(_ context.Context, ids []console.RecordID) ([]console.DeadLetter, error) {
	var out []console.DeadLetter
	for _, id := range ids {
		found := false
		for _, r := range f.records {
			if r.ID == id {
				out, found = append(out, r), true
			}
		}
		if !found {
			return nil, fmt.Errorf("record %s not found", id)
		}
	}
	return out, nil
}

// replayer records the replays asked for.
type replayer struct {
	mu    sync.Mutex
	calls []string // "dry N" or "real N"
}

func (r *replayer) replay(_ context.Context, recs []replay.Record, dryRun bool, out io.Writer) (replay.Summary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kind := "real"
	if dryRun {
		kind = "dry"
		for _, rec := range recs {
			fmt.Fprintf(out, `{"send":{"order_id":%q,"customer":{"email":"jane@example.com"}}}`+"\n", rec.DeadLetter.OrderID)
		}
	}
	r.calls = append(r.calls, fmt.Sprintf("%s %d", kind, len(recs)))
	return replay.Summary{Records: int64(len(recs)), Events: int64(len(recs)), Selected: int64(len(recs)), Delivered: int64(len(recs))}, nil
}

type rig struct {
	srv     *httptest.Server
	j       *journal.Journal
	dls     *fakeDeadLetters
	replays *replayer
}

func newRig(t *testing.T, tok string) *rig {
	t.Helper()
	j := journal.New(journal.Options{})
	dls := &fakeDeadLetters{records: []console.DeadLetter{{
		ID: console.RecordID{Partition: 0, Offset: 7}, Time: time.Now(),
		Record: deadletter.Record{Reason: deadletter.ReasonRejected, OrderID: "1042", Status: 422, Attempts: 1,
			Body:     `{"errors":["customer jane@example.com: cart unknown"]}`,
			Problems: []mapping.Problem{{Field: "cart_id", Reason: "unknown to Refersion"}},
			Customer: &mapping.Customer{Email: "jane@example.com", FirstName: "Jane"},
			Value:    []byte(`{"type":"track","event":"Order Completed","context":{"traits":{"email":"jane@example.com"}},"properties":{"order_id":"1042"}}`),
			Topic:    "events", Partition: 2, Offset: 99},
	}, {
		ID: console.RecordID{Partition: 0, Offset: 8}, Time: time.Now(),
		Record: deadletter.Record{Reason: deadletter.ReasonInvalid, OrderID: "1043", Value: []byte(`{"type":"track"}`),
			Problems: []mapping.Problem{{Field: "properties.currency", Reason: "missing"}}},
	}}}
	rp := &replayer{}
	c, err := console.New(console.Options{
		Journal: j, Version: "test", Topic: "events", Group: "relay", DeadLetterTopic: "events.refersion-dlq",
		Ready:       func(context.Context) (bool, string) { return false, "paused: refersion unavailable" },
		Breaker:     func() string { return "open" },
		Stats:       func() pipeline.Snapshot { return pipeline.Snapshot{Events: 100, Delivered: 3} },
		Lag:         func(context.Context) (map[int]int64, error) { return map[int]int64{0: 5, 1: 7}, nil },
		DeadLetters: dls, Replay: rp.replay, Token: tok,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &rig{srv: srv, j: j, dls: dls, replays: rp}
}

func (r *rig) get(t *testing.T, path string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(r.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (r *rig) replay(t *testing.T, tok string, dryRun bool, ids ...string) (int, console.ReplayResponse) {
	t.Helper()
	body, _ := json.Marshal(console.ReplayRequest{Records: ids, DryRun: dryRun})
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/api/replay", strings.NewReader(string(body)))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out console.ReplayResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func TestPageShowsStateOutcomesAndDeadLettersMasked(t *testing.T) {
	r := newRig(t, "")
	r.j.Add(journal.Entry{OrderID: "1041", Outcome: "delivered", Attempts: 1, LatencyMS: 12.5, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"})
	status, page, h := r.get(t, "/")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", status, h.Get("Content-Type"))
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("no CSP: %q", h.Get("Content-Security-Policy"))
	}
	for _, want := range []string{
		"paused", "paused: refersion unavailable", ">open<", "p0: 5", "p1: 7", // state
		`data-order-id="1041"`, "12.5 ms", "4bf92f3577b34da6a3ce929d0e0e4736", // outcomes
		`id="dl-0-7"`, "unknown to Refersion", "HTTP 422", "rejected <b>1</b>", "invalid <b>1</b>", // dead letters
		`id="read-only"`, // no token
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, leak := range []string{"jane@example.com", "Jane"} {
		if strings.Contains(page, leak) {
			t.Errorf("page shows %q", leak)
		}
	}
	if strings.Contains(page, `id="replay"`) {
		t.Error("read-only page offers the replay form")
	}
	for _, asset := range []string{"/console.js", "/console.css"} {
		if status, b, _ := r.get(t, asset); status != 200 || len(b) < 100 {
			t.Errorf("%s: %d, %d bytes", asset, status, len(b))
		}
	}
}

func TestSearchByOrderID(t *testing.T) {
	r := newRig(t, "")
	r.j.Add(journal.Entry{OrderID: "1041", Outcome: "delivered"})
	r.j.Add(journal.Entry{OrderID: "2000", Outcome: "skipped"})
	_, page, _ := r.get(t, "/?order_id=1041")
	results := page[strings.Index(page, `id="search-results"`):strings.Index(page, `id="recent"`)]
	if !strings.Contains(results, `data-order-id="1041"`) || strings.Contains(results, `data-order-id="2000"`) {
		t.Errorf("search results for 1041:\n%s", results)
	}
	_, page, _ = r.get(t, "/?order_id=1042")
	results = page[strings.Index(page, `id="search-results"`):strings.Index(page, `id="recent"`)]
	if !strings.Contains(results, `id="dl-0-7"`) {
		t.Errorf("the dead letter of 1042 is not among the results:\n%s", results)
	}
	_, page, _ = r.get(t, "/?order_id="+url.QueryEscape("nope"))
	if !strings.Contains(page, `id="not-found"`) {
		t.Error("no not-found message")
	}
}

func TestStateAPI(t *testing.T) {
	r := newRig(t, "")
	_, body, _ := r.get(t, "/api/state")
	var s console.State
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if s.Consuming || s.Reason != "paused: refersion unavailable" || s.Breaker != "open" || s.LagTotal != 12 || s.Counts.Delivered != 3 || !s.ReadOnly {
		t.Errorf("state %+v", s)
	}
}

func TestReplayNeedsTheTokenAndADryRunFirst(t *testing.T) {
	ro := newRig(t, "")
	if status, resp := ro.replay(t, token, true, "0-7"); status != http.StatusForbidden || !strings.Contains(resp.Error, "read-only") {
		t.Errorf("without ADMIN_TOKEN: %d %+v", status, resp)
	}

	r := newRig(t, token)
	_, page, _ := r.get(t, "/")
	if !strings.Contains(page, `id="replay"`) || strings.Contains(page, `id="read-only"`) {
		t.Error("with a token the page offers no replay form")
	}
	for _, tok := range []string{"", "wrong-token-0123456789", token + "x", token[:len(token)-1]} {
		if status, _ := r.replay(t, tok, true, "0-7"); status != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", tok, status)
		}
	}
	if status, resp := r.replay(t, token, false, "0-7"); status != http.StatusConflict || !strings.Contains(resp.Error, "dry-run") {
		t.Errorf("replay before a dry run: %d %+v", status, resp)
	}
	if status, _ := r.replay(t, token, true, "bogus"); status != http.StatusBadRequest {
		t.Errorf("bad record id: %d", status)
	}
	if status, _ := r.replay(t, token, true, "0-99"); status != http.StatusBadGateway {
		t.Errorf("unknown record: %d", status)
	}
	status, resp := r.replay(t, token, true, "0-7")
	if status != 200 || !resp.DryRun || resp.Summary.Delivered != 1 || !strings.Contains(resp.Text, "would send 1") || len(resp.Lines) != 1 {
		t.Fatalf("dry run: %d %+v", status, resp)
	}
	if strings.Contains(string(resp.Lines[0]), "jane@example.com") {
		t.Errorf("dry-run line shows the email: %s", resp.Lines[0])
	}
	// Another selection was not dry-run.
	if status, _ := r.replay(t, token, false, "0-7", "0-8"); status != http.StatusConflict {
		t.Errorf("replay of a selection not dry-run: %d", status)
	}
	status, resp = r.replay(t, token, false, "0-7")
	if status != 200 || resp.DryRun || !strings.Contains(resp.Text, "delivered 1") {
		t.Fatalf("replay: %d %+v", status, resp)
	}
	if status, _ := r.replay(t, token, false, "0-7"); status != http.StatusConflict {
		t.Errorf("a second replay without a new dry run: %d", status)
	}
	r.replays.mu.Lock()
	calls := strings.Join(r.replays.calls, ",")
	r.replays.mu.Unlock()
	if calls != "dry 1,real 1" {
		t.Errorf("replays %q, want dry 1,real 1", calls)
	}
	if e := r.j.Find("1042"); len(e) != 1 || e[0].Outcome != "replayed" {
		t.Errorf("journal after the replay: %+v", e)
	}
}

func TestStreamIsServed(t *testing.T) {
	r := newRig(t, "")
	r.j.Add(journal.Entry{OrderID: "1", Outcome: "delivered"})
	var got []string
	err := journal.Follow(context.Background(), r.srv.URL, journal.FollowOptions{Backlog: -1}, func(e journal.Entry) error {
		got = append(got, e.OrderID)
		return nil
	})
	if err != nil || strings.Join(got, ",") != "1" {
		t.Errorf("followed %v, %v", got, err)
	}
}
