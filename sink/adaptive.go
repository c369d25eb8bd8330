package sink

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// AdaptiveConfig sets adaptive concurrency: how many requests may be in
// flight to Refersion at once, found by watching its answers, like Vector's
// adaptive request concurrency.
type AdaptiveConfig struct {
	// Max caps the limit (PIPELINE_CONCURRENCY); 0 turns adaptation off:
	// no limit here beyond the caller's own.
	Max int
	// Tolerance is how much slower than its baseline a window's mean
	// latency may get before the limit backs off; default 0.5 (50%).
	Tolerance float64
}

// adaptiveSink limits the requests in flight to a limit it adapts, per
// window of about one round trip:
//
//	a 429 or 503, or a window's mean latency over baseline × (1+Tolerance)
//	    → limit × 0.9 (multiplicative decrease), slow start ends
//	else, if the limit was reached in the window
//	    → limit × 2 while in slow start, else limit + 1 (additive increase)
//
// capped at Max. The baseline is a moving average of the windows' mean
// latency while Refersion keeps up. It sits inside the retry layer, so each
// attempt takes a slot and is measured. Safe for concurrent use.
type adaptiveSink struct {
	next Sink
	cfg  AdaptiveConfig
	now  func() time.Time

	mu        sync.Mutex
	limit     float64
	inFlight  int
	changed   chan struct{} // closed and replaced when a slot frees or the limit grows
	slowStart bool
	baseline  time.Duration
	window    struct {
		start     time.Time
		sum       time.Duration
		n         int
		congested bool // a 429 or 503 answered in the window
		full      bool // the limit was reached in the window
	}
}

func newAdaptive(next Sink, cfg AdaptiveConfig) *adaptiveSink {
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 0.5
	}
	// It starts at 16 (or Max), not 1: slow start doubles from there, so a
	// slow destination is not held to one request for several round trips.
	start := float64(min(max(cfg.Max, 1), 16))
	return &adaptiveSink{next: next, cfg: cfg, now: time.Now, limit: start, changed: make(chan struct{}), slowStart: true}
}

// Limit returns the current limit.
func (a *adaptiveSink) Limit() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int(a.limit)
}

// Send implements Sink: it waits for a slot, then sends and measures.
func (a *adaptiveSink) Send(ctx context.Context, o mapping.Order) error {
	if err := a.acquire(ctx); err != nil {
		return err
	}
	start := a.now()
	err := a.next.Send(ctx, o)
	a.release(a.now().Sub(start), err)
	return err
}

func (a *adaptiveSink) acquire(ctx context.Context) error {
	for {
		a.mu.Lock()
		if a.inFlight < max(1, int(a.limit)) {
			a.inFlight++
			if a.inFlight >= int(a.limit) {
				a.window.full = true
			}
			a.mu.Unlock()
			return nil
		}
		a.window.full = true
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (a *adaptiveSink) release(rtt time.Duration, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inFlight--
	if backpressure(err) {
		a.window.congested = true
	} else if err == nil || failure.IsPermanent(err) {
		a.window.sum += rtt
		a.window.n++
	}
	a.endWindow()
	close(a.changed)
	a.changed = make(chan struct{})
}

// endWindow adapts the limit once a window of about one round trip is over.
func (a *adaptiveSink) endWindow() {
	now := a.now()
	w := &a.window
	if w.start.IsZero() {
		w.start = now
	}
	length := a.baseline
	if w.n > 0 {
		length = max(length, w.sum/time.Duration(w.n))
	}
	if now.Sub(w.start) < length || (w.n == 0 && !w.congested) {
		return
	}
	var mean time.Duration
	if w.n > 0 {
		mean = w.sum / time.Duration(w.n)
	}
	// Slower means by a margin people would notice too: at round trips of
	// a millisecond or less, scheduling noise alone moves the mean by 50%.
	slower := a.baseline > 0 && float64(mean) > float64(a.baseline)*(1+a.cfg.Tolerance) && mean-a.baseline > minLatencyRise
	switch {
	case w.congested || slower:
		a.limit = max(1, a.limit*0.9)
		a.slowStart = false
	case w.full && a.slowStart:
		a.limit = min(float64(a.cfg.Max), a.limit*2)
	case w.full:
		a.limit = min(float64(a.cfg.Max), a.limit+1)
	}
	if !w.congested && mean > 0 {
		if a.baseline == 0 {
			a.baseline = mean
		} else {
			a.baseline = (a.baseline*7 + mean) / 8
		}
	}
	*w = struct {
		start     time.Time
		sum       time.Duration
		n         int
		congested bool
		full      bool
	}{start: now}
}

// minLatencyRise is the least rise of the mean latency that backs off.
const minLatencyRise = 5 * time.Millisecond

// backpressure reports a 429 or 503: Refersion asks for fewer requests.
func backpressure(err error) bool {
	var r *failure.Retryable
	return errors.As(err, &r) && (r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable)
}
