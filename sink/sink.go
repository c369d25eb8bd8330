// Package sink delivers mapped orders to Refersion's paid-order webhook and
// says exactly what happened, as an error kind of package failure.
//
// New builds the production Sink as a chain of decorators, each in its own
// file, outermost first:
//
//	idempotent  claims the order_id in a store.Sent; skips an order already sent
//	ratelimit   waits for a token (orders per second, off by default)
//	retry       the only retry layer: backoff with full jitter, Retry-After
//	adaptive    adaptive concurrency: requests in flight limited to what
//	            Refersion keeps up with (Config.Adaptive; off when Max is 0)
//	breaker     circuit breaker (gobreaker) around each request
//	http        one POST; classify turns the response into an outcome; each
//	            POST is a client span and an Attempt (observe.go)
//
// So a skipped order costs no rate-limit token, the rate limit counts orders
// rather than attempts, every attempt passes the breaker and counts in it, and
// an open breaker ends the Send at once instead of being retried.
package sink

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// Sink delivers one order. It blocks until the order is delivered, has failed
// for good, or ctx is done. A nil error means delivered; any other error is
// classified by package failure (failure.KindOf), and an error for which
// failure.IsPermanent is true must not be retried. Implementations are safe
// for concurrent use and pass sinktest.TestSink.
type Sink interface {
	Send(ctx context.Context, o mapping.Order) error
}

// Refersion is the Sink New builds. Safe for concurrent use.
type Refersion struct {
	head     Sink
	client   *http.Client
	breaker  *breakerSink
	adaptive *adaptiveSink // nil when off
}

// Send implements Sink. Its errors, by failure.Kind:
//
//	KindAlreadySent       the order_id was delivered before: done, count it as skipped
//	KindPermanent         rejected (400, 404, 422, other 4xx, 2xx with an error body): dead-letter it
//	KindUnauthorized      401/403: the keys are wrong for every order; pause consuming
//	KindBreakerOpen       the destination is failing; nothing was sent; pause consuming
//	KindClaimHeld         another sender holds the order_id's claim (failure.ErrClaimHeld);
//	                      nothing was sent; redo later, without pausing the other orders
//	KindRetryable         not delivered for a reason that may pass: retried until Retry's
//	                      limits ran out; redo later, never dead-letter
//	KindStoreUnavailable  the sent-order store failed to claim the order_id
//	                      (*failure.StoreUnavailable naming the store); nothing was sent;
//	                      redo later, pause consuming, never dead-letter
//	KindCanceled          ctx ended first; redo later
//
// A Release that fails after a failed request is joined to the request's
// error, which decides the kind. A Confirm that fails after a delivery does
// not change the outcome: Send returns nil (see idempotentSink).
//
// A timeout or a connection lost after the request was written leaves it
// unknown whether Refersion recorded the order; it is Retryable, and redoing
// it may credit it twice. No client can do better without deduplication on
// Refersion's side, which is not documented.
func (r *Refersion) Send(ctx context.Context, o mapping.Order) error {
	return r.head.Send(ctx, o)
}

// ConcurrencyLimit is adaptive concurrency's current limit of requests in
// flight, or 0 when adaptation is off.
func (r *Refersion) ConcurrencyLimit() int {
	if r.adaptive == nil {
		return 0
	}
	return r.adaptive.Limit()
}

// BreakerState is the circuit breaker's state now, for readiness reports.
func (r *Refersion) BreakerState() BreakerState { return r.breaker.state() }

// Close releases idle connections. Send must not be called after Close.
func (r *Refersion) Close() { r.client.CloseIdleConnections() }

// Option changes what New builds.
type Option func(*options)

type options struct {
	client   *http.Client
	logger   *slog.Logger
	observer func(from, to BreakerState)

	attempts       func(Attempt)
	tracerProvider trace.TracerProvider
	ledger         store.Ledger
}

// WithHTTPClient replaces the client New builds. The client must not retry or
// follow redirects; its Transport should keep enough idle connections.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithLedger records each delivered order's lines in l (for refunds and
// cancellations), after its 2xx and before it is confirmed as sent.
func WithLedger(l store.Ledger) Option { return func(o *options) { o.ledger = l } }

// WithLogger logs retries, breaker changes and store failures; the default
// logs nothing. Keys and customer data are never logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithBreakerObserver calls f on every breaker state change, synchronously.
func WithBreakerObserver(f func(from, to BreakerState)) Option {
	return func(o *options) { o.observer = f }
}

// New validates cfg and builds the chain described in the package comment,
// claiming order_ids in store. store is required: there is no default, so
// that no relay runs by mistake on a store that forgets on restart (the
// state/memory one does, for tests and demos).
func New(cfg Config, store store.Sent, opts ...Option) (*Refersion, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("sink.New: the sent-order store (store.Sent) is nil: pass state.Stores.Sent, or a state/memory Sent for tests")
	}
	cfg = cfg.withDefaults()
	c := buildChain(cfg, nil, opts)
	o, s := c.opts, c.head
	if o.ledger != nil {
		s = &ledgerSink{next: s, ledger: o.ledger, log: o.logger}
	}
	s = newIdempotent(s, store, cfg.ClaimLease, o.logger)
	return &Refersion{head: s, client: o.client, breaker: c.breaker, adaptive: c.adaptive}, nil
}

// chain is the layers from rate limit to HTTP, as New and NewCanceller
// build them: rate limit ▶ retry ▶ adaptive ▶ breaker ▶ HTTP.
type chain struct {
	head     Sink
	breaker  *breakerSink
	adaptive *adaptiveSink // nil when off
	opts     options
}

// buildChain applies opts and builds the chain for cfg (with its
// defaults); body, if not nil, is what the HTTP layer posts for an order.
func buildChain(cfg Config, body func(mapping.Order) ([]byte, error), opts []Option) chain {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		o.client = newClient(cfg)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	var s Sink = newHTTPSender(cfg, o.client, newAttemptRecorder(cfg.Endpoint, o.tracerProvider, o.attempts)).withBody(body)
	br := newBreaker(s, cfg.Breaker, o.logger, o.observer)
	s = br
	var ad *adaptiveSink
	if cfg.Adaptive.Max > 0 {
		ad = newAdaptive(s, cfg.Adaptive)
		s = ad
	}
	s = newRetry(s, cfg.Retry, o.logger)
	if cfg.RateLimit.PerSecond > 0 {
		s = newRateLimit(s, cfg.RateLimit, br)
	}
	return chain{head: s, breaker: br, adaptive: ad, opts: o}
}
