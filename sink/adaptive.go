package sink

import (
	"container/list"
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

// adaptiveSink limits the requests in flight to a limit it adapts, as TCP
// adapts its congestion window (additive increase, multiplicative decrease):
//
//	slow start (from 16): + 1 per request Refersion took while the limit
//	    was in use, so it doubles every round trip, a request or two at a
//	    time; it ends at the first 429 or 503 or the first slower window
//	a 429 or 503 to a request sent since the last decrease
//	    → limit × 0.5 if it ends slow start, else × 0.9, and at most what
//	      Refersion took in a round trip lately (slow start may overshoot
//	      it several times); answers to requests sent before a decrease are
//	      not counted again
//	a window that saw such a decrease and reached the limit, while every
//	window since slow start ended on a refusal has seen one
//	    → at most 90% of what Refersion took in it, per round trip (a
//	      margin for answers that come in bunches): once slow start has
//	      overshot a rate limit, the limit comes down to the rate in a round
//	      trip or two, not by a tenth per round trip
//	a window (about one round trip) whose mean latency is over
//	baseline × (1+Tolerance)
//	    → limit × 0.9
//	a window that reached the limit, after slow start
//	    → limit + 1, but only every probeEvery such windows while the limit
//	      is within 5% of where Refersion last refused: probing, which is
//	      what costs 429s, is rare where they are likely
//
// capped at Max. The baseline is a moving average of the windows' mean
// latency while Refersion keeps up. A request answered 429 or 503 keeps its
// slot for a round trip (the baseline) before giving it back, as a request
// Refersion took would: a throttled slot freed at once would be refilled at
// once and throttled again, refusals at the speed of the relay rather than
// of Refersion. Waiting requests are let in one per free slot, in arrival
// order, never in bulk. It sits inside the retry layer, so each attempt
// takes a slot and is measured. Safe for concurrent use.
type adaptiveSink struct {
	next Sink
	cfg  AdaptiveConfig
	now  func() time.Time

	mu        sync.Mutex
	limit     float64
	inFlight  int
	waiting   list.List // of chan struct{}, closed when its request is let in
	slowStart bool
	baseline  time.Duration
	epoch     uint64  // decreases so far: a request's answer counts for the epoch it was sent in
	refused   float64 // the limit when Refersion last refused; 0 when far behind
	took      float64 // requests Refersion took per second in the last window that reached the limit
	probes    int     // windows that reached the limit since the last increase
	overshot  bool    // a refusal ended slow start, and every window since has had one
	window    window
}

// window is what one adaptation window saw.
type window struct {
	start time.Time
	sum   time.Duration // latency of the answers measured
	n     int           // answers measured: delivered or rejected for good
	full  bool          // the limit was reached in the window
	cut   bool          // the limit was cut for a 429 or 503 in the window
}

// probeEvery is how many full windows the limit waits between increases
// while it is near where Refersion last refused. With a destination that
// refuses above a fixed rate, it is what keeps 429s near 1% of requests.
const probeEvery = 16

func newAdaptive(next Sink, cfg AdaptiveConfig) *adaptiveSink {
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 0.5
	}
	// It starts at 16 (or Max), not 1: slow start doubles from there, so a
	// slow destination is not held to one request for several round trips.
	start := float64(min(max(cfg.Max, 1), 16))
	return &adaptiveSink{next: next, cfg: cfg, now: time.Now, limit: start, slowStart: true}
}

// Limit returns the current limit.
func (a *adaptiveSink) Limit() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int(a.limit)
}

// Send implements Sink: it waits for a slot, then sends and measures.
func (a *adaptiveSink) Send(ctx context.Context, o mapping.Order) error {
	epoch, err := a.acquire(ctx)
	if err != nil {
		return err
	}
	start := a.now()
	err = a.next.Send(ctx, o)
	rtt := a.now().Sub(start)
	if backpressure(err) {
		a.hold(ctx, rtt)
	}
	a.release(epoch, rtt, err)
	return err
}

// slots is how many requests may be in flight now.
func (a *adaptiveSink) slots() int { return max(1, int(a.limit)) }

