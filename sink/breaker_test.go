package sink_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
)

// transitions records breaker state changes.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) observe(from, to sink.BreakerState) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, from.String()+"->"+to.String())
}

func (tr *transitions) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return fmt.Sprint(tr.got)
}

func TestBreakerOpensDuringAnOutageAndClosesAfter(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "503", true: "connection refused"}[refuse], func(t *testing.T) {
			sb := startSandbox(t, sandbox.Options{DownRefuse: refuse})
			cfg := fastConfig(sb.Endpoint())
			cfg.Retry.MaxAttempts = 1
			// OpenTimeout is long enough that the breaker cannot half-open before
			// the check that it refuses, even on a loaded machine.
			cfg.Breaker = sink.BreakerConfig{Failures: 3, OpenTimeout: time.Second}
			var tr transitions
			s := newSink(t, cfg, sink.WithBreakerObserver(tr.observe))
			ctx := context.Background()

			sb.SetDown(true)
			for i := range 3 {
				if err := s.Send(ctx, sinktest.Order(fmt.Sprint("down-", i))); !failure.IsRetryable(err) {
					t.Fatalf("order %d during the outage: %v", i, err)
				}
			}
			before := sb.Stats().Requests
			err := s.Send(ctx, sinktest.Order("refused"))
			if failure.KindOf(err) != failure.KindBreakerOpen || s.BreakerState() != sink.BreakerOpen {
				t.Fatalf("after 3 failures: %v, breaker %v", err, s.BreakerState())
			}
			if sb.Stats().Requests != before {
				t.Fatal("an open breaker let a request through")
			}

			sb.SetDown(false)
			deadline := time.Now().Add(10 * time.Second)
			for err = s.Send(ctx, sinktest.Order("after")); failure.KindOf(err) == failure.KindBreakerOpen; err = s.Send(ctx, sinktest.Order("after")) {
				if time.Now().After(deadline) {
					t.Fatal("breaker still open 10s after the outage")
				}
				<-time.After(cfg.Breaker.OpenTimeout) // the breaker's own timer
			}
			if err != nil {
				t.Fatalf("first order after the outage: %v", err)
			}
			if got, want := tr.String(), "[closed->open open->half-open half-open->closed]"; got != want {
				t.Fatalf("transitions %s, want %s", got, want)
			}
		})
	}
}

func TestPermanentAndUnauthorizedDoNotTripTheBreaker(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	cfg := fastConfig(sb.Endpoint())
	cfg.Breaker = sink.BreakerConfig{Failures: 2, OpenTimeout: time.Hour}
	var tr transitions
	s := newSink(t, cfg, sink.WithBreakerObserver(tr.observe))
	wrongKeys := cfg
	wrongKeys.Keys = sink.NewKeys("pub_test", "wrong")
	unauth := newSink(t, wrongKeys, sink.WithBreakerObserver(tr.observe))
	ctx := context.Background()
	for i := range 5 {
		if err := s.Send(ctx, sinktest.Malformed(fmt.Sprint("bad-", i))); !failure.IsPermanent(err) {
			t.Fatalf("malformed order: %v", err)
		}
		if err := unauth.Send(ctx, sinktest.Order(fmt.Sprint("key-", i))); !failure.IsUnauthorized(err) {
			t.Fatalf("wrong keys: %v", err)
		}
	}
	if err := s.Send(ctx, sinktest.Order("good")); err != nil {
		t.Fatal(err)
	}
	if tr.String() != "[]" {
		t.Fatalf("breaker moved: %s", tr.String())
	}
}

// Throttling (429) is Refersion asking for fewer requests, not failing: a
// run of them from several orders leaves the breaker closed.
func TestThrottlingDoesNotTripTheBreaker(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{ThrottleRate: 1})
	cfg := fastConfig(sb.Endpoint())
	cfg.Retry.MaxAttempts = 1
	cfg.Breaker = sink.BreakerConfig{Failures: 2, OpenTimeout: time.Hour}
	var tr transitions
	s := newSink(t, cfg, sink.WithBreakerObserver(tr.observe))
	for i := range 5 {
		err := s.Send(context.Background(), sinktest.Order(fmt.Sprint("o-", i)))
		var r *failure.Retryable
		if !errors.As(err, &r) || r.Status != 429 {
			t.Fatalf("order %d: %v, want a 429", i, err)
		}
	}
	if tr.String() != "[]" {
		t.Fatalf("breaker moved on 429s: %s", tr.String())
	}
}

// sinkFunc adapts a function to sink.Sink.
type sinkFunc func(ctx context.Context) error

func (f sinkFunc) Send(ctx context.Context, _ mapping.Order) error { return f(ctx) }

func TestHalfOpenBreakerAdmitsOnlyItsTrials(t *testing.T) {
	var calls atomic.Int32
	inTrial, release := make(chan struct{}), make(chan struct{})
	next := sinkFunc(func(context.Context) error {
		if calls.Add(1) == 1 {
			return &failure.Retryable{Status: 503}
		}
		close(inTrial)
		<-release
		return nil
	})
	var tr transitions
	b := sink.NewBreaker(next, sink.BreakerConfig{Failures: 1, OpenTimeout: time.Millisecond, HalfOpenMax: 1}, tr.observe)
	ctx := context.Background()
	if err := b.Send(ctx, sinktest.Order("1")); !failure.IsRetryable(err) {
		t.Fatalf("first request: %v", err)
	}
	trial := make(chan error, 1)
	go func() {
		for {
			err := b.Send(ctx, sinktest.Order("trial"))
			if failure.KindOf(err) != failure.KindBreakerOpen {
				trial <- err
				return
			}
			<-time.After(time.Millisecond) // the breaker's own timer
		}
	}()
	<-inTrial
	if err := b.Send(ctx, sinktest.Order("second")); failure.KindOf(err) != failure.KindBreakerOpen {
		t.Fatalf("second request while the trial runs: %v", err)
	}
	close(release)
	if err := <-trial; err != nil {
		t.Fatalf("trial: %v", err)
	}
	if got, want := tr.String(), "[closed->open open->half-open half-open->closed]"; got != want {
		t.Fatalf("transitions %s, want %s", got, want)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d requests reached the destination, want 2", calls.Load())
	}
}

// One order that Refersion keeps failing (a poison order) does not open the
// breaker, however often it is tried: each order counts once in a run of
// failures. Other orders keep passing.
func TestOneFailingOrderDoesNotOpenTheBreaker(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{FailOrders: []string{"poison"}})
	cfg := fastConfig(sb.Endpoint())
	cfg.Retry.MaxAttempts = 1
	cfg.Breaker = sink.BreakerConfig{Failures: 3, OpenTimeout: time.Second}
	s := newSink(t, cfg)
	ctx := context.Background()
	for i := range 10 {
		if err := s.Send(ctx, sinktest.Order("poison")); !failure.IsRetryable(err) {
			t.Fatalf("try %d of the poison order: %v", i, err)
		}
	}
	if s.BreakerState() != sink.BreakerClosed {
		t.Fatalf("breaker %v after one order failed 10 times", s.BreakerState())
	}
	if err := s.Send(ctx, sinktest.Order("healthy")); err != nil {
		t.Errorf("another order: %v", err)
	}
}
