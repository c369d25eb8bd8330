// Package pipeline consumes Segment events from Kafka and delivers their
// orders to Refersion: fetch, classify, update identities, map, enrich,
// deliver or dead-letter, then commit.
//
// Delivery promise: a partition's offset is committed only up to the first
// message that is not fully handled (delivered, dropped on purpose, skipped as
// already sent, or acknowledged by the dead-letter topic). A crash at any
// moment loses nothing; what was in flight is redone after restart, and the
// sent-order store keeps a redone order from being sent twice.
//
// Consumption uses kafka-go's ConsumerGroup, fetches each assigned partition
// with a kafka-go Client of its own (see partition.go), and commits through
// the group Generation the partition belongs to. A commit therefore never
// outlives its generation: when a partition is revoked, its in-flight work
// may finish but can no longer move the group's offset, which is the new
// owner's to commit. (Reader.CommitMessages would commit under whatever
// generation is current, including for partitions this member no longer owns.)
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/store"
)

// Sink delivers one order; sink.Sink satisfies it. Errors are classified with
// the failure package.
type Sink interface {
	Send(ctx context.Context, o mapping.Order) error
}

// Config is what the pipeline needs to know about Kafka and its own pace.
type Config struct {
	Brokers     []string
	Topic       string
	GroupID     string
	StartOffset int64 // kafka.FirstOffset or kafka.LastOffset, for a group with no commits
	Dialer      *kafka.Dialer

	Concurrency  int           // orders and dead letters in flight at once (default 64)
	DrainTimeout time.Duration // in-flight work's grace after stop or revocation (default 25s)
	MaxBytes     int           // per fetch (default 1 MiB)
	MaxWait      time.Duration // how long an empty fetch waits (default 500ms)
	// CommitInterval is the least time between two commits of a partition;
	// 0 commits as soon as the handled prefix grows.
	CommitInterval time.Duration

	HeartbeatInterval time.Duration // default 3s
	SessionTimeout    time.Duration // default 30s
	RebalanceTimeout  time.Duration // default 30s

	// PoisonAttempts and PoisonAfter bound how long one order that
	// Refersion keeps failing (5xx, timeouts) is redone while other orders
	// are delivered: past both it is dead-lettered as undelivered
	// (defaults 10 and 2m).
	PoisonAttempts int
	PoisonAfter    time.Duration
	// RejectionLimit is how many orders rejected in a row, with no delivery
	// between, mean the destination is misconfigured: consuming then stops
	// until a restart. 0 never stops.
	RejectionLimit int
	// DestinationHealthy reports whether the destination takes orders now
	// (its breaker closed); a poison order is told only then. nil: always.
	DestinationHealthy func() bool

	// RedoBackoff is the first wait before an order that could not be
	// delivered for a reason other than itself is tried again; it doubles up
	// to RedoBackoffMax (defaults 1s and 30s).
	RedoBackoff, RedoBackoffMax time.Duration

	// Processor tunes the event processor (message size, click capture).
	Processor processor.Options
	// Cancels sends refunds and cancellations (REFUND_EVENTS,
	// CANCEL_EVENTS); nil dead-letters them.
	Cancels Cancels
	// Lanes are the destinations of several accounts, by account name, which
	// Processor.Accounts routes to; then New's sink, Cancels and
	// DestinationHealthy are not used. nil: one account, named "".
	Lanes map[string]Lane
	// HeldLimit bounds the orders and cancels held by lanes in trouble (an
	// account's outage or refused keys) while the other lanes flow: at the
	// limit fetching pauses for everybody (default 1000).
	HeldLimit int

	Logger *slog.Logger
	// Journal, if not nil, is told what became of every order, cancel and
	// dead letter (see Settlement).
	Journal Journal
	// TracerProvider makes the order spans; nil means the global provider.
	TracerProvider trace.TracerProvider
}

