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
type rateLimitSink struct {
	next Sink
	lim  *rate.Limiter
}

func newRateLimit(next Sink, cfg RateLimitConfig) *rateLimitSink {
	return &rateLimitSink{next: next, lim: rate.NewLimiter(rate.Limit(cfg.PerSecond), cfg.Burst)}
}

// Send implements Sink.
func (r *rateLimitSink) Send(ctx context.Context, o mapping.Order) error {
	if err := r.lim.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("order %s waiting for the rate limit: %w", o.OrderID, ctx.Err())
		}
		return &failure.Retryable{Err: fmt.Errorf("order %s: rate limit: %w", o.OrderID, err)}
	}
	return r.next.Send(ctx, o)
}
