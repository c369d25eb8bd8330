package sink

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// clockSink answers after rtt (a destination's latency, simulated), with err.
type clockSink struct {
	mu  sync.Mutex
	rtt time.Duration
	err error
}

func (c *clockSink) Send(context.Context, mapping.Order) error {
	c.mu.Lock()
	rtt, err := c.rtt, c.err
	c.mu.Unlock()
	time.Sleep(rtt) // the latency itself, not a synchronisation
	return err
}

// drive sends n requests, up to width at once.
func drive(a *adaptiveSink, n, width int) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, width)
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_ = a.Send(context.Background(), mapping.Order{OrderID: "o"})
		}()
	}
	wg.Wait()
}

func TestAdaptiveConcurrencyGrowsWhileLatencyHolds(t *testing.T) {
	c := &clockSink{rtt: 20 * time.Millisecond}
	a := newAdaptive(c, AdaptiveConfig{Max: 64, Tolerance: 1})
	drive(a, 2000, 128)
	if got := a.Limit(); got != 64 {
		t.Errorf("limit %d after steady latency, want the cap 64", got)
	}
}

func TestAdaptiveConcurrencyBacksOffOn429(t *testing.T) {
	c := &clockSink{rtt: 20 * time.Millisecond}
	a := newAdaptive(c, AdaptiveConfig{Max: 64, Tolerance: 1})
	drive(a, 2000, 128)
	c.mu.Lock()
	c.err = &failure.Retryable{Status: 429}
	c.mu.Unlock()
	drive(a, 600, 128)
	if got := a.Limit(); got > 52 {
		t.Errorf("limit %d after a run of 429s, want it well down from 64", got)
	}
	c.mu.Lock()
	c.err = nil
	c.mu.Unlock()
	before := a.Limit()
	drive(a, 2000, 128)
	if got := a.Limit(); got <= before || a.slowStart {
		t.Errorf("limit %d after recovery from %d (slow start %v): want additive growth", got, before, a.slowStart)
	}
}

func TestAdaptiveConcurrencyBacksOffWhenLatencyRises(t *testing.T) {
	c := &clockSink{rtt: 20 * time.Millisecond}
	a := newAdaptive(c, AdaptiveConfig{Max: 64, Tolerance: 1})
	drive(a, 2000, 128)
	c.mu.Lock()
	c.rtt = 100 * time.Millisecond
	c.mu.Unlock()
	drive(a, 200, 128)
	if got := a.Limit(); got >= 64 {
		t.Errorf("limit %d after latency rose fivefold, want it down", got)
	}
}

// fakeClock is an adaptiveSink's clock, moved by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// steady returns an adaptive sink past slow start at limit, with a 20 ms
// baseline, on a clock moved by hand.
func steady(limit float64) (*adaptiveSink, *fakeClock) {
	c := &fakeClock{t: time.Unix(1e9, 0)}
	a := newAdaptive(nil, AdaptiveConfig{Max: 512})
	a.now, a.limit, a.slowStart, a.baseline = c.now, limit, false, 20*time.Millisecond
	return a, c
}

var throttled = &failure.Retryable{Status: 429}

// Requests sent at one limit and refused together are one refusal: the limit
// is cut once for them, and again only for a request sent after the cut.
func TestAdaptiveCutsOncePerLimitRefused(t *testing.T) {
	a, _ := steady(20)
	var epochs []uint64
	for range 3 {
		e, err := a.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		epochs = append(epochs, e)
	}
	for _, e := range epochs {
		a.release(e, 0, throttled)
	}
	if got := a.Limit(); got != 18 {
		t.Fatalf("limit %d after three refusals of requests sent at 20, want 18 (one cut)", got)
	}
	e, _ := a.acquire(context.Background())
	a.release(e, 0, throttled)
	if got := a.Limit(); got != 16 {
		t.Fatalf("limit %d after a refusal of a request sent at 18, want 16", got)
	}
}

// Slow start overshoots: its first refusal cuts the limit to what the
// destination took in a round trip, if that is less than half.
func TestAdaptiveSlowStartsOvershootIsCutToWhatWasTaken(t *testing.T) {
	a, _ := steady(128)
	a.slowStart, a.took = true, 1000 // requests/s, with a 20 ms round trip: 20 at a time
	e, _ := a.acquire(context.Background())
	a.release(e, 0, throttled)
	if got := a.Limit(); got != 20 || a.slowStart {
		t.Fatalf("limit %d (slow start %v) after slow start's first refusal, want 20 and slow start over", got, a.slowStart)
	}
}

