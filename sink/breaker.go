package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/sony/gobreaker/v2"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// BreakerState is the circuit breaker's state.
type BreakerState int

const (
	BreakerClosed   BreakerState = iota // requests pass
	BreakerHalfOpen                     // a few trial requests pass
	BreakerOpen                         // requests are refused unsent
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	default:
		return "invalid"
	}
}

// breakerSink wraps each request in a gobreaker circuit breaker. Failures
// are *failure.Retryable outcomes (network errors, timeouts, 408/425/429/5xx)
// and unclassified errors; Failures of them in a row open the breaker for
// OpenTimeout, after which HalfOpenMax trial requests decide whether it
// closes. A delivered or permanent outcome is a success: the destination
// answered. Unauthorized and the caller's own context ending are not counted.
// While open, or half-open with its trials taken, Send returns
// failure.ErrBreakerOpen without sending.
type breakerSink struct {
	next Sink
	cb   *gobreaker.CircuitBreaker[struct{}]
}

func newBreaker(next Sink, cfg BreakerConfig, log *slog.Logger, observer func(from, to BreakerState)) *breakerSink {
	return &breakerSink{next: next, cb: gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "refersion",
		MaxRequests: cfg.HalfOpenMax,
		Timeout:     cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.Failures },
		IsSuccessful: func(err error) bool {
			return err == nil || failure.IsPermanent(err)
		},
		IsExcluded: func(err error) bool {
			k := failure.KindOf(err)
			return k == failure.KindUnauthorized || k == failure.KindCanceled
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			log.Warn("circuit breaker", "from", breakerState(from).String(), "to", breakerState(to).String())
			if observer != nil {
				observer(breakerState(from), breakerState(to))
			}
		},
	})}
}

// Send implements Sink.
func (b *breakerSink) Send(ctx context.Context, o mapping.Order) error {
	_, err := b.cb.Execute(func() (struct{}, error) { return struct{}{}, b.next.Send(ctx, o) })
	switch {
	case errors.Is(err, gobreaker.ErrOpenState):
		return fmt.Errorf("order %s not sent: %w", o.OrderID, failure.ErrBreakerOpen)
	case errors.Is(err, gobreaker.ErrTooManyRequests):
		return fmt.Errorf("order %s not sent: %w (half-open, trial requests taken)", o.OrderID, failure.ErrBreakerOpen)
	}
	return err
}

func (b *breakerSink) state() BreakerState { return breakerState(b.cb.State()) }

func breakerState(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	default:
		return BreakerClosed
	}
}
