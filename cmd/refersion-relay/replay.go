package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/replay"
	"github.com/refersion-relay/refersion-relay/state"
)

const replaySynopsis = `replay [flags]

Re-sends failed orders through the current mapping, the same sink (retry,
breaker, rate limit) and the sent-order store: an order already delivered is
skipped, so replaying twice is harmless. Reads its source to the end as it was
at start, then stops. Settings come from the environment, as for run.

Sources (one):
  (default)                         the dead-letter topic, KAFKA_DLQ_TOPIC
  --file PATH                       NDJSON of events, or of records written by --export
  --source-topic NAME --since T     a time window of the source topic, re-run in full

Reasons (--reason, repeatable): invalid, malformed and identity events stay
invalid until the source data or the mapping changes; rejected, undelivered
and panic ones may go through once their cause is fixed.

Exit status: 0 when every selected order ended delivered or skipped (and when
the dead-letter topic does not exist yet: nothing to replay), 1 when some
failed again or are still invalid, 2 on usage or connection errors.`

// deadLetterReasons are the values of --reason: every reason a record is
// dead-lettered for.
var deadLetterReasons = []string{deadletter.ReasonInvalid, deadletter.ReasonMalformed, deadletter.ReasonIdentity,
	deadletter.ReasonRejected, deadletter.ReasonPanic, deadletter.ReasonUndelivered, deadletter.ReasonRefundBeforeOrder,
	deadletter.ReasonAmountOnly, deadletter.ReasonConflict, deadletter.ReasonNoAccount}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func cmdReplay(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("replay", replaySynopsis, stdout)
	file := fs.String("file", "", "read events or exported dead-letter records from this NDJSON file")
	sourceTopic := fs.String("source-topic", "", "re-run a time window of this topic (with --since, optionally --until)")
	since := fs.String("since", "", "only records at or after this time (RFC 3339, or a duration ago like 24h)")
	until := fs.String("until", "", "only records at or before this time (RFC 3339, or a duration ago)")
	dryRun := fs.Bool("dry-run", false, "print what would be sent, skipped or still invalid; send nothing")
	export := fs.String("export", "", "write the selected dead-letter records to this NDJSON file and send nothing")
	var reasons, statuses, orderIDs multiFlag
	fs.Var(&reasons, "reason", "only dead letters of this reason: "+strings.Join(deadLetterReasons, ", ")+" (repeatable)")
	fs.Var(&statuses, "status", "only dead letters with this HTTP status (repeatable)")
	fs.Var(&orderIDs, "order-id", "only this order_id (repeatable)")
	allowResend := fs.Bool("allow-resend", false, "replay with STATE_BACKEND=memory, which cannot know what was sent before: every replayed order is sent, even those Refersion already has")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f, err := replayFilter(reasons, statuses, orderIDs, *since, *until)
	if err != nil {
		return err
	}
	if *file != "" && *sourceTopic != "" {
		return fmt.Errorf("%w: --file and --source-topic are two sources; give one", errUsage)
	}
	if *sourceTopic != "" && f.Since.IsZero() {
		return fmt.Errorf("%w: --source-topic needs --since, e.g. --since 2026-11-20T00:00:00Z", errUsage)
	}
	cfg, err := config.Load()
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return &exitError{code: 2, err: invalid(err)}
	}
	if cfg.State.Backend == "memory" && *export == "" && !*dryRun && !*allowResend {
		return &exitError{code: 2, err: errors.New("STATE_BACKEND=memory: a replay cannot know which orders were sent before and would send them again; " +
			"use the relay's own state (STATE_BACKEND=redis, or disk with the relay stopped), or pass --allow-resend")}
	}
	dialer, transport, err := cfg.Kafka.Clients()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if *file == "" && *sourceTopic == "" {
		// The dead-letter topic is created by the first dead letter: until
		// then there is nothing to replay, which is no error.
		switch err := checkTopic(ctx, cfg.Kafka.Brokers, transport, cfg.Kafka.DLQTopic); {
		case errors.Is(err, errNoTopic):
			fmt.Fprintf(stderr, "nothing to replay: the dead-letter topic %s does not exist yet (nothing has been dead-lettered)\n", cfg.Kafka.DLQTopic)
			if *export != "" {
				return exportDeadLetters(ctx, replay.NewFileSource(strings.NewReader(""), 0), f, *export, stdout)
			}
			return nil
		case err != nil:
			return &exitError{code: 2, err: err}
		}
	}
	src, err := openReplaySource(ctx, cfg, dialer, transport, *file, *sourceTopic, f)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if src.Total() == 0 && *file == "" && *export == "" {
		what := "the dead-letter topic " + cfg.Kafka.DLQTopic + " is empty"
		if *sourceTopic != "" {
			what = "topic " + *sourceTopic + " has no record in that window"
		}
		fmt.Fprintf(stderr, "nothing to replay: %s\n", what)
		return nil
	}
	if *export != "" {
		return exportDeadLetters(ctx, src, f, *export, stdout)
	}
	return runReplay(ctx, cfg, transport, src, f, *dryRun, stdout, stderr)
}

func replayFilter(reasons, statuses, orderIDs []string, since, until string) (replay.Filter, error) {
	f := replay.Filter{Reasons: reasons, OrderIDs: orderIDs}
	for _, r := range reasons {
		if !slices.Contains(deadLetterReasons, r) {
			return f, fmt.Errorf("%w: --reason %q is not a dead-letter reason: want one of %s", errUsage, r, strings.Join(deadLetterReasons, ", "))
		}
	}
	for _, s := range statuses {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 599 {
			return f, fmt.Errorf("%w: --status %q is not an HTTP status code", errUsage, s)
		}
		f.Statuses = append(f.Statuses, n)
	}
	var err error
	if f.Since, err = parseWhen("--since", since); err != nil {
		return f, err
	}
	if f.Until, err = parseWhen("--until", until); err != nil {
		return f, err
	}
	return f, nil
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%w: %s %q: want an RFC 3339 time (2026-11-20T00:00:00Z) or a duration ago (24h)", errUsage, flag, v)
}

