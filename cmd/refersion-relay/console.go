package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/console"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/replay"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

// operatorConsole is the console of `run` and what it holds open.
type operatorConsole struct {
	*console.Console
	dlq  *deadletter.Kafka
	done chan struct{} // closed when the admin server shuts down: ends the journal's streams
}

// newConsole builds the console over r: the pipeline's readiness (with the
// stores', as /readyz), breaker and counters, the group's lag, the
// dead-letter topic, and replays through r's own sink and stores (so a
// replay beside the running pipeline sends nothing twice), enabled by
// ADMIN_TOKEN.
func newConsole(cfg config.Config, r *relay, stores *state.Stores, log *slog.Logger) (*operatorConsole, error) {
	dialer, transport, err := cfg.Kafka.Clients()
	if err != nil {
		return nil, err
	}
	dlq := deadletter.NewKafka(cfg.Kafka.Brokers, cfg.Kafka.DLQTopic, transport)
	dlq.MaxBytes = cfg.Kafka.DLQMaxBytes
	lagClient := &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Transport: transport, Timeout: 10 * time.Second}
	oc := &operatorConsole{dlq: dlq, done: make(chan struct{})}
	replayer := func(ctx context.Context, records []replay.Record, dryRun bool, out io.Writer) (replay.Summary, error) {
		dest := r.destinations()
		rp := &replay.Replayer{Mapper: r.mapper, Sink: dest.one(), Sent: stores.Sent, Identities: stores.Identities,
			DryRun: dryRun, Out: out, Concurrency: min(cfg.Pipeline.Concurrency, 16), Processor: dest.processorOptions(cfg),
			ClaimWait: cfg.Refersion.RetryMaxElapsed + cfg.Refersion.RequestTimeout + 90*time.Second, DrainTimeout: cfg.Pipeline.DrainTimeout}
		if c := dest.canceller(); c != nil {
			rp.Cancels = c
		}
		if !dryRun {
			rp.DeadLetters = dlq
		}
		return rp.Run(ctx, recordList(records), replay.Filter{}, nil)
	}
	c, err := console.New(console.Options{
		Journal: r.journal, Version: version, Topic: cfg.Kafka.Topic, Group: cfg.Kafka.GroupID, DeadLetterTopic: cfg.Kafka.DLQTopic,
		Ready:   func(ctx context.Context) (bool, string) { return readiness(ctx, r, stores) },
		Breaker: func() string { return r.destinations().breakerState().String() },
		Stats:   r.pipeline.Stats,
		Lag: func(ctx context.Context) (map[int]int64, error) {
			return telemetry.GroupLag(ctx, lagClient, cfg.Kafka.Topic, cfg.Kafka.GroupID)
		},
		DeadLetters: console.KafkaDeadLetters{Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.DLQTopic, Dialer: dialer, Transport: transport},
		Replay:      replayer,
		Token:       cfg.Observability.AdminToken.Reveal(),
		Logger:      log,
		Done:        oc.done,
	})
	if err != nil {
		dlq.Close()
		return nil, err
	}
	oc.Console = c
	return oc, nil
}

// routes adds the console's routes to the admin server's mux.
func (oc *operatorConsole) routes(mux *http.ServeMux) { oc.Register(mux) }

// shutdown ends the journal's streams, so that the admin server's shutdown
// does not wait for them.
func (oc *operatorConsole) shutdown() {
	select {
	case <-oc.done:
	default:
		close(oc.done)
	}
}

// Close stops the console and releases its dead-letter writer.
func (oc *operatorConsole) Close() {
	oc.shutdown()
	oc.Console.Close()
	_ = oc.dlq.Close()
}

// readiness is /readyz's answer: the pipeline's, with every state store
// that is down named too.
func readiness(ctx context.Context, r *relay, stores *state.Stores) (bool, string) {
	ready, reason := r.pipeline.Ready()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := stores.Ping(ctx); err != nil {
		if ready {
			return false, err.Error()
		}
		reason += "; " + err.Error()
	}
	return ready, reason
}

// recordList is a replay.Source over records in memory.
type recordList []replay.Record

func (l recordList) Total() int { return len(l) }

func (l recordList) Each(ctx context.Context, fn func(replay.Record) error) error {
	for _, r := range l {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
