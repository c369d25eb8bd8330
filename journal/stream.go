package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// StreamPath is where the admin server serves the journal's stream.
const StreamPath = "/journal/stream"

// Stream serves a journal as server-sent events (text/event-stream), to
// `refersion-relay tail` and the console's page:
//
//	event: hello    data: {"epoch": ..., "next": ..., "size": ...}   first, once
//	event: outcome  data: an Entry; id: EPOCH.SEQ                    one per entry
//	event: lost     data: {"lost": N}                                N entries were overwritten
//	                                                                 before this follower read them
//
// Query parameters: order_id (repeatable) and outcome (repeatable, or a
// comma list) filter the entries; n is how many of the newest matching entries come
// first (a number, or all; default 0: only what comes next); since=SEQ with
// epoch=EPOCH, or a Last-Event-ID header, resume after an entry instead
// (from the oldest entry kept when the epoch is another process's);
// follow=false ends the stream after what is already kept.
type Stream struct {
	Journal *Journal
	// Done, when closed, ends every stream (the admin server shutting down).
	Done <-chan struct{}
	// Keepalive is the interval of comment lines that keep idle
	// connections open through proxies (default 15s).
	Keepalive time.Duration
}

// streamBatch is how many entries one wake-up reads at most.
const streamBatch = 256

func (s Stream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	j := s.Journal
	q := r.URL.Query()
	f := FilterFromQuery(q)
	follow := q.Get("follow") != "false"
	var cursor uint64
	var backlog []Entry
	epoch, since, resume := q.Get("epoch"), q.Get("since"), false
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		epoch, since, _ = strings.Cut(id, ".")
	}
	if since != "" {
		n, err := strconv.ParseUint(since, 10, 64)
		if err != nil {
			http.Error(w, "since: want the seq of an entry", http.StatusBadRequest)
			return
		}
		resume = true
		if epoch == j.Epoch() {
			cursor = n
		}
	}
	if !resume {
		n := 0
		switch v := q.Get("n"); v {
		case "":
		case "all":
			n = -1
		default:
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 0 {
				http.Error(w, "n: want a number of entries, or all", http.StatusBadRequest)
				return
			}
		}
		var next uint64
		backlog, next = j.Last(n, f)
		cursor = next - 1
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var buf bytes.Buffer
	send := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		buf.Reset()
		return rc.Flush() == nil
	}
	hello, _ := json.Marshal(map[string]any{"epoch": j.Epoch(), "next": j.Next(), "size": j.Size()})
	fmt.Fprintf(&buf, "retry: 1000\nevent: hello\ndata: %s\n\n", hello)
	for _, e := range backlog {
		writeEntry(&buf, j.Epoch(), e)
	}
	if !send() {
		return
	}
	wake, stop := j.Subscribe()
	defer stop()
	keepalive := s.Keepalive
	if keepalive <= 0 {
		keepalive = 15 * time.Second
	}
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		entries, lost := j.After(cursor, streamBatch)
		if lost > 0 {
			fmt.Fprintf(&buf, "event: lost\ndata: {\"lost\":%d}\n\n", lost)
		}
		for _, e := range entries {
			cursor = e.Seq
			if f.Match(e) {
				writeEntry(&buf, j.Epoch(), e)
			}
		}
		if buf.Len() > 0 && !send() {
			return
		}
		if len(entries) == streamBatch {
			continue
		}
		if !follow {
			return
		}
		select {
		case <-wake:
		case <-tick.C:
			buf.WriteString(": keepalive\n\n")
			if !send() {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.Done:
			return
		}
	}
}

func writeEntry(buf *bytes.Buffer, epoch string, e Entry) {
	b, _ := json.Marshal(e)
	fmt.Fprintf(buf, "id: %s.%d\nevent: outcome\ndata: %s\n\n", epoch, e.Seq, b)
}

// FilterFromQuery reads order_id (repeatable; an order_id may hold a comma)
// and outcome (repeatable, or a comma list).
func FilterFromQuery(q url.Values) Filter {
	var f Filter
	for _, v := range q["order_id"] {
		if v = strings.TrimSpace(v); v != "" {
			f.OrderIDs = append(f.OrderIDs, v)
		}
	}
	for _, v := range q["outcome"] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				f.Outcomes = append(f.Outcomes, s)
			}
		}
	}
	return f
}

// Query is f as the stream's query parameters.
func (f Filter) Query() url.Values {
	q := url.Values{}
	for _, id := range f.OrderIDs {
		q.Add("order_id", id)
	}
	for _, o := range f.Outcomes {
		q.Add("outcome", o)
	}
	return q
}
