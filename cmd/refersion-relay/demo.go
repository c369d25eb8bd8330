//go:build !nodev

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/demo"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/storefront"
)

const (
	demoTopic = "storefront-events"
	demoGroup = "refersion-relay-demo"
)

const demoSynopsis = `demo [flags]

Starts an in-process Kafka broker and Refersion sandbox, writes a generated storefront
stream to the broker, runs the relay over it and prints a summary.`

// cmdDemo runs the whole product on an embedded default: a broker, a
// Refersion sandbox and the relay, fed a generated storefront stream.
func cmdDemo(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("demo", demoSynopsis, stdout)
	n := fs.Int("n", 50000, "events to generate")
	seed := fs.Int64("seed", 1, "seed of the generated stream")
	batch := fs.Float64("batch", 0.1, "share of lines that are batch envelopes")
	partitions := fs.Int("partitions", 4, "partitions of the source topic")
	var sb sandbox.Options
	fs.DurationVar(&sb.Latency, "latency", 0, "sandbox: delay before every answer, e.g. 50ms")
	fs.Float64Var(&sb.FailRate, "fail-rate", 0, "sandbox: share of orders answered 503")
	fs.Float64Var(&sb.ThrottleRate, "throttle-rate", 0, "sandbox: share of orders answered 429")
	fs.BoolVar(&sb.RejectAll, "reject-all", false, "sandbox: answer 422 to every order")
	refunds := fs.Float64("refunds", 0, "share of valid orders refunded or cancelled later; turns on REFUND_EVENTS and CANCEL_EVENTS")
	clicks := fs.Float64("clicks", 0, "share of page views that are affiliate landings (?rfsn=); turns on CLICK_CAPTURE")
	verbose := fs.Bool("v", false, "log the relay's state changes to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n <= 0 || *partitions <= 0 {
		return fmt.Errorf("%w: -n and --partitions must be positive", errUsage)
	}
	if err := sb.ValidateAs(sandboxFlagNamer(fs)); err != nil {
		return flagProblems(fs, demoSynopsis, err)
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}

	b, err := broker.Start(ctx, broker.Options{Topics: []broker.Topic{{Name: demoTopic, Partitions: *partitions}, {Name: demoTopic + ".refersion-dlq", Partitions: 1}}})
	if err != nil {
		return err
	}
	defer b.Close()
	sb.Keys = sandbox.DefaultKeys
	s := sandbox.New(sb)
	if err := s.Start(); err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stdout, "broker   %s (topic %s, %d partitions)\nsandbox  %s\n", b.Addr(), demoTopic, *partitions, s.Endpoint())

	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Batch, o.Refunds, o.Clicks = *n, *seed, *batch, *refunds, *clicks
	counts, err := storefront.Produce(ctx, []string{b.Addr()}, demoTopic, nil, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "produced %d events in %d messages: %d valid orders, %d invalid, %d identifies\n\n",
		counts.Events(), counts.Lines, counts.OrderValid, counts.OrderInvalid, counts.Identify)

	cfg, err := demoConfig(b.Addr(), s.Endpoint())
	if err != nil {
		return err
	}
	if sb.RejectAll {
		cfg.Pipeline.RejectionLimit = 0 // every order rejected is the point of --reject-all
	}
	if *refunds > 0 {
		cfg.Mapping.RefundEvents, cfg.Mapping.CancelEvents = mapping.DefaultRefundEvents, mapping.DefaultCancelEvents
		cfg.Refersion.APIURL = s.APIURL()
	}
	if *clicks > 0 {
		cfg.Mapping.ClickCapture = true
	}
	stores, err := state.Open(ctx, cfg.State)
	if err != nil {
		return err
	}
	defer stores.Close()
	r, err := buildRelay(cfg, stores, log)
	if err != nil {
		return err
	}
	defer r.Close()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- r.pipeline.Run(runCtx) }()
	finished, began := demo.Watch(ctx, r.pipeline, func() int64 { return demo.Lag(b.Addr(), demoTopic, demoGroup) }, counts.Events(), stderr)
	elapsed := time.Since(began)
	stop()
	if err := <-done; err != nil {
		return err
	}
	demo.PrintSummary(stdout, r.pipeline.Stats(), demo.DeadLetterReasons(b.Addr(), cfg.Kafka.DLQTopic), s.Stats(), elapsed)
	if !finished {
		return errors.New("interrupted before the stream was fully processed")
	}
	return nil
}

// demoConfig is the run configuration of the demo: defaults from the
// environment, pointed at the embedded broker and sandbox.
func demoConfig(brokerAddr, endpoint string) (config.Config, error) {
	cfg, err := config.Load()
	if err != nil {
		return cfg, err
	}
	cfg.Kafka.Brokers, cfg.Kafka.Topic, cfg.Kafka.GroupID = []string{brokerAddr}, demoTopic, demoGroup
	cfg.Kafka.DLQTopic = demoTopic + ".refersion-dlq"
	cfg.Kafka.TLS, cfg.Kafka.SASL = config.TLS{}, config.SASL{Mechanism: "none"}
	cfg.Kafka.MaxWait, cfg.Kafka.HeartbeatInterval = 100*time.Millisecond, 300*time.Millisecond
	cfg.Kafka.CommitInterval = 100 * time.Millisecond
	cfg.Refersion.URL = endpoint
	pub, sec, _ := strings.Cut(sandbox.DefaultKeys, ".")
	cfg.Refersion.PublicKey, cfg.Refersion.SecretKey = config.NewSecret(pub), config.NewSecret(sec)
	cfg.Refersion.RetryInitialBackoff, cfg.Refersion.BreakerOpenTimeout = 50*time.Millisecond, time.Second
	cfg.State.Backend = "memory"
	return cfg, nil
}