func openReplaySource(ctx context.Context, cfg config.Config, dialer *kafka.Dialer, transport *kafka.Transport, file, sourceTopic string, f replay.Filter) (replay.Source, error) {
	if file != "" {
		fh, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--file: %w", err)
		}
		return replay.NewFileSource(fh, countLines(file)), nil
	}
	o := replay.KafkaOptions{Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.DLQTopic, Dialer: dialer, Transport: transport, DeadLetters: true}
	if sourceTopic != "" {
		o = replay.KafkaOptions{Brokers: cfg.Kafka.Brokers, Topic: sourceTopic, Dialer: dialer, Transport: transport, Since: f.Since, Until: f.Until}
	}
	return replay.OpenKafka(ctx, o)
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	return strings.Count(string(b), "\n")
}

func exportDeadLetters(ctx context.Context, src replay.Source, f replay.Filter, path string, stdout io.Writer) error {
	out, err := os.Create(path)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--export: %w", err)}
	}
	enc := json.NewEncoder(out)
	n := 0
	err = src.Each(ctx, func(r replay.Record) error {
		if r.DeadLetter == nil || !f.MatchDeadLetter(r) {
			return nil
		}
		n++
		return enc.Encode(replay.Export(*r.DeadLetter))
	})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	fmt.Fprintf(stdout, "exported %d dead-letter records to %s\n", n, path)
	return nil
}

func runReplay(ctx context.Context, cfg config.Config, transport *kafka.Transport, src replay.Source, f replay.Filter, dryRun bool, stdout, stderr io.Writer) error {
	log := newLogger(cfg.Observability, stderr, logSecrets(cfg)...)
	stores, err := state.Open(ctx, cfg.State, state.WithLogger(log))
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer stores.Close()
	dest, err := buildDestinations(cfg, stores, log)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer dest.Close()
	var cancels replay.Cancels
	if c := dest.canceller(); c != nil {
		cancels = c
	}
	m, err := mapping.New(cfg.Mapping.MapperOptions())
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	r := &replay.Replayer{Mapper: m, Sink: dest.one(), Sent: stores.Sent, Identities: stores.Identities, DryRun: dryRun, Out: stdout,
		Concurrency: cfg.Pipeline.Concurrency, Processor: dest.processorOptions(cfg), Cancels: cancels, ClaimWait: cfg.Refersion.RetryMaxElapsed + cfg.Refersion.RequestTimeout + 90*time.Second} // past the claim lease
	if !dryRun {
		dlq := deadletter.NewKafka(cfg.Kafka.Brokers, cfg.Kafka.DLQTopic, transport)
		defer dlq.Close()
		r.DeadLetters = dlq
	}
	prog := newProgress(stderr, src.Total(), dryRun)
	sum, err := r.Run(ctx, src, f, prog.update)
	prog.finish(sum)
	printReplaySummary(stderr, sum, dryRun)
	switch {
	case errors.Is(err, replay.ErrUnauthorized):
		return &exitError{code: 2, err: err}
	case errors.Is(err, context.Canceled):
		return &exitError{code: 1, err: errors.New("interrupted; run the same command again to finish (delivered orders are skipped)")}
	case err != nil:
		return &exitError{code: 2, err: err}
	case !sum.OK():
		var what []string
		if sum.FailedAgain > 0 {
			what = append(what, fmt.Sprintf("%d orders failed again", sum.FailedAgain))
		}
		if sum.StillInvalid > 0 {
			what = append(what, fmt.Sprintf("%d events are still invalid", sum.StillInvalid))
		}
		return &exitError{code: 1, err: errors.New(strings.Join(what, " and "))}
	}
	return nil
}

func printReplaySummary(w io.Writer, s replay.Summary, dryRun bool) {
	sent := "delivered"
	if dryRun {
		sent = "would send"
	}
	fmt.Fprintf(w, "replayed %d events from %d records: %s %d, skipped as already sent %d, repeated %d, still invalid %d, failed again %d (back on the dead-letter topic: %d); identity changes applied %d, dropped %d, left out by --order-id %d\n",
		s.Events, s.Records, sent, s.Delivered, s.Skipped, s.Repeated, s.StillInvalid, s.FailedAgain, s.Requeued, s.Identities, s.Ignored, s.NotSelected)
	if s.Repeated > 0 {
		fmt.Fprintf(w, "  repeated: %d events carried an order_id met earlier in this replay; each order is sent once\n", s.Repeated)
	}
	if s.StillInvalid > 0 {
		fmt.Fprintf(w, "  still invalid: %d events are invalid for good: the current mapping rejects them as the relay did (a field missing\n"+
			"  or wrong, not JSON, an identify naming nobody), so no replay can deliver them until the source data or the mapping\n"+
			"  changes. --dry-run lists each with its problems. To replay only what can go through now, select by reason:\n"+
			"    refersion-relay replay --reason rejected --reason undelivered --reason panic\n", s.StillInvalid)
	}
	if s.FailedAgain > 0 && !dryRun {
		fmt.Fprintf(w, "  failed again: %d orders; they are back on the dead-letter topic: replay them once Refersion takes them\n", s.FailedAgain)
	}
}
