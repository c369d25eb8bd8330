package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

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
// are *failure.Retryable outcomes (network errors, timeouts, 408/425/5xx)
// and unclassified errors; failures of Failures different orders in a row
// open the breaker for OpenTimeout, after which HalfOpenMax trial requests
// decide whether it closes. An order counts once in a run of failures, so
// one order that Refersion keeps failing (a poison order) cannot open the
// breaker and stop the others: that takes several orders failing with no
// success between, which is what an outage looks like. A delivered or permanent outcome is a success: the destination
// answered. Unauthorized, 429 (throttling) and the caller's own context
// ending are not counted.
// While open, or half-open with its trials taken, Send returns
// failure.ErrBreakerOpen without sending.
type breakerSink struct {
	next Sink
	cb   *gobreaker.CircuitBreaker[struct{}]

	mu     sync.Mutex
	failed map[string]struct{} // orders failed since the last success
}

func newBreaker(next Sink, cfg BreakerConfig, log *slog.Logger, observer func(from, to BreakerState)) *breakerSink {
	b := &breakerSink{next: next, failed: map[string]struct{}{}}
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "refersion",
		MaxRequests: cfg.HalfOpenMax,
		Timeout:     cfg.OpenTimeout,
		ReadyToTrip: func(gobreaker.Counts) bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return uint32(len(b.failed)) >= cfg.Failures
		},
		IsSuccessful: isSuccessful,
		IsExcluded:   isExcluded,
		OnStateChange: func(_ string, from, to gobreaker.State) {
			log.Warn("circuit breaker", "from", breakerState(from).String(), "to", breakerState(to).String())
			if observer != nil {
				observer(breakerState(from), breakerState(to))
			}
			if to != gobreaker.StateOpen {
				b.mu.Lock()
				clear(b.failed)
				b.mu.Unlock()
			}
		},
	})
	return b
}

// isSuccessful: the destination answered (delivered, or rejected this order).
func isSuccessful(err error) bool { return err == nil || failure.IsPermanent(err) }

// isExcluded: outcomes that say nothing about the destination's health. A
// 429 is one: Refersion is up and asks for fewer requests, which adaptive
// concurrency and Retry-After give it; opening the breaker on it would stop
// every order for OpenTimeout at the first overshoot.
func isExcluded(err error) bool {
	k := failure.KindOf(err)
	if k == failure.KindUnauthorized || k == failure.KindCanceled {
		return true
	}
	var r *failure.Retryable
	return errors.As(err, &r) && r.Status == http.StatusTooManyRequests
}

// Send implements Sink.
func (b *breakerSink) Send(ctx context.Context, o mapping.Order) error {
	_, err := b.cb.Execute(func() (struct{}, error) {
		err := b.next.Send(ctx, o)
		// Recorded before gobreaker counts the outcome and asks ReadyToTrip.
		switch {
		case isExcluded(err):
		case isSuccessful(err):
			b.mu.Lock()
			clear(b.failed)
			b.mu.Unlock()
		default:
			b.mu.Lock()
			if len(b.failed) < 1<<16 {
				b.failed[o.OrderID] = struct{}{}
			}
			b.mu.Unlock()
		}
		return struct{}{}, err
	})
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
