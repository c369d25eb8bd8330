package main

import (
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/storefront"
)

// BenchmarkAdaptive runs the relay (adaptive concurrency on, as by default)
// over a backlog of orders against two destinations:
//
//   - latency=300ms: the sandbox answering every order after 300 ms, with
//     PIPELINE_CONCURRENCY=512; the ceiling is 512 / 0.3 s = 1,707 orders/s.
//     It reports the orders/s accepted once past the first 2 s (slow start),
//     their share of the ceiling, and when the rate first reached 90% of it.
//   - throttle: the sandbox (20 ms latency) behind a stand-in for a rate
//     limit, which answers 429 to what exceeds a token bucket of 1,000
//     requests/s (a burst of 50); PIPELINE_CONCURRENCY=512. It reports the
//     orders/s accepted once past the first 2 s, their share of the rate,
//     and the share of all requests answered 429.
//
// Run with -benchtime=1x.
func BenchmarkAdaptive(b *testing.B) {
	relay, _ := binaries(b)
	b.Run("latency=300ms", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			const ceiling = 512 / 0.3
			m := runAdaptive(b, relay, sandbox.Options{Latency: 300 * time.Millisecond}, 0, 40000)
			steady := m.rate(2*time.Second, 0)
			b.ReportMetric(steady, "orders/s")
			b.ReportMetric(steady/ceiling, "of-ceiling")
			b.ReportMetric(m.reached(0.9*ceiling).Seconds(), "s-to-90%")
		}
	})
	b.Run("throttle", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			const limit = 1000
			m := runAdaptive(b, relay, sandbox.Options{Latency: 20 * time.Millisecond}, limit, 25000)
			steady := m.rate(2*time.Second, 0)
			b.ReportMetric(steady, "orders/s")
			b.ReportMetric(steady/limit, "of-limit")
			b.ReportMetric(float64(m.throttled)/float64(m.requests), "share-429")
		}
	})
}

// adaptiveRun is what the destination saw: when each order was accepted,
// and how many requests came and were answered 429.
type adaptiveRun struct {
	accepted            []time.Time
	requests, throttled int
	ended               time.Time // when the benchmark stopped waiting for orders left; zero if none were
}

// adaptiveRunFor is the longest a run is waited for.
const adaptiveRunFor = 40 * time.Second

// rate is the orders/s accepted from skip after the first to the last
// accepted order, less tail.
func (m *adaptiveRun) rate(skip, tail time.Duration) float64 {
	if len(m.accepted) < 2 {
		return 0
	}
	from, to := m.accepted[0].Add(skip), m.accepted[len(m.accepted)-1].Add(-tail)
	if !m.ended.IsZero() {
		to = m.ended
	}
	n := 0
	for _, t := range m.accepted {
		if !t.Before(from) && !t.After(to) {
			n++
		}
	}
	return float64(n) / to.Sub(from).Seconds()
}

// reached is when, counted from the first accepted order, the rate over a
// 500 ms window first reached r; -1 s if it never did.
func (m *adaptiveRun) reached(r float64) time.Duration {
	const window = 500 * time.Millisecond
	j := 0
	for i, t := range m.accepted {
		for t.Sub(m.accepted[j]) > window {
			j++
		}
		if float64(i-j+1)/window.Seconds() >= r {
			return t.Sub(m.accepted[0])
		}
	}
	return -time.Second
}

// runAdaptive produces a stream of n events, 40% of them orders, and runs
// the relay on it against the sandbox (with sb's faults) behind a
// front that counts requests and, when limit > 0, answers 429 above limit
// requests/s.
func runAdaptive(b *testing.B, relay string, sb sandbox.Options, limit float64, n int) *adaptiveRun {
	b.Helper()
	w, err := harness.NewWorld(sb)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	o := storefront.DefaultOptions()
	o.N, o.Orders, o.Invalid, o.Identifies = n, 0.4, 0, 0.1
	if _, err := w.ProduceWith(o); err != nil {
		b.Fatal(err)
	}
	front := &countingFront{next: w.Sandbox.Handler(), limit: limit, burst: limit / 20}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: front, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	r, err := harness.Start(relay, w.Env("PIPELINE_CONCURRENCY=512", "REFERSION_URL=http://"+ln.Addr().String()+sandbox.PaidOrderPath))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Kill()
	// Every order, or adaptiveRunFor: a relay that stalls (its breaker
	// open, say) is measured over that time rather than waited for.
	ended := time.Now().Add(adaptiveRunFor)
	all := func() bool { return len(w.Sandbox.Orders()) >= len(w.Valid) }
	if err := harness.WaitFor(adaptiveRunFor+time.Minute, "every order", func() bool { return all() || time.Now().After(ended) }, r); err != nil {
		b.Fatal(err)
	}
	m := front.result()
	if !all() {
		m.ended = time.Now()
	}
	return m
}

// countingFront is the benchmark's stand-in for a destination that limits
// its rate: a token bucket of limit requests/s holding at most burst; a
// request with no token is answered 429 at once. With limit 0 it only
// counts.
type countingFront struct {
	next         http.Handler
	limit, burst float64

	mu                  sync.Mutex
	tokens              float64
	last                time.Time
	accepted            []time.Time
	requests, throttled int
}

func (f *countingFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != sandbox.PaidOrderPath {
		f.next.ServeHTTP(w, r)
		return
	}
	now := time.Now()
	f.mu.Lock()
	f.requests++
	if f.limit > 0 {
		if f.last.IsZero() {
			f.tokens = f.burst
		} else {
			f.tokens = min(f.burst, f.tokens+now.Sub(f.last).Seconds()*f.limit)
		}
		f.last = now
		if f.tokens < 1 {
			f.throttled++
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"Too many requests"}`))
			return
		}
		f.tokens--
	}
	f.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w}
	f.next.ServeHTTP(rec, r)
	if rec.status == http.StatusOK {
		f.mu.Lock()
		f.accepted = append(f.accepted, time.Now())
		f.mu.Unlock()
	}
}

func (f *countingFront) result() *adaptiveRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	accepted := slices.Clone(f.accepted)
	slices.SortFunc(accepted, time.Time.Compare)
	return &adaptiveRun{accepted: accepted, requests: f.requests, throttled: f.throttled}
}

// statusRecorder notes the status a handler answers.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
