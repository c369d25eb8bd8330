package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sink"
)

// relay is every stage of `run`, built from one Config.
type relay struct {
	pipeline *pipeline.Pipeline
	sink     *sink.Refersion
	closers  []func() error
}

// Close releases what buildRelay opened, in reverse order.
func (r *relay) Close() error {
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	return errors.Join(errs...)
}

// buildRelay wires the stages: mapper, stores, sink (idempotency, rate limit,
// retry, breaker, HTTP), dead-letter writer and pipeline. cfg must be valid.
func buildRelay(cfg config.Config, stores stateStores, log *slog.Logger) (*relay, error) {
	m, err := mapping.New(mapping.Options{
		OrderEvents:     cfg.Mapping.OrderEvents,
		CartIDSources:   cfg.Mapping.CartIDSources,
		DefaultCurrency: cfg.Mapping.DefaultCurrency,
	})
	if err != nil {
		return nil, fmt.Errorf("mapping settings: %w", err)
	}
	r := &relay{}
	s, err := buildSink(cfg, stores, log)
	if err != nil {
		return nil, err
	}
	r.sink = s
	r.closers = append(r.closers, func() error { s.Close(); return nil })

	dialer, transport, err := cfg.Kafka.Clients()
	if err != nil {
		r.Close()
		return nil, err
	}
	dlq := pipeline.NewKafkaDeadLetters(cfg.Kafka.Brokers, cfg.Kafka.DLQTopic, transport)
	r.closers = append(r.closers, dlq.Close)

	p, err := pipeline.New(pipeline.Config{
		Brokers:           cfg.Kafka.Brokers,
		Topic:             cfg.Kafka.Topic,
		GroupID:           cfg.Kafka.GroupID,
		StartOffset:       cfg.Kafka.StartOffsetValue(),
		Dialer:            dialer,
		Concurrency:       cfg.Pipeline.Concurrency,
		DrainTimeout:      cfg.Pipeline.DrainTimeout,
		MaxBytes:          cfg.Kafka.MaxBytes,
		CommitInterval:    cfg.Kafka.CommitInterval,
		MaxWait:           cfg.Kafka.MaxWait,
		SessionTimeout:    cfg.Kafka.SessionTimeout,
		HeartbeatInterval: cfg.Kafka.HeartbeatInterval,
		RebalanceTimeout:  cfg.Kafka.RebalanceTimeout,
		Logger:            log,
	}, m, s, stores.identities, dlq)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.pipeline = p
	return r, nil
}

// buildSink builds the Refersion sink from cfg: idempotency through the
// sent-order store, rate limit, retry, breaker, HTTP.
func buildSink(cfg config.Config, stores stateStores, log *slog.Logger) (*sink.Refersion, error) {
	s, err := sink.New(sink.Config{
		Endpoint:       cfg.Refersion.URL,
		Keys:           sink.NewKeys(cfg.Refersion.PublicKey.Reveal(), cfg.Refersion.SecretKey.Reveal()),
		RequestTimeout: cfg.Refersion.RequestTimeout,
		Retry: sink.RetryConfig{
			MaxAttempts:     cfg.Refersion.RetryMaxAttempts,
			InitialInterval: cfg.Refersion.RetryInitialBackoff,
			MaxInterval:     cfg.Refersion.RetryMaxBackoff,
			MaxElapsed:      cfg.Refersion.RetryMaxElapsed,
		},
		Breaker:   sink.BreakerConfig{Failures: uint32(cfg.Refersion.BreakerFailures), OpenTimeout: cfg.Refersion.BreakerOpenTimeout},
		RateLimit: sink.RateLimitConfig{PerSecond: cfg.Refersion.RateLimit, Burst: cfg.Refersion.RateBurst},
	}, sink.WithStore(stores.sent), sink.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("refersion settings: %w", err)
	}
	return s, nil
}

// stateStores are the identity and sent-order stores the relay uses.
type stateStores struct {
	identities mapping.IdentityStore
	sent       sink.SentStore
	ping       func(context.Context) error
	close      func() error
}

// memoryStores keeps state in process memory: lost on restart.
func memoryStores(maxEntries int, sentTTL time.Duration) stateStores {
	return stateStores{
		identities: mapping.NewMemoryIdentities(),
		sent:       sink.NewMemoryStore(sink.MemoryStoreOptions{MaxEntries: maxEntries, TTL: sentTTL}),
		ping:       func(context.Context) error { return nil },
		close:      func() error { return nil },
	}
}
