package main

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

// newLogger returns the process logger (telemetry.NewLogger): LOG_LEVEL,
// LOG_FORMAT, emails masked unless LOG_PII, and every one of secrets
// replaced wherever it would appear.
func newLogger(o config.Observability, w io.Writer, secrets ...string) *slog.Logger {
	return telemetry.NewLogger(w, o.LogLevel, o.LogFormat, o.LogPII, secrets...)
}

// logSecrets are the credentials in cfg, for newLogger to scrub.
func logSecrets(cfg config.Config) []string {
	s := []string{cfg.Refersion.PublicKey.Reveal(), cfg.Refersion.SecretKey.Reveal(),
		cfg.Refersion.APIKey.Reveal(), cfg.Kafka.Password.Reveal(), cfg.Observability.AdminToken.Reveal()}
	s = append(s, accountSecrets(cfg)...)
	if u, err := url.Parse(cfg.State.RedisURL.Reveal()); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			s = append(s, p)
		}
	}
	return s
}

// shutdownTelemetry pushes the last metrics and spans, within 5s.
func shutdownTelemetry(tel *telemetry.Telemetry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("telemetry shutdown", "error", err)
	}
}

// relayOption adds instrumentation to what buildRelay builds.
type relayOption func(*instrumentation)

// withTelemetry instruments the relay with tel: delivery attempts and spans
// in the sink, counted identity lookups, order spans in the pipeline, and the
// observable instruments over the pipeline, breaker and consumer lag.
func withTelemetry(tel *telemetry.Telemetry) relayOption {
	return func(in *instrumentation) { in.tel = tel }
}

// instrumentation is what buildRelay adds; the zero value adds nothing.
type instrumentation struct{ tel *telemetry.Telemetry }

func (in instrumentation) sinkOptions(endpoint string) ([]sink.Option, error) {
	if in.tel == nil {
		return nil, nil
	}
	observe, err := in.tel.AttemptObserver(endpoint)
	if err != nil {
		return nil, err
	}
	return []sink.Option{sink.WithAttemptObserver(observe), sink.WithTracerProvider(in.tel.TracerProvider())}, nil
}

func (in instrumentation) identities(ids store.Identities) (store.Identities, error) {
	if in.tel == nil {
		return ids, nil
	}
	return in.tel.CountIdentities(ids)
}

// tracerProvider is nil without telemetry: the pipeline then uses the global one.
func (in instrumentation) tracerProvider() trace.TracerProvider {
	if in.tel == nil {
		return nil
	}
	return in.tel.TracerProvider()
}

// observe registers the observable instruments over r; transport reaches the
// brokers for the consumer-lag probe.
func (in instrumentation) observe(cfg config.Config, r *relay, transport *kafka.Transport) error {
	if in.tel == nil {
		return nil
	}
	return in.tel.Observe(telemetry.Sources{
		Stats: r.pipeline.Stats, Ready: r.pipeline.Ready, Breaker: func() sink.BreakerState { return r.destinations().breakerState() },
		Concurrency: func() int { return r.destinations().concurrencyLimit() },
		Lanes:       r.pipeline.Lanes,
		Kafka:       &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Transport: transport, Timeout: 10 * time.Second},
		Topic:       cfg.Kafka.Topic, Group: cfg.Kafka.GroupID,
	})
}
