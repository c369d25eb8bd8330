// Package console is the relay's operator console, served by the admin
// server at /: the relay's state (consuming or paused and why, the breaker,
// lag per partition, rates), the recent outcomes of the journal updating live
// (server-sent events), search by order_id, and the dead-letter topic with
// each record's problems and Refersion's answer. Replaying selected dead
// letters (through the replay package, a dry run first) needs ADMIN_TOKEN;
// without it the console is read-only.
//
// The page is rendered on the server (html/template) and a small plain
// JavaScript file adds the live parts; both are embedded in the binary, so the
// console works without a CDN or a build step. Personal data is masked as in
// the logs unless LOG_PII is set (the journal's Masker).
package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/replay"
)

//go:embed assets
var assets embed.FS

// Options are what the console shows and does. Journal is required; a nil
// function or source leaves its part out.
type Options struct {
	Journal *journal.Journal
	Version string
	// Topic, Group and DeadLetterTopic name what the relay consumes and
	// where its dead letters go.
	Topic, Group, DeadLetterTopic string
	// Ready says whether the relay consumes, and if not, why (as /readyz).
	Ready func(ctx context.Context) (bool, string)
	// Breaker is the circuit breaker's state: closed, half-open or open.
	Breaker func() string
	Stats   func() pipeline.Snapshot
	// Lag is the consumer group's lag per partition; it is asked at most
	// every LagEvery (default 5s).
	Lag      func(ctx context.Context) (map[int]int64, error)
	LagEvery time.Duration
	// DeadLetters reads the dead-letter topic.
	DeadLetters DeadLetters
	// Replay replays dead-letter records (the replay package); dryRun
	// writes what would be done to out, one JSON line each.
	Replay func(ctx context.Context, records []replay.Record, dryRun bool, out io.Writer) (replay.Summary, error)
	// Token is ADMIN_TOKEN: actions need it as a bearer token. Empty makes
	// the console read-only.
	Token  string
	Logger *slog.Logger
	// Done, when closed, ends the journal's streams (the admin server
	// shutting down).
	Done <-chan struct{}
}

// Console serves the console. Create it with New; Close stops its sampler.
type Console struct {
	o     Options
	page  *template.Template
	rates *rates
	lag   lagCache
	stop  chan struct{}

	replayMu sync.Mutex // one replay at a time
	mu       sync.Mutex
	dryRuns  map[string]time.Time // selections dry-run, by key, when
}

// dryRunValid is how long a dry run of a selection allows replaying it.
const dryRunValid = 15 * time.Minute

// maxSelection bounds the records of one replay from the console.
const maxSelection = 500

// New returns a console and starts sampling the counters for the rates.
func New(o Options) (*Console, error) {
	if o.Journal == nil {
		return nil, errors.New("console: a journal is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LagEvery <= 0 {
		o.LagEvery = 5 * time.Second
	}
	page, err := template.New("console.html").Funcs(funcs).ParseFS(assets, "assets/console.html")
	if err != nil {
		return nil, err
	}
	c := &Console{o: o, page: page, stop: make(chan struct{}), dryRuns: map[string]time.Time{}}
	c.lag.every = o.LagEvery
	if o.Stats != nil {
		c.rates = newRates(o.Stats)
		go c.rates.run(time.Second, c.stop)
	}
	return c, nil
}

// Close stops the sampler.
func (c *Console) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
}

// Register adds the console's routes to mux: / (the page), /console.js,
// /console.css, /api/state, /api/replay and the journal's stream.
func (c *Console) Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", c.secure(http.HandlerFunc(c.servePage)))
	mux.Handle("GET /console.js", c.secure(c.asset("assets/console.js", "text/javascript; charset=utf-8")))
	mux.Handle("GET /console.css", c.secure(c.asset("assets/console.css", "text/css; charset=utf-8")))
	mux.Handle("GET /api/state", c.secure(http.HandlerFunc(c.serveState)))
	mux.Handle("POST /api/replay", c.secure(http.HandlerFunc(c.serveReplay)))
	mux.Handle("GET "+journal.StreamPath, journal.Stream{Journal: c.o.Journal, Done: c.o.Done})
}

// secure sets the headers every console response carries: no caching, no
// framing, nothing loaded from elsewhere.
func (c *Console) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (c *Console) asset(name, contentType string) http.Handler {
	b, err := assets.ReadFile(name)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(b)
	})
}

