package sink_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
)

// scripted is a Sink that returns its errors in order, then nil.
type scripted struct {
	mu    sync.Mutex
	errs  []error
	calls int
}

func (s *scripted) Send(context.Context, mapping.Order) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	s.errs = s.errs[1:]
	return err
}

// waits records the retry layer's waits instead of sleeping.
type waits struct{ got []time.Duration }

func (w *waits) wait(_ context.Context, d time.Duration) error {
	w.got = append(w.got, d)
	return nil
}

var unavailable = &failure.Retryable{Status: 503}

func TestRetryRepeatsRetryableUntilDelivered(t *testing.T) {
	next := &scripted{errs: []error{unavailable, unavailable}}
	var w waits
	if err := sink.NewRetry(next, sink.RetryConfig{MaxAttempts: 5}, w.wait).Send(context.Background(), sinktest.Order("1")); err != nil {
		t.Fatal(err)
	}
	if next.calls != 3 || len(w.got) != 2 {
		t.Fatalf("%d calls, %d waits", next.calls, len(w.got))
	}
}

func TestRetryReturnsOtherOutcomesAtOnce(t *testing.T) {
	for _, err := range []error{
		&failure.Permanent{Status: 422}, &failure.Unauthorized{Status: 401}, failure.ErrBreakerOpen,
		failure.ErrAlreadySent, context.Canceled, errors.New("unclassified"),
	} {
		next := &scripted{errs: []error{err}}
		got := sink.NewRetry(next, sink.RetryConfig{MaxAttempts: 5}, new(waits).wait).Send(context.Background(), sinktest.Order("1"))
		if !errors.Is(got, err) || next.calls != 1 {
			t.Errorf("%v: got %v after %d calls", err, got, next.calls)
		}
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	next := &scripted{errs: []error{unavailable, unavailable, unavailable, unavailable}}
	err := sink.NewRetry(next, sink.RetryConfig{MaxAttempts: 3}, new(waits).wait).Send(context.Background(), sinktest.Order("1"))
	if !failure.IsRetryable(err) || next.calls != 3 || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("%v after %d calls", err, next.calls)
	}
}

func TestBackoffIsFullJitterUnderAGrowingCap(t *testing.T) {
	cfg := sink.RetryConfig{MaxAttempts: 7, InitialInterval: 10 * time.Millisecond, MaxInterval: 40 * time.Millisecond, Multiplier: 2}
	caps := []time.Duration{10, 20, 40, 40, 40, 40}
	var below [6]bool // whether some draw at each attempt was under half its cap
	for range 200 {
		next := &scripted{errs: []error{unavailable, unavailable, unavailable, unavailable, unavailable, unavailable}}
		var w waits
		if err := sink.NewRetry(next, cfg, w.wait).Send(context.Background(), sinktest.Order("1")); err != nil {
			t.Fatal(err)
		}
		for i, d := range w.got {
			if d < 0 || d > caps[i]*time.Millisecond {
				t.Fatalf("wait %d is %v, cap %v", i+1, d, caps[i]*time.Millisecond)
			}
			below[i] = below[i] || d < caps[i]*time.Millisecond/2
		}
	}
	for i, ok := range below {
		if !ok {
			t.Errorf("wait %d never fell under half its cap in 200 draws: no jitter", i+1)
		}
	}
}

func TestRetryAfterReplacesBackoff(t *testing.T) {
	next := &scripted{errs: []error{&failure.Retryable{Status: 429, RetryAfter: 7 * time.Second}}}
	var w waits
	if err := sink.NewRetry(next, sink.RetryConfig{MaxAttempts: 3, MaxElapsed: time.Minute}, w.wait).Send(context.Background(), sinktest.Order("1")); err != nil {
		t.Fatal(err)
	}
	if len(w.got) != 1 || w.got[0] != 7*time.Second {
		t.Fatalf("waits %v, want [7s]", w.got)
	}
}

func TestRetryGivesUpWhenTheWaitWouldPassTheDeadline(t *testing.T) {
	next := &scripted{errs: []error{&failure.Retryable{Status: 429, RetryAfter: 5 * time.Second}}}
	var w waits
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := sink.NewRetry(next, sink.RetryConfig{MaxAttempts: 3}, w.wait).Send(ctx, sinktest.Order("1"))
	if d, _ := failure.RetryAfter(err); d != 5*time.Second || next.calls != 1 || len(w.got) != 0 {
		t.Fatalf("%v after %d calls and waits %v", err, next.calls, w.got)
	}
}

