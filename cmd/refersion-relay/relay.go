package main

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

// relay is every stage of `run`, built from one Config.
type relay struct {
	pipeline *pipeline.Pipeline
	dest     atomic.Pointer[destinations] // replaced by a reload
	closers  []func() error
	// journal hears every settlement, for tail and the console; mapper is
	// the pipeline's, for the console's replays.
	journal  *journal.Journal
	mapper   *mapping.Mapper
	sinkOpts []sink.Option // every webhook sink's instrumentation, for reloads
}

// Close releases what buildRelay opened, in reverse order.
func (r *relay) Close() error {
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	return errors.Join(errs...)
}

// buildRelay wires the stages: mapper, stores, destinations (per account:
// idempotency, rate limit, retry, breaker, HTTP; the REST API for cancels),
// dead-letter writer and pipeline. cfg must be valid. opts add
// instrumentation (withTelemetry).
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
	r.sinkOpts = sinkOpts
	d, err := buildDestinations(cfg, stores, log, sinkOpts...)
	if err != nil {
		return nil, err
	}
	r.dest.Store(d)
	r.closers = append(r.closers, func() error { r.destinations().Close(); return nil })
	ids, err := in.identities(stores.Identities)
	if err != nil {
		r.Close()
		return nil, err
	}
	if d.router != nil && cfg.Pipeline.Concurrency > 0 && !cfg.Pipeline.Adaptive {
		log.Warn("PIPELINE_ADAPTIVE is false: the accounts' concurrency caps do not apply; PIPELINE_CONCURRENCY bounds them all together")
	}

	dialer, transport, err := cfg.Kafka.Clients()
	if err != nil {
		r.Close()
		return nil, err
	}
	dlq := deadletter.NewKafka(cfg.Kafka.Brokers, cfg.Kafka.DLQTopic, transport)
	dlq.MaxBytes = cfg.Kafka.DLQMaxBytes
	r.closers = append(r.closers, dlq.Close)

	var one sink.Sink
	if d.router == nil {
		one = d.sinks[""]
	}
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
		HeldLimit:          cfg.Pipeline.HeldLimit,
		Processor:          d.processorOptions(cfg),
		Cancels:            d.canceller(),
		Lanes:              d.lanes(),
		DestinationHealthy: func() bool { return d.breakerState() == sink.BreakerClosed },
		MaxBytes:           cfg.Kafka.MaxBytes,
		CommitInterval:     cfg.Kafka.CommitInterval,
		MaxWait:            cfg.Kafka.MaxWait,
		SessionTimeout:     cfg.Kafka.SessionTimeout,
		HeartbeatInterval:  cfg.Kafka.HeartbeatInterval,
		RebalanceTimeout:   cfg.Kafka.RebalanceTimeout,
		Logger:             log,
		TracerProvider:     in.tracerProvider(),
		Journal:            r.journal,
	}, m, one, ids, dlq)
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

// destinations are the relay's destinations now.
func (r *relay) destinations() *destinations { return r.dest.Load() }

// reloadAccounts reads ACCOUNTS_FILE again (on SIGHUP) and gives the
// pipeline the accounts it says, with fresh destinations, without dropping
// work in flight (pipeline.Reload). A file with problems is not loaded: the
// accounts in use are kept, and the problems logged.
func (r *relay) reloadAccounts(cfg config.Config, stores *state.Stores, log *slog.Logger) {
	if cfg.AccountsFile == "" {
		log.Info("SIGHUP: no ACCOUNTS_FILE to reload; nothing changed")
		return
	}
	secrets := accountSecrets(cfg)
	telemetry.AddSecrets(log, secrets...) // before anything can log the new keys
	r.journal.AddSecrets(secrets...)
	d, err := buildDestinations(cfg, stores, log, r.sinkOpts...)
	if err == nil {
		if err = r.pipeline.Reload(d.router, d.lanes()); err != nil {
			d.Close()
		}
	}
	if err != nil {
		log.Error("ACCOUNTS_FILE not reloaded; the accounts in use are kept", "file", cfg.AccountsFile, "error", err)
		return
	}
	old := r.dest.Swap(d)
	old.Close() // idle connections only: requests in flight finish
	log.Info("ACCOUNTS_FILE reloaded", "file", cfg.AccountsFile, "accounts", d.names)
}

// userAgent is the User-Agent of every request to Refersion:
// refersion-relay/VERSION.
func userAgent() string { return "refersion-relay/" + version }
