package sink

import (
	"context"
	"fmt"

	"golang.org/x/time/rate"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// rateLimitSink lets at most PerSecond orders per second through, with
// bursts of Burst, by waiting for a token before next.Send. It sits outside
// the retry layer, so one order takes one token however many attempts it
// needs. When ctx ends while waiting, Send returns ctx's error; when ctx's
// deadline would pass before a token is free, it returns *failure.Retryable
// at once without sending.
//
// While the breaker is open an order ends at once with failure.ErrBreakerOpen,
// taking no token: waiting for a token only to be refused unsent would hold
// the caller (and, in the pipeline, a worker slot every account shares) for
// nothing.
type rateLimitSink struct {
	next Sink
	lim  *rate.Limiter
	br   *breakerSink // nil: no breaker to ask
}

func newRateLimit(next Sink, cfg RateLimitConfig, br *breakerSink) *rateLimitSink {
	return &rateLimitSink{next: next, lim: rate.NewLimiter(rate.Limit(cfg.PerSecond), cfg.Burst), br: br}
}

// Send implements Sink.
func (r *rateLimitSink) Send(ctx context.Context, o mapping.Order) error {
	if r.br != nil && r.br.state() == BreakerOpen {
		return fmt.Errorf("order %s not sent: %w", o.OrderID, failure.ErrBreakerOpen)
	}
	if err := r.lim.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("order %s waiting for the rate limit: %w", o.OrderID, ctx.Err())
		}
		return &failure.Retryable{Err: fmt.Errorf("order %s: rate limit: %w", o.OrderID, err)}
	}
	return r.next.Send(ctx, o)
}
