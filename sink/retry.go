package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// retrySink is the one retry layer. It repeats next.Send while the error is
// *failure.Retryable; every other outcome returns at once. Between attempts
// it waits the destination's Retry-After if given, else a backoff drawn with
// full jitter from [0, min(MaxInterval, InitialInterval*Multiplier^(n-1))].
//
// It gives up, returning the last error with the attempts made, when
// MaxAttempts requests were made, when the next wait would end past
// MaxElapsed from the first attempt, or when it would end past ctx's
// deadline; so an impossible wait is never started.
type retrySink struct {
	next Sink
	cfg  RetryConfig
	log  *slog.Logger
	now  func() time.Time
	// wait blocks for d or until ctx is done; tests replace it.
	wait func(ctx context.Context, d time.Duration) error
}

func newRetry(next Sink, cfg RetryConfig, log *slog.Logger) *retrySink {
	return &retrySink{next: next, cfg: cfg, log: log, now: time.Now, wait: sleep}
}

// Send implements Sink.
func (r *retrySink) Send(ctx context.Context, o mapping.Order) error {
	start := r.now()
	for attempt := 1; ; attempt++ {
		err := r.next.Send(ctx, o)
		if err == nil || !failure.IsRetryable(err) {
			return err
		}
		if attempt >= r.cfg.MaxAttempts {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		delay := r.backoff(attempt)
		if after, ok := failure.RetryAfter(err); ok {
			delay = after
		}
		now := r.now()
		if now.Add(delay).Sub(start) > r.cfg.MaxElapsed {
			return fmt.Errorf("gave up after %d attempts: next wait %v would pass the %v limit: %w",
				attempt, delay, r.cfg.MaxElapsed, err)
		}
		if deadline, ok := ctx.Deadline(); ok && now.Add(delay).After(deadline) {
			return fmt.Errorf("gave up after %d attempts: next wait %v would pass the deadline: %w",
				attempt, delay, err)
		}
		r.log.LogAttrs(ctx, slog.LevelDebug, "retrying order",
			slog.String("order_id", o.OrderID), slog.Int("attempt", attempt),
			slog.Duration("wait", delay), slog.String("error", err.Error()))
		if werr := r.wait(ctx, delay); werr != nil {
			return fmt.Errorf("stopped after %d attempts: %w", attempt, errors.Join(werr, err))
		}
	}
}

// backoff draws the wait after attempt n (1-based) with full jitter.
func (r *retrySink) backoff(n int) time.Duration {
	ceiling := float64(r.cfg.InitialInterval)
	for i := 1; i < n && ceiling < float64(r.cfg.MaxInterval); i++ {
		ceiling *= r.cfg.Multiplier
	}
	ceiling = min(ceiling, float64(r.cfg.MaxInterval))
	if ceiling < 1 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// sleep waits for d or until ctx is done, returning ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
