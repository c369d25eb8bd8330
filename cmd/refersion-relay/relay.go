package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state"
)

// relay is every stage of `run`, built from one Config.
type relay struct {
	pipeline *pipeline.Pipeline
	sink     *sink.Refersion
	closers  []func() error
	// journal hears every settlement, for tail and the console; mapper
	// and cancels are the pipeline's, for the console's replays.
	journal *journal.Journal
	mapper  *mapping.Mapper
	cancels *sink.Canceller
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
// opts add instrumentation (withTelemetry).
func buildRelay(cfg config.Config, stores *state.Stores, log *slog.Logger, opts ...relayOption) (*relay, error) {
	var in instrumentation
	for _, o := range opts {
		o(&in)
	}
	m, err := mapping.New(cfg.Mapping.MapperOptions())
	if err != nil {
		return nil, fmt.Errorf("mapping settings: %w", err)
	}
	r := &relay{mapper: m, journal: journal.New(journal.Options{Size: cfg.Observability.JournalSize, PII: cfg.Observability.LogPII, Secrets: logSecrets(cfg)})}
	sinkOpts, err := in.sinkOptions(cfg.Refersion.URL)
	if err != nil {
		return nil, err
	}
	refunds := cfg.Mapping.Refunds()
	if refunds {
		sinkOpts = append(sinkOpts, sink.WithLedger(stores.Ledger))
	}
	s, err := buildSink(cfg, stores, log, sinkOpts...)
	if err != nil {
		return nil, err
	}
	ids, err := in.identities(stores.Identities)
	if err != nil {
		s.Close()
		return nil, err
	}
	r.sink = s
	r.closers = append(r.closers, func() error { s.Close(); return nil })
	var cancels pipeline.Cancels
	if refunds {
		c, err := buildCanceller(cfg, stores, log)
		if err != nil {
			r.Close()
			return nil, err
		}
		cancels, r.cancels = c, c
		r.closers = append(r.closers, func() error { c.Close(); return nil })
	}

	dialer, transport, err := cfg.Kafka.Clients()
	if err != nil {
		r.Close()
		return nil, err
	}
	dlq := deadletter.NewKafka(cfg.Kafka.Brokers, cfg.Kafka.DLQTopic, transport)
	dlq.MaxBytes = cfg.Kafka.DLQMaxBytes
	r.closers = append(r.closers, dlq.Close)

	p, err := pipeline.New(pipeline.Config{
		Brokers:            cfg.Kafka.Brokers,
		Topic:              cfg.Kafka.Topic,
		GroupID:            cfg.Kafka.GroupID,
		StartOffset:        cfg.Kafka.StartOffsetValue(),
		Dialer:             dialer,
		Concurrency:        cfg.Pipeline.Concurrency,
		DrainTimeout:       cfg.Pipeline.DrainTimeout,
		PoisonAttempts:     cfg.Pipeline.PoisonAttempts,
		PoisonAfter:        cfg.Pipeline.PoisonAfter,
		RejectionLimit:     cfg.Pipeline.RejectionLimit,
		Processor:          cfg.Mapping.ProcessorOptions(),
		Cancels:            cancels,
		DestinationHealthy: func() bool { return s.BreakerState() == sink.BreakerClosed },
		MaxBytes:           cfg.Kafka.MaxBytes,
		CommitInterval:     cfg.Kafka.CommitInterval,
		MaxWait:            cfg.Kafka.MaxWait,
		SessionTimeout:     cfg.Kafka.SessionTimeout,
		HeartbeatInterval:  cfg.Kafka.HeartbeatInterval,
		RebalanceTimeout:   cfg.Kafka.RebalanceTimeout,
		Logger:             log,
		TracerProvider:     in.tracerProvider(),
		Journal:            r.journal,
	}, m, s, ids, dlq)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.pipeline = p
	if err := in.observe(cfg, r, transport); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// userAgent is the User-Agent of every request to Refersion:
// refersion-relay/VERSION.
func userAgent() string { return "refersion-relay/" + version }

// buildSink builds the Refersion sink from cfg: idempotency through the
// sent-order store, rate limit, retry, breaker, HTTP; extra options follow
// the built-in ones.
func buildSink(cfg config.Config, stores *state.Stores, log *slog.Logger, extra ...sink.Option) (*sink.Refersion, error) {
	sc := cfg.Refersion.SinkConfig()
	sc.UserAgent, sc.Adaptive = userAgent(), cfg.Pipeline.AdaptiveConfig()
	s, err := sink.New(sc, stores.Sent, append([]sink.Option{sink.WithLogger(log)}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("refersion settings: %w", err)
	}
	return s, nil
}

// buildCanceller builds the cancel destination (REFERSION_API_URL): the
// webhook's keys, retry, breaker and rate limit settings, its own instances.
func buildCanceller(cfg config.Config, stores *state.Stores, log *slog.Logger) (*sink.Canceller, error) {
	sc := cfg.Refersion.SinkConfig()
	sc.Endpoint, sc.UserAgent = cfg.Refersion.APIURL, userAgent()
	c, err := sink.NewCanceller(sc, stores.Sent, stores.Ledger, sink.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("refersion API settings: %w", err)
	}
	return c, nil
}
