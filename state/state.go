// Package state opens the relay's two stores on the backend the
// configuration names: the identity store (customer traits by userId or
// anonymousId, and alias links) and the sent-order store (order_ids
// delivered, so that none is sent twice).
//
//	backend  where                            for
//	-------  -------------------------------  ------------------------------------------
//	memory   process memory, bounded, TTL     tests and demos; lost on restart
//	disk     bbolt files in STATE_DIR         one replica (the default); survives crashes
//	redis    one Redis server at REDIS_URL    several replicas consuming one topic
//
// Both stores keep the contracts of package store (store.Identities and
// store.Sent), and every backend passes their conformance suites
// (store/storetest). An error from any store method, other than the caller's
// own context ending, means the store is unavailable right now: the caller
// pauses and retries, and never drops or dead-letters an order because of
// it. The disk and redis backends return it as a *failure.StoreUnavailable
// naming the store and its backend ("redis sent-order store", "disk
// identity store"), so that the caller can say which store it waits for.
// Ping tells readiness the same.
//
// The redis client's own log lines go through the logger given to Open
// (WithLogger) as structured records of state changes, never as raw lines
// on stderr: see redisstore.SetLogger.
package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/state/redisstore"
	"github.com/refersion-relay/refersion-relay/store"
)

// Stores are the two stores of one backend. Both are safe for concurrent use.
type Stores struct {
	Backend    string // memory, disk or redis
	Identities store.Identities
	Sent       store.Sent
	Ledger     store.Ledger // per delivered order, the lines and what was cancelled since; lives for SentTTL

	ping  []func(ctx context.Context) error
	close []func() error
}

// Option changes what Open does.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sets the logger of the stores' own log lines: for the redis
// backend, the redis client's, as state changes (the first failure, then
// one line when the server answers again). The default is slog.Default().
// The redis client's logger is process-wide: the last Open of a redis
// backend picks it for the whole process.
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// Open opens the stores of cfg.Backend. It fails when cfg is invalid or
// when the disk backend's files cannot be opened (another process holds
// them, say). It does not wait for a redis server: the stores' methods and
// Ping fail until it answers. Close the Stores when done.
func Open(ctx context.Context, cfg config.State, opts ...Option) (*Stores, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Stores{Backend: cfg.Backend}
	switch cfg.Backend {
	case "memory":
		// STATE_MEMORY_MAX_BYTES is shared by the identity and sent-order
		// stores, half each (0: their defaults, 16 MiB each).
		half := cfg.MemoryMaxBytes / 2
		s.Identities = memory.NewIdentities(memory.Options{MaxEntries: cfg.MemoryMaxEntries, MaxBytes: half, TTL: cfg.IdentityTTL})
		s.Sent = memory.NewSent(memory.Options{MaxEntries: cfg.MemoryMaxEntries, MaxBytes: half, TTL: cfg.SentTTL})
		s.Ledger = memory.NewLedger(memory.Options{MaxEntries: cfg.MemoryMaxEntries, TTL: cfg.SentTTL})
	case "disk":
		ids, err := disk.OpenIdentities(cfg.Dir, disk.Options{TTL: cfg.IdentityTTL})
		if err != nil {
			return nil, fmt.Errorf("disk state: %w", err)
		}
		sent, err := disk.OpenSent(cfg.Dir, disk.Options{TTL: cfg.SentTTL})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("disk state: %w", err), ids.Close())
		}
		ledger, err := disk.OpenLedger(cfg.Dir, disk.Options{TTL: cfg.SentTTL})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("disk state: %w", err), ids.Close(), sent.Close())
		}
		s.Identities, s.Sent, s.Ledger = ids, sent, ledger
		s.ping = append(s.ping, ids.Ping, sent.Ping, ledger.Ping)
		s.close = append(s.close, ids.Close, sent.Close, ledger.Close)
	case "redis":
		redisstore.SetLogger(o.log)
		c, err := redisstore.Dial(cfg.RedisURL.Reveal())
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		opts := redisstore.Options{IdentityTTL: cfg.IdentityTTL, SentTTL: cfg.SentTTL}
		ids := redisstore.NewIdentities(c, opts)
		s.Identities, s.Sent, s.Ledger = ids, redisstore.NewSent(c, opts), redisstore.NewLedger(c, opts)
		s.ping = append(s.ping, ids.Ping)
		s.close = append(s.close, c.Close)
	default:
		return nil, fmt.Errorf("STATE_BACKEND %q is not memory, disk or redis", cfg.Backend)
	}
	return s, nil
}

// Ping returns nil when both stores can answer now, and otherwise why not,
// for the readiness check: a *failure.StoreUnavailable naming the store
// (or ctx's error, if ctx ended). It does not change what the stores hold.
func (s *Stores) Ping(ctx context.Context) error {
	for _, p := range s.ping {
		err := p(ctx)
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil, failure.IsStoreUnavailable(err):
			return err
		default:
			return &failure.StoreUnavailable{Store: s.Backend + " state store", Err: err}
		}
	}
	return nil
}

// Close releases the stores: the disk backend scrubs what Forget erased and
// closes its files; the redis backend closes its connections. The stores
// must not be used after.
func (s *Stores) Close() error {
	var errs []error
	for _, c := range s.close {
		errs = append(errs, c())
	}
	s.close = nil
	return errors.Join(errs...)
}