func (c *Config) defaults() {
	if c.GroupID == "" {
		c.GroupID = "refersion-relay"
	}
	if c.StartOffset == 0 {
		c.StartOffset = kafka.FirstOffset
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 25 * time.Second
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 20
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 500 * time.Millisecond
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 3 * time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 30 * time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 30 * time.Second
	}
	if c.PoisonAttempts <= 0 {
		c.PoisonAttempts = 10
	}
	if c.PoisonAfter <= 0 {
		c.PoisonAfter = 2 * time.Minute
	}
	if c.HeldLimit <= 0 {
		c.HeldLimit = 1000
	}
	if c.RedoBackoff <= 0 {
		c.RedoBackoff = time.Second
	}
	if c.RedoBackoffMax < c.RedoBackoff {
		c.RedoBackoffMax = max(30*time.Second, c.RedoBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Pipeline is one consumer-group member. Run it once.
type Pipeline struct {
	cfg  Config
	proc *processor.Processor
	ids  store.Identities
	dlq  deadletter.Writer
	log  *slog.Logger

	gate        *gate
	sem         chan struct{}
	pool        *pool // runs dispatched jobs
	stats       stats
	joined      atomic.Bool                // a generation is active
	accounts    atomic.Pointer[accountSet] // "" with one account
	heldLimit   heldLimit
	inflight    inflight // orders dispatched and not settled, for refunds
	cancelQueue keyQueue // cancels of one order, one at a time
	orderQueue  keyQueue // orders of one order_id, one at a time, in fetch order
	stopped     atomic.Bool
	// stopping is closed when Run's ctx ends: work held by a lane in
	// trouble gives up then, instead of waiting out the drain time.
	stopping <-chan struct{}
}

// New returns a pipeline. None of its arguments may be nil.
func New(cfg Config, m *mapping.Mapper, s Sink, ids store.Identities, dlq deadletter.Writer) (*Pipeline, error) {
	cfg.defaults()
	var errs []error
	if len(cfg.Brokers) == 0 {
		errs = append(errs, errors.New("pipeline: no brokers"))
	}
	if cfg.Topic == "" {
		errs = append(errs, errors.New("pipeline: no topic"))
	}
	if m == nil || (s == nil && len(cfg.Lanes) == 0) || ids == nil || dlq == nil {
		errs = append(errs, errors.New("pipeline: mapper, sink, identity store and dead-letter writer are required"))
	}
	for name, l := range cfg.Lanes {
		if l.Sink == nil {
			errs = append(errs, fmt.Errorf("pipeline: account %s has no sink", name))
		}
	}
	if r := cfg.Processor.Accounts; r != nil {
		for _, a := range r.Accounts() {
			if _, ok := cfg.Lanes[a.Name]; !ok {
				errs = append(errs, fmt.Errorf("pipeline: account %s is routed to but has no lane", a.Name))
			}
		}
	} else if len(cfg.Lanes) > 1 || (len(cfg.Lanes) == 1 && cfg.Lanes[""].Sink == nil) {
		errs = append(errs, errors.New("pipeline: several accounts need Processor.Accounts to route between them"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	proc, err := processor.New(m, ids, cfg.Processor)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg, proc: proc, ids: ids, dlq: dlq, log: cfg.Logger, sem: make(chan struct{}, cfg.Concurrency), pool: newPool()}
	p.gate = newGate(newPauseLog(p.log).change)
	p.buildAccounts(s)
	return p, nil
}

// Ready reports whether the pipeline is consuming and the sink is usable,
// and if not, why.
func (p *Pipeline) Ready() (bool, string) {
	if p.stopped.Load() {
		return false, "stopping"
	}
	if !p.joined.Load() {
		return false, "not a member of consumer group " + p.cfg.GroupID + " yet"
	}
	if open, reason := p.gate.state(); !open {
		return false, "paused: " + reason
	}
	if held := p.laneReasons(); len(held) > 0 {
		return false, "holding: " + strings.Join(held, "; ")
	}
	return true, ""
}

// Stats returns the counters.
func (p *Pipeline) Stats() Snapshot { return p.stats.snapshot() }

// Run consumes until ctx is done, then stops fetching, gives in-flight work
// DrainTimeout to finish, commits what is done and returns nil. It returns an
// error only when the consumer group cannot be set up.
//
// Run returns within DrainTimeout plus half a second of ctx ending, whatever
// state it is in (destination down, a store down, retries in progress): work
// not finished by then stays uncommitted and is redone after a restart, and
// what is left of it is abandoned when the process exits.
func (p *Pipeline) Run(ctx context.Context) error {
	p.stopping = ctx.Done()
	defer p.pool.close()
	done := make(chan error, 1)
	go func() { done <- p.run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	t := time.NewTimer(p.cfg.DrainTimeout + 500*time.Millisecond)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		p.stopped.Store(true)
		p.log.Warn("drain deadline passed; stopping with work unfinished, which is redone after a restart", "drain_timeout", p.cfg.DrainTimeout)
		return nil
	}
}

func (p *Pipeline) run(ctx context.Context) error {
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    p.cfg.GroupID,
		Brokers:               p.cfg.Brokers,
		Topics:                []string{p.cfg.Topic},
		Dialer:                p.cfg.Dialer,
		StartOffset:           p.cfg.StartOffset,
		HeartbeatInterval:     p.cfg.HeartbeatInterval,
		SessionTimeout:        p.cfg.SessionTimeout,
		RebalanceTimeout:      p.cfg.RebalanceTimeout,
		WatchPartitionChanges: true,
		ErrorLogger:           kafka.LoggerFunc(func(f string, a ...any) { p.log.Debug("kafka: " + fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return fmt.Errorf("joining consumer group %s: %w", p.cfg.GroupID, err)
	}
	defer func() {
		p.stopped.Store(true)
		if err := group.Close(); err != nil {
			p.log.Debug("leaving consumer group", "error", err)
		}
	}()
	for ctx.Err() == nil {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.log.Warn("waiting for a consumer group generation", "group", p.cfg.GroupID, "error", err)
			continue
		}
		p.runGeneration(ctx, gen)
	}
	p.stopped.Store(true)
	return nil
}

// runGeneration consumes the partitions gen assigns until the generation
// ends or ctx is done, and returns when every partition has drained.
func (p *Pipeline) runGeneration(ctx context.Context, gen *kafka.Generation) {
	assigned := gen.Assignments[p.cfg.Topic]
	ids := make([]int, len(assigned))
	for i, a := range assigned {
		ids[i] = a.ID
	}
	p.log.Info("partitions assigned", "topic", p.cfg.Topic, "generation", gen.ID, "partitions", ids)
	p.joined.Store(true)
	defer p.joined.Store(false)
	var wg sync.WaitGroup
	for _, a := range assigned {
		wg.Add(1)
		gen.Start(func(genCtx context.Context) {
			defer wg.Done()
			p.consumePartition(ctx, genCtx, gen, a)
		})
	}
	wg.Add(1)
	gen.Start(func(genCtx context.Context) { // holds the generation open with no partitions too
		defer wg.Done()
		select {
		case <-genCtx.Done():
		case <-ctx.Done():
		}
	})
	wg.Wait()
}