// authorized compares the request's bearer token with the configured one in
// constant time (of the SHA-256 of both, so that not even the length shows).
func (c *Console) authorized(r *http.Request) bool {
	if c.o.Token == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	a, b := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(c.o.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// State is what /api/state answers, and the page's state panel.
type State struct {
	Consuming bool             `json:"consuming"`
	Reason    string           `json:"reason,omitempty"`
	Breaker   string           `json:"breaker,omitempty"`
	Rates     Rates            `json:"rates"`
	Lag       map[string]int64 `json:"lag,omitempty"` // by partition
	LagTotal  int64            `json:"lag_total"`
	LagError  string           `json:"lag_error,omitempty"`
	Counts    Counts           `json:"counts"`
	Version   string           `json:"version"`
	Topic     string           `json:"topic"`
	Group     string           `json:"group"`
	ReadOnly  bool             `json:"read_only"`
	Time      time.Time        `json:"time"`
}

// Counts are the pipeline's totals since the relay started.
type Counts struct {
	Events       int64 `json:"events"`
	Orders       int64 `json:"orders"`
	Delivered    int64 `json:"delivered"`
	Skipped      int64 `json:"skipped"`
	DeadLettered int64 `json:"dead_lettered"`
	Redone       int64 `json:"redone"`
	InFlight     int64 `json:"in_flight"`
}

func (c *Console) state(ctx context.Context) State {
	s := State{Version: c.o.Version, Topic: c.o.Topic, Group: c.o.Group, ReadOnly: c.o.Token == "" || c.o.Replay == nil, Time: time.Now().UTC()}
	if c.o.Ready != nil {
		s.Consuming, s.Reason = c.o.Ready(ctx)
	}
	if c.o.Breaker != nil {
		s.Breaker = c.o.Breaker()
	}
	if c.o.Stats != nil {
		st := c.o.Stats()
		s.Counts = Counts{Events: st.Events, Orders: st.Orders, Delivered: st.Delivered, Skipped: st.Skipped,
			DeadLettered: st.DeadLetteredTotal(), Redone: st.Redone, InFlight: st.InFlight}
	}
	if c.rates != nil {
		s.Rates = c.rates.get()
	}
	if c.o.Lag != nil {
		lag, err := c.lag.get(ctx, c.o.Lag)
		if err != nil {
			s.LagError = err.Error()
		}
		if lag != nil {
			s.Lag = map[string]int64{}
			for p, n := range lag {
				s.Lag[strconv.Itoa(p)] = n
				s.LagTotal += n
			}
		}
	}
	return s
}

func (c *Console) serveState(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 4*time.Second)
	defer cancel()
	writeJSON(w, http.StatusOK, c.state(ctx))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// lagCache asks for the lag at most once per interval.
type lagCache struct {
	every time.Duration
	mu    sync.Mutex
	at    time.Time
	last  map[int]int64
	err   error
}

func (l *lagCache) get(ctx context.Context, ask func(context.Context) (map[int]int64, error)) (map[int]int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.at.IsZero() && time.Since(l.at) < l.every {
		return l.last, l.err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	l.last, l.err = ask(ctx)
	l.at = time.Now()
	return l.last, l.err
}

// Rates are per second, over the last ten seconds.
type Rates struct {
	Events       float64 `json:"events_per_s"`
	Delivered    float64 `json:"delivered_per_s"`
	DeadLettered float64 `json:"dead_lettered_per_s"`
}

// rates samples the counters every second and keeps the last eleven.
type rates struct {
	stats   func() pipeline.Snapshot
	mu      sync.Mutex
	samples []sample
}

type sample struct {
	at                              time.Time
	events, delivered, deadLettered int64
}

func newRates(stats func() pipeline.Snapshot) *rates {
	r := &rates{stats: stats}
	r.take()
	return r
}

func (r *rates) take() {
	s := r.stats()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, sample{time.Now(), s.Events, s.Delivered, s.DeadLetteredTotal()})
	if len(r.samples) > 11 {
		r.samples = slices.Delete(r.samples, 0, len(r.samples)-11)
	}
}

func (r *rates) run(every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.take()
		case <-stop:
			return
		}
	}
}

func (r *rates) get() Rates {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) < 2 {
		return Rates{}
	}
	a, b := r.samples[0], r.samples[len(r.samples)-1]
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return Rates{}
	}
	return Rates{Events: float64(b.events-a.events) / secs, Delivered: float64(b.delivered-a.delivered) / secs,
		DeadLettered: float64(b.deadLettered-a.deadLettered) / secs}
}

// RecordID names a record of the dead-letter topic: its partition and offset,
// written "P-O".
type RecordID struct {
	Partition int
	Offset    int64
}

func (id RecordID) String() string { return fmt.Sprintf("%d-%d", id.Partition, id.Offset) }

// ParseRecordID reads "P-O".
func ParseRecordID(s string) (RecordID, error) {
	p, o, ok := strings.Cut(s, "-")
	pn, err1 := strconv.Atoi(p)
	on, err2 := strconv.ParseInt(o, 10, 64)
	if !ok || err1 != nil || err2 != nil || pn < 0 || on < 0 {
		return RecordID{}, fmt.Errorf("record %q: want PARTITION-OFFSET", s)
	}
	return RecordID{pn, on}, nil
}

// DeadLetter is one record of the dead-letter topic.
type DeadLetter struct {
	ID     RecordID
	Time   time.Time // when it was written
	Record deadletter.Record
}

// Listing is the newest records of the dead-letter topic.
type Listing struct {
	Records []DeadLetter // newest first
	Total   int64        // records in the topic
	Missing bool         // the topic does not exist: nothing was dead-lettered yet
}

// DeadLetters reads the dead-letter topic; KafkaDeadLetters is the one the
// relay uses.
type DeadLetters interface {
	// List returns the newest records, at most limit.
	List(ctx context.Context, limit int) (Listing, error)
	// Get reads the records ids name, in that order.
	Get(ctx context.Context, ids []RecordID) ([]DeadLetter, error)
}
