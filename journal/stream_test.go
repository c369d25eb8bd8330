package journal_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/journal"
)

// serve serves j's stream on loopback; closing done ends its streams.
func serve(t *testing.T, j *journal.Journal) (url string, done chan struct{}) {
	t.Helper()
	done = make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("GET "+journal.StreamPath, journal.Stream{Journal: j, Done: done, Keepalive: 50 * time.Millisecond})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			close(done)
		}
		srv.Close()
	})
	return srv.URL, done
}

// collector gathers followed entries for polling.
type collector struct {
	mu      sync.Mutex
	entries []journal.Entry
	notices []string
}

func (c *collector) add(e journal.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, e)
	return nil
}

func (c *collector) notice(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notices = append(c.notices, s)
}

func (c *collector) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ids(c.entries)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFollowReadsTheBacklogThenWhatComes(t *testing.T) {
	j := journal.New(journal.Options{})
	for i := 1; i <= 5; i++ {
		j.Add(journal.Entry{OrderID: fmt.Sprint(i), Outcome: "delivered"})
	}
	url, _ := serve(t, j)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &collector{}
	errc := make(chan error, 1)
	go func() {
		errc <- journal.Follow(ctx, url, journal.FollowOptions{Backlog: 2, Follow: true, Notice: c.notice}, c.add)
	}()
	waitFor(t, "the backlog", func() bool { return len(c.ids()) == 2 })
	j.Add(journal.Entry{OrderID: "6", Outcome: "rejected", DeadLettered: true})
	j.Add(journal.Entry{OrderID: "7", Outcome: "delivered"})
	waitFor(t, "the new entries", func() bool { return len(c.ids()) == 4 })
	if got := strings.Join(c.ids(), ","); got != "4,5,6,7" {
		t.Errorf("followed %s, want 4,5,6,7", got)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Follow after cancel: %v", err)
	}
}

func TestFollowFiltersAndStopsWithoutFollow(t *testing.T) {
	j := journal.New(journal.Options{})
	j.Add(journal.Entry{OrderID: "1", Outcome: "delivered"})
	j.Add(journal.Entry{OrderID: "2", Outcome: "invalid", DeadLettered: true})
	j.Add(journal.Entry{OrderID: "1", Outcome: "skipped"})
	j.Add(journal.Entry{OrderID: "a,b", Outcome: "delivered"})
	url, _ := serve(t, j)
	for _, tc := range []struct {
		f    journal.Filter
		want string
	}{
		{journal.Filter{}, "1,2,1,a,b"},
		{journal.Filter{OrderIDs: []string{"1"}}, "1,1"},
		{journal.Filter{OrderIDs: []string{"a,b"}}, "a,b"},
		{journal.Filter{Outcomes: []string{"dead_lettered", "skipped"}}, "2,1"},
	} {
		c := &collector{}
		err := journal.Follow(context.Background(), url, journal.FollowOptions{Backlog: -1, Filter: tc.f}, c.add)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(c.ids(), ","); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, got, tc.want)
		}
	}
}

// A follower that reconnects resumes after the last entry it read; across
// a restart (a new journal) it starts from the new journal's start.
func TestFollowResumesAcrossReconnectsAndRestarts(t *testing.T) {
	j := journal.New(journal.Options{})
	var mu sync.Mutex
	current := j
	var streams sync.WaitGroup
	stop := make(chan struct{}) // closed: every open stream ends
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+journal.StreamPath, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := journal.Stream{Journal: current, Done: stop}
		mu.Unlock()
		streams.Add(1)
		defer streams.Done()
		s.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &collector{}
	errc := make(chan error, 1)
	go func() {
		errc <- journal.Follow(ctx, srv.URL, journal.FollowOptions{Backlog: -1, Follow: true, Notice: c.notice}, c.add)
	}()
	j.Add(journal.Entry{OrderID: "1", Outcome: "delivered"})
	waitFor(t, "entry 1", func() bool { return len(c.ids()) == 1 })

	// The stream ends (a proxy timeout, say); entries come meanwhile.
	mu.Lock()
	close(stop)
	stop = make(chan struct{})
	mu.Unlock()
	j.Add(journal.Entry{OrderID: "2", Outcome: "delivered"})
	waitFor(t, "entry 2 after the reconnection", func() bool { return len(c.ids()) == 2 })

	// The relay restarts: a new journal whose sequence starts again at 1.
	restarted := journal.New(journal.Options{})
	restarted.Add(journal.Entry{OrderID: "3", Outcome: "delivered"})
	mu.Lock()
	current = restarted
	close(stop)
	stop = make(chan struct{})
	mu.Unlock()
	waitFor(t, "the restarted relay's entry", func() bool { return len(c.ids()) == 3 })
	if got := strings.Join(c.ids(), ","); got != "1,2,3" {
		t.Errorf("followed %s, want 1,2,3", got)
	}
	c.mu.Lock()
	notices := strings.Join(c.notices, "\n")
	c.mu.Unlock()
	if !strings.Contains(notices, "restarted") {
		t.Errorf("no notice of the restart: %q", notices)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

func TestStreamReportsLostEntries(t *testing.T) {
	j := journal.New(journal.Options{Size: 2})
	url, _ := serve(t, j)
	for i := 1; i <= 5; i++ {
		j.Add(journal.Entry{OrderID: fmt.Sprint(i), Outcome: "delivered"})
	}
	// Resume after entry 1 of this epoch while only 4 and 5 are kept.
	resp, err := http.Get(url + journal.StreamPath + "?follow=false&since=1&epoch=" + j.Epoch())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "event: lost\ndata: {\"lost\":2}") || !strings.Contains(string(b), `"order_id":"5"`) {
		t.Errorf("want a lost event for entries 2 and 3, then 4 and 5:\n%s", b)
	}
}

func TestFollowErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	err := journal.Follow(context.Background(), srv.URL, journal.FollowOptions{Follow: true}, func(journal.Entry) error { return nil })
	if !errors.Is(err, journal.ErrNoJournal) {
		t.Errorf("404: %v, want ErrNoJournal", err)
	}
	srv.Close()
	if err := journal.Follow(context.Background(), srv.URL, journal.FollowOptions{Follow: true}, func(journal.Entry) error { return nil }); err == nil {
		t.Error("no error from a server that is gone")
	}

	j := journal.New(journal.Options{})
	j.Add(journal.Entry{OrderID: "1", Outcome: "delivered"})
	url, _ := serve(t, j)
	stop := errors.New("enough")
	if err := journal.Follow(context.Background(), url, journal.FollowOptions{Backlog: -1, Follow: true}, func(journal.Entry) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: %v, want it returned", err)
	}
}

// A stream that goes silent (no keepalive) is taken for dead and resumed.
func TestFollowReconnectsASilentStream(t *testing.T) {
	var mu sync.Mutex
	connections := 0
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		connections++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: hello\ndata: {\"epoch\":\"e\",\"next\":1,\"size\":1}\n\n")
		w.(http.Flusher).Flush()
		select { // then nothing, as a connection lost without a word
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &collector{}
	errc := make(chan error, 1)
	go func() {
		errc <- journal.Follow(ctx, srv.URL, journal.FollowOptions{Follow: true, Idle: 50 * time.Millisecond, Notice: c.notice}, c.add)
	}()
	waitFor(t, "a second connection", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return connections >= 2
	})
	cancel()
	if err := <-errc; err != nil {
		t.Error(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.notices) == 0 || !strings.Contains(c.notices[0], "no word from the relay") {
		t.Errorf("notices %q", c.notices)
	}
}
