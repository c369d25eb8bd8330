package sink

import (
	"context"
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
