package sink_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
)

func TestRateLimitSpacesOrders(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	cfg := fastConfig(sb.Endpoint())
	cfg.RateLimit = sink.RateLimitConfig{PerSecond: 100, Burst: 1}
	s := newSink(t, cfg)
	began := time.Now()
	for i := range 11 {
		if err := s.Send(context.Background(), sinktest.Order(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	// 11 orders at 100/s with a burst of 1 need at least 10 intervals of 10ms.
	if took := time.Since(began); took < 100*time.Millisecond {
		t.Fatalf("11 orders at 100/s took %v", took)
	}
	if st := sb.Stats(); st.Accepted != 11 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRateLimitIsOffByDefault(t *testing.T) {
	s := newSink(t, fastConfig("http://127.0.0.1:1/"))
	if slices.Contains(sink.Layers(s), "ratelimit") {
		t.Fatalf("layers %v include a rate limit nobody asked for", sink.Layers(s))
	}
}

func TestRateLimitPastTheDeadlineIsRetryableAndSendsNothing(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	cfg := fastConfig(sb.Endpoint())
	cfg.RateLimit = sink.RateLimitConfig{PerSecond: 0.001, Burst: 1}
	s := newSink(t, cfg)
	if err := s.Send(context.Background(), sinktest.Order("1")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.Send(ctx, sinktest.Order("2"))
	if !failure.IsRetryable(err) || ctx.Err() != nil {
		t.Fatalf("second order: %v (ctx %v)", err, ctx.Err())
	}
	if st := sb.Stats(); st.Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// While the breaker is open an order takes no rate-limit token and waits for
// none: it is refused unsent at once, as the breaker itself would.
func TestRateLimitDoesNotHoldOrdersTheBreakerRefuses(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{FailRate: 1})
	cfg := fastConfig(sb.Endpoint())
	cfg.Retry.MaxAttempts = 1
	cfg.Breaker = sink.BreakerConfig{Failures: 1, OpenTimeout: time.Hour}
	cfg.RateLimit = sink.RateLimitConfig{PerSecond: 0.0001, Burst: 1}
	s := newSink(t, cfg)
	if err := s.Send(context.Background(), sinktest.Order("1")); failure.KindOf(err) != failure.KindRetryable {
		t.Fatalf("first order against a failing destination: %v", err)
	}
	// A token would take 10,000 s: waiting for one fails at once (retryable)
	// against this deadline, so only an order refused before it is breaker open.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := s.Send(ctx, sinktest.Order("2")); failure.KindOf(err) != failure.KindBreakerOpen {
		t.Fatalf("second order with the breaker open: %v (kind %v), want breaker open, unsent", err, failure.KindOf(err))
	}
	if st := sb.Stats(); st.Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
}