// acquire waits for a slot and returns the epoch the request is sent in.
func (a *adaptiveSink) acquire(ctx context.Context) (uint64, error) {
	a.mu.Lock()
	if a.inFlight < a.slots() && a.waiting.Len() == 0 {
		a.inFlight++
		a.window.full = a.window.full || a.inFlight >= a.slots()
		epoch := a.epoch
		a.mu.Unlock()
		return epoch, nil
	}
	a.window.full = true
	ready := make(chan struct{})
	e := a.waiting.PushBack(ready)
	a.mu.Unlock()
	select {
	case <-ready: // let in: counted in inFlight by admit
		a.mu.Lock()
		epoch := a.epoch
		a.mu.Unlock()
		return epoch, nil
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-ready: // let in as ctx ended: the slot goes to the next one
		a.inFlight--
		a.admit()
	default:
		a.waiting.Remove(e)
	}
	return 0, ctx.Err()
}

// admit lets waiting requests in while there are free slots. a.mu is held.
func (a *adaptiveSink) admit() {
	for a.inFlight < a.slots() && a.waiting.Len() > 0 {
		a.inFlight++
		close(a.waiting.Remove(a.waiting.Front()).(chan struct{}))
	}
	if a.inFlight >= a.slots() {
		a.window.full = true
	}
}

// hold keeps a throttled request's slot until a round trip has passed since
// it was sent (rtt ago), or ctx ends.
func (a *adaptiveSink) hold(ctx context.Context, rtt time.Duration) {
	a.mu.Lock()
	d := a.baseline
	a.mu.Unlock()
	if d <= 0 {
		d = defaultHold // no answer measured yet
	}
	d = min(d, maxHold) - rtt
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// defaultHold and maxHold bound how long a throttled request keeps its slot:
// the baseline round trip, or defaultHold before one is known, at most
// maxHold.
const (
	defaultHold = 100 * time.Millisecond
	maxHold     = time.Second
)

// release gives back the slot of a request sent in epoch, answered after
// rtt with err.
func (a *adaptiveSink) release(epoch uint64, rtt time.Duration, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inFlight--
	switch {
	case backpressure(err):
		if epoch == a.epoch { // the first refusal of what was sent at this limit
			factor := 0.9
			if a.slowStart {
				factor = 0.5
			}
			a.refused = a.limit
			a.limit = max(1, a.limit*factor)
			if bdp := a.took * a.baseline.Seconds(); bdp >= 1 {
				// What Refersion took in a round trip lately is what it
				// can take: slow start may have overshot it many times.
				a.limit = min(a.limit, bdp)
			}
			a.overshot = a.overshot || a.slowStart
			a.slowStart = false
			a.epoch++
			a.probes = 0
			a.window.cut = true
		}
	case err == nil || failure.IsPermanent(err):
		a.window.sum += rtt
		a.window.n++
		if a.slowStart && a.window.full {
			a.limit = min(float64(a.cfg.Max), a.limit+1)
		}
	}
	a.endWindow()
	a.admit()
}

// endWindow adapts the limit to the latency and the use of the window once
// it is over: about one round trip.
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
	if now.Sub(w.start) < length || (w.n == 0 && !w.cut) {
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
	case w.cut: // cut for a refusal already; after slow start's overshoot, held to what Refersion took meanwhile
		if a.overshot && w.full && w.n > 0 && a.baseline > 0 {
			a.limit = max(1, min(a.limit, 0.9*float64(w.n)/now.Sub(w.start).Seconds()*a.baseline.Seconds()))
		}
	case slower:
		a.limit = max(1, a.limit*0.9)
		a.slowStart = false
		a.epoch++
	case w.full && !a.slowStart:
		a.probes++
		near := a.refused > 0 && a.limit+1 > a.refused*0.95
		if !near || a.probes >= probeEvery {
			a.limit = min(float64(a.cfg.Max), a.limit+1)
			a.probes = 0
		}
		if a.refused > 0 && a.limit > a.refused*1.2 { // well past: Refersion takes more now
			a.refused = 0
		}
	}
	if !w.cut {
		a.overshot = false
	}
	if w.full && w.n > 0 {
		a.took = float64(w.n) / now.Sub(w.start).Seconds()
	}
	if !w.cut && mean > 0 {
		if a.baseline == 0 {
			a.baseline = mean
		} else {
			a.baseline = (a.baseline*7 + mean) / 8
		}
	}
	*w = window{start: now}
}

// minLatencyRise is the least rise of the mean latency that backs off.
const minLatencyRise = 5 * time.Millisecond

// backpressure reports a 429 or 503: Refersion asks for fewer requests.
func backpressure(err error) bool {
	var r *failure.Retryable
	return errors.As(err, &r) && (r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable)
}