// Once slow start has overshot, each window that is refused again comes down
// to 90% of what the destination took in it, not by a tenth; the first window
// without a refusal ends that, and later refusals cut by a tenth again.
func TestAdaptiveAfterSlowStartsOvershootComesDownToWhatWasTaken(t *testing.T) {
	a, c := steady(128)
	a.slowStart, a.took = true, 3200 // slow start's last window: 64 at a time
	refuse := func() {
		e, _ := a.acquire(context.Background())
		a.release(e, 0, throttled)
	}
	window := func(took int, refused bool) { // a full window of 20 ms
		a.mu.Lock()
		a.window.full = true
		a.window.sum, a.window.n = time.Duration(took)*20*time.Millisecond, took
		a.mu.Unlock()
		if refused {
			refuse()
		}
		a.mu.Lock()
		c.t = c.t.Add(20 * time.Millisecond)
		a.endWindow()
		a.mu.Unlock()
	}
	refuse()
	if got := a.Limit(); got != 64 {
		t.Fatalf("limit %d after slow start's first refusal, want 64 (what it took in a round trip)", got)
	}
	window(30, true) // refused again while 30 were taken: 57.6 by a tenth, then 27
	if got := a.Limit(); got != 27 {
		t.Fatalf("limit %d after a refused window that took 30, want 27 (90%% of it)", got)
	}
	window(20, true)
	if got := a.Limit(); got != 18 {
		t.Fatalf("limit %d after a refused window that took 20, want 18", got)
	}
	window(20, false) // not refused: the overshoot is over, and the limit grows (19)
	window(15, true)  // a refusal in steady state: a tenth off, whatever was taken
	if got := a.Limit(); got != 17 {
		t.Fatalf("limit %d after a refusal past the overshoot, want 17 (a tenth off 19)", got)
	}
}

// Near where the destination last refused, the limit grows one request per
// probeEvery full windows; well below it, one per window.
func TestAdaptiveProbesSlowlyWhereItWasRefused(t *testing.T) {
	a, c := steady(30)
	e, _ := a.acquire(context.Background())
	a.release(e, 0, throttled) // refused at 30: 27
	grow := func(windows int) {
		for range windows {
			a.mu.Lock()
			a.window.full = true // the limit was in use
			c.t = c.t.Add(25 * time.Millisecond)
			a.window.sum, a.window.n = 20*time.Millisecond, 1
			a.endWindow()
			a.mu.Unlock()
		}
	}
	grow(1) // the window of the cut ends without growth
	grow(1)
	if got := a.Limit(); got != 28 {
		t.Fatalf("limit %d one window after the cut to 27, want 28", got)
	}
	grow(probeEvery - 1)
	if got := a.Limit(); got != 28 {
		t.Fatalf("limit %d after %d windows within 5%% of the refusal at 30, want 28 still", got, probeEvery-1)
	}
	grow(1)
	if got := a.Limit(); got != 29 {
		t.Fatalf("limit %d after %d windows near the refusal, want 29", got, probeEvery)
	}
}

// A refused request keeps its slot for a round trip: requests waiting for a
// slot do not take it at once to be refused in turn.
func TestAdaptiveRefusedRequestKeepsItsSlotForARoundTrip(t *testing.T) {
	next := &clockSink{err: throttled}
	a := newAdaptive(next, AdaptiveConfig{Max: 1})
	a.baseline = 30 * time.Millisecond
	began := time.Now()
	_ = a.Send(context.Background(), mapping.Order{OrderID: "o"})
	if took := time.Since(began); took < a.baseline {
		t.Fatalf("a refused request gave its slot back after %v, want at least the %v round trip", took, a.baseline)
	}
}

// Waiting requests are let in one per free slot, in the order they came.
func TestAdaptiveLetsWaitersInOneAtATimeInOrder(t *testing.T) {
	a, _ := steady(1)
	first, _ := a.acquire(context.Background())
	order := make(chan int, 3)
	for i := range 3 {
		go func() {
			e, _ := a.acquire(context.Background())
			order <- i
			a.release(e, time.Millisecond, nil)
		}()
		for { // queued before the next one comes
			a.mu.Lock()
			n := a.waiting.Len()
			a.mu.Unlock()
			if n == i+1 {
				break
			}
			runtime.Gosched()
		}
	}
	a.release(first, time.Millisecond, nil)
	for want := range 3 {
		if got := <-order; got != want {
			t.Fatalf("waiter %d let in, want %d", got, want)
		}
	}
}

// A waiter whose context ends leaves the queue, and the slot it may have
// been given goes to the next.
func TestAdaptiveWaiterThatGivesUpLeavesNoSlotTaken(t *testing.T) {
	a, _ := steady(1)
	first, _ := a.acquire(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := a.acquire(ctx)
		gaveUp <- err
	}()
	for {
		a.mu.Lock()
		n := a.waiting.Len()
		a.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("acquire returned no error after its context ended")
	}
	a.release(first, time.Millisecond, nil)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inFlight != 0 || a.waiting.Len() != 0 {
		t.Fatalf("%d in flight, %d waiting after everyone left, want 0 and 0", a.inFlight, a.waiting.Len())
	}
}
