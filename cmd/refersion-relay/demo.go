package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/storefront"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

const (
	demoTopic = "storefront-events"
	demoGroup = "refersion-relay-demo"
)

// cmdDemo runs the whole product on an embedded default: a broker, a
// Refersion sandbox and the relay, fed a generated storefront stream.
func cmdDemo(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "demo [flags]\n\nStarts an in-process Kafka broker and Refersion sandbox, writes a generated storefront\nstream to the broker, runs the relay over it and prints a summary.", stdout)
	n := fs.Int("n", 50000, "events to generate")
	seed := fs.Int64("seed", 1, "seed of the generated stream")
	batch := fs.Float64("batch", 0.1, "share of lines that are batch envelopes")
	partitions := fs.Int("partitions", 4, "partitions of the source topic")
	var sb sandbox.Options
	fs.DurationVar(&sb.Latency, "latency", 0, "sandbox: delay before every answer, e.g. 50ms")
	fs.Float64Var(&sb.FailRate, "fail-rate", 0, "sandbox: share of orders answered 503")
	fs.Float64Var(&sb.ThrottleRate, "throttle-rate", 0, "sandbox: share of orders answered 429")
	fs.BoolVar(&sb.RejectAll, "reject-all", false, "sandbox: answer 422 to every order")
	verbose := fs.Bool("v", false, "log the relay's state changes to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n <= 0 || *partitions <= 0 {
		return fmt.Errorf("%w: -n and --partitions must be positive", errUsage)
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
	o.N, o.Seed, o.Batch = *n, *seed, *batch
	counts, err := produceStream(ctx, []string{b.Addr()}, demoTopic, nil, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "produced %d events in %d messages: %d valid orders, %d invalid, %d identifies\n\n",
		counts.Events(), counts.Lines, counts.OrderValid, counts.OrderInvalid, counts.Identify)

	cfg, err := demoConfig(b.Addr(), s.Endpoint())
	if err != nil {
		return err
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
	finished, began := watchProgress(ctx, r.pipeline, b.Addr(), counts.Events(), stderr)
	elapsed := time.Since(began)
	stop()
	if err := <-done; err != nil {
		return err
	}
	printSummary(stdout, r.pipeline.Stats(), deadLetterReasons(b.Addr(), cfg.Kafka.DLQTopic), s.Stats(), elapsed)
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

// produceStream writes a generated stream to topic, keyed by anonymousId.
// transport may be nil for plain TCP.
func produceStream(ctx context.Context, brokers []string, topic string, transport *kafka.Transport, o storefront.Options) (storefront.Counts, error) {
	g, err := storefront.New(o)
	if err != nil {
		return storefront.Counts{}, err
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, BatchSize: 1000, AllowAutoTopicCreation: true}
	if transport != nil {
		w.Transport = transport
	}
	defer w.Close()
	batch := make([]kafka.Message, 0, 1000)
	flush := func() error {
		err := w.WriteMessages(ctx, batch...)
		batch = batch[:0]
		if err != nil {
			return fmt.Errorf("producing to %s: %w", topic, err)
		}
		return nil
	}
	for {
		l, ok := g.Next()
		if !ok {
			break
		}
		batch = append(batch, kafka.Message{Key: []byte(l.Events[0].AnonymousID), Value: bytes.Clone(l.Data)})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return g.Counts(), err
			}
		}
	}
	return g.Counts(), flush()
}

// watchProgress prints progress until every event is handled and committed.
// It reports false if ctx ended first, and when the first message arrived
// (the group join before it is not counted in the rate).
func watchProgress(ctx context.Context, p *pipeline.Pipeline, addr string, total int, w io.Writer) (bool, time.Time) {
	tty := telemetry.IsTerminal(w)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last, began := time.Time{}, time.Now()
	for first := true; ; {
		s := p.Stats()
		if first && s.Messages > 0 {
			first, began = false, time.Now()
		}
		complete := s.Events >= int64(total) && s.InFlight == 0 && lag(addr) == 0
		if now := time.Now(); complete || (tty && now.Sub(last) >= 250*time.Millisecond) || now.Sub(last) >= 2*time.Second {
			last = now
			rate := float64(s.Events) / time.Since(began).Seconds()
			line := fmt.Sprintf("events %d/%d (%.0f%%)  delivered %d  dead-lettered %d  dropped %d  %.0f events/s",
				s.Events, total, 100*float64(s.Events)/float64(total), s.Delivered, s.DeadLetteredTotal(), s.DroppedTotal(), rate)
			if tty {
				fmt.Fprintf(w, "\r%-100s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
		if complete {
			if tty {
				fmt.Fprintln(w)
			}
			return true, began
		}
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(w)
			}
			return false, began
		case <-tick.C:
		}
	}
}

// lag returns how many messages of the demo topic the group has not
// committed, or -1 if the broker cannot say.
func lag(addr string) int64 {
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	parts, err := pipeline.GroupLag(context.Background(), c, demoTopic, demoGroup)
	if err != nil {
		return -1
	}
	var n int64
	for _, l := range parts {
		n += l
	}
	return n
}

var indexes = regexp.MustCompile(`\[\d+\]`)

// deadLetterReasons reads the dead-letter topic and counts its records by
// reason and first problem.
func deadLetterReasons(addr, topic string) map[string]int {
	out := map[string]int{}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		m, err := rd.FetchMessage(ctx)
		cancel()
		if err != nil {
			return out
		}
		d, err := pipeline.ParseDeadLetter(m)
		if err != nil {
			continue
		}
		key := d.Reason
		if len(d.Problems) > 0 {
			p := d.Problems[0]
			reason, _, _ := strings.Cut(p.Reason, ":")
			reason, _, _ = strings.Cut(reason, " (")
			key += ": " + strings.TrimPrefix(indexes.ReplaceAllString(p.Field, "[]")+" ", " ") + reason
		} else if d.Status != 0 {
			key += fmt.Sprintf(": HTTP %d", d.Status)
		}
		out[key]++
	}
}

func printSummary(w io.Writer, s pipeline.Snapshot, dl map[string]int, sb sandbox.Stats, elapsed time.Duration) {
	fmt.Fprintf(w, "\nSummary (%.1fs, %.0f events/s)\n", elapsed.Seconds(), float64(s.Events)/elapsed.Seconds())
	fmt.Fprintf(w, "  events            %d in %d messages\n", s.Events, s.Messages)
	fmt.Fprintf(w, "  orders delivered  %d (sandbox accepted %d, duplicates %d)\n", s.Delivered, sb.Accepted, sb.Duplicates)
	fmt.Fprintf(w, "  skipped as sent   %d\n", s.Skipped)
	fmt.Fprintf(w, "  identities        %d identify, %d alias\n", s.Identify, s.Alias)
	fmt.Fprintf(w, "  dropped           %d\n", s.DroppedTotal())
	for _, k := range sortedKeys(s.Dropped) {
		if s.Dropped[k] > 0 {
			fmt.Fprintf(w, "    %-16s %d\n", k, s.Dropped[k])
		}
	}
	fmt.Fprintf(w, "  dead-lettered     %d\n", s.DeadLetteredTotal())
	for _, k := range sortedKeys(dl) {
		fmt.Fprintf(w, "    %-6d %s\n", dl[k], k)
	}
	if s.Redone > 0 {
		fmt.Fprintf(w, "  redone after a failed attempt: %d\n", s.Redone)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
