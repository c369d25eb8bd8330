package sink

import (
	"context"
	"log/slog"
	"time"

	"github.com/refersion-relay/refersion-relay/store"
)

// Internals opened to the external tests in package sink_test.

var (
	Classify        = classify
	ParseRetryAfter = parseRetryAfter
)

// NewHTTPSender returns the bare HTTP layer for cfg, without any decorator;
// of opts only WithAttemptObserver and WithTracerProvider apply.
func NewHTTPSender(cfg Config, opts ...Option) (Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	return newHTTPSender(cfg, newClient(cfg), newAttemptRecorder(cfg.Endpoint, o.tracerProvider, o.attempts)), nil
}

// NewRetry returns the retry layer around next; wait replaces the timer
// between attempts when non-nil.
func NewRetry(next Sink, cfg RetryConfig, wait func(context.Context, time.Duration) error) Sink {
	r := newRetry(next, Config{Retry: cfg}.withDefaults().Retry, slog.New(slog.DiscardHandler))
	if wait != nil {
		r.wait = wait
	}
	return r
}

// NewIdempotent returns the idempotency layer around next.
func NewIdempotent(next Sink, store store.Sent, lease time.Duration, log *slog.Logger) Sink {
	return newIdempotent(next, store, lease, log)
}

// NewBreaker returns the breaker layer around next.
func NewBreaker(next Sink, cfg BreakerConfig, observer func(from, to BreakerState)) Sink {
	cfg = Config{Breaker: cfg}.withDefaults().Breaker
	return newBreaker(next, cfg, slog.New(slog.DiscardHandler), observer)
}

// Layers names the decorators of r from the outside in.
func Layers(r *Refersion) []string {
	var names []string
	for s := r.head; s != nil; {
		switch l := s.(type) {
		case *idempotentSink:
			names, s = append(names, "idempotent"), l.next
		case *rateLimitSink:
			names, s = append(names, "ratelimit"), l.next
		case *retrySink:
			names, s = append(names, "retry"), l.next
		case *breakerSink:
			names, s = append(names, "breaker"), l.next
		case *httpSender:
			names, s = append(names, "http"), nil
		default:
			names, s = append(names, "unknown"), nil
		}
	}
	return names
}