func TestRetryGivesUpWhenTheWaitWouldPassMaxElapsed(t *testing.T) {
	next := &scripted{errs: []error{&failure.Retryable{Status: 503, RetryAfter: 2 * time.Second}}}
	var w waits
	err := sink.NewRetry(next, sink.RetryConfig{MaxAttempts: 3, MaxElapsed: time.Second}, w.wait).Send(context.Background(), sinktest.Order("1"))
	if !failure.IsRetryable(err) || next.calls != 1 || len(w.got) != 0 {
		t.Fatalf("%v after %d calls and waits %v", err, next.calls, w.got)
	}
}

func TestRetryStopsWhenTheContextEndsWhileWaiting(t *testing.T) {
	next := &scripted{errs: []error{unavailable, unavailable}}
	ctx, cancel := context.WithCancel(context.Background())
	stop := func(context.Context, time.Duration) error { cancel(); return ctx.Err() }
	err := sink.NewRetry(next, sink.RetryConfig{MaxAttempts: 5}, stop).Send(ctx, sinktest.Order("1"))
	if !errors.Is(err, context.Canceled) || !failure.IsRetryable(err) || next.calls != 1 {
		t.Fatalf("%v after %d calls", err, next.calls)
	}
}

// Loopback: the whole chain against the sandbox.

func TestTransientFaultsAreRetriedToDelivery(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault sandbox.Fault
		count func(sandbox.Stats) int
	}{
		{"503", sandbox.Fail, func(s sandbox.Stats) int { return s.Failed }},
		{"connection reset", sandbox.Reset, func(s sandbox.Stats) int { return s.Resets }},
		{"timeout", sandbox.Stall, func(s sandbox.Stats) int { return s.Stalled }},
	} {
		t.Run(c.name, func(t *testing.T) {
			sb := startSandbox(t, sandbox.Options{})
			sb.Inject(c.fault, c.fault)
			cfg := fastConfig(sb.Endpoint())
			cfg.RequestTimeout = 200 * time.Millisecond
			if err := newSink(t, cfg).Send(context.Background(), sinktest.Order("1")); err != nil {
				t.Fatal(err)
			}
			if st := sb.Stats(); c.count(st) != 2 || st.Accepted != 1 || st.Duplicates != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	for _, asDate := range []bool{false, true} {
		name := map[bool]string{false: "seconds", true: "HTTP-date"}[asDate]
		t.Run(name, func(t *testing.T) {
			sb := startSandbox(t, sandbox.Options{RetryAfter: time.Second, RetryAfterDate: asDate})
			sb.Inject(sandbox.Throttle)
			s := newSink(t, fastConfig(sb.Endpoint()))
			began := time.Now()
			if err := s.Send(context.Background(), sinktest.Order("1")); err != nil {
				t.Fatal(err)
			}
			// The backoff alone is at most 5ms; only Retry-After explains a wait this long.
			if waited := time.Since(began); waited < 900*time.Millisecond {
				t.Fatalf("retried after %v despite Retry-After of 1s", waited)
			}
			if st := sb.Stats(); st.Throttled != 1 || st.Accepted != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestLongRetryAfterGivesUpBeforeTheDeadline(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{RetryAfter: 30 * time.Second})
	sb.Inject(sandbox.Throttle)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := newSink(t, fastConfig(sb.Endpoint())).Send(ctx, sinktest.Order("1"))
	if d, ok := failure.RetryAfter(err); !ok || d != 30*time.Second {
		t.Fatalf("got %v, want a retryable error asking for 30s", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Send waited for the deadline instead of giving up early")
	}
	if st := sb.Stats(); st.Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOutageExhaustsRetriesWithoutBecomingPermanent(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	sb.SetDown(true)
	cfg := fastConfig(sb.Endpoint())
	cfg.Retry.MaxAttempts = 3
	err := newSink(t, cfg).Send(context.Background(), sinktest.Order("1"))
	var r *failure.Retryable
	if !errors.As(err, &r) || r.Status != 503 || failure.IsPermanent(err) {
		t.Fatalf("outage: %v", err)
	}
	if st := sb.Stats(); st.DownRefused != 3 {
		t.Fatalf("stats %+v, want 3 attempts", st)
	}
}
