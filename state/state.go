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
//
// Open logs, through that logger, where the state is (the disk backend's
// directory as an absolute path) and what it found: a damaged identity file
// set aside, a sent-order store that is new. A sent-order store that is new
// while the consumer group has committed offsets has lost what it held:
// CheckNew tells, and by default refuses to go on (see NewStoreError).
package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

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

	// Dir is the disk backend's directory, absolute; "" for the others.
	Dir string

	log    *slog.Logger
	prefix string // the redis backend's key prefix
	ping   []func(ctx context.Context) error
	close  []func() error
}

// Option changes what Open does.
type Option func(*options)

type options struct {
	log      *slog.Logger
	existing bool
}

// WithLogger sets the logger of the stores' own log lines: for the redis
// backend, the redis client's, as state changes (the first failure, then
// one line when the server answers again). The default is slog.Default().
// The redis client's logger is process-wide: the last Open of a redis
// backend picks it for the whole process.
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// Existing makes Open refuse a disk state directory that does not exist or
// holds no identity store, instead of creating one: for commands that work on
// the relay's state (forget), where a mistyped STATE_DIR must not look like
// success.
func Existing() Option { return func(o *options) { o.existing = true } }

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
	if o.log == nil {
		o.log = slog.Default()
	}
	s := &Stores{Backend: cfg.Backend, log: o.log}
	switch cfg.Backend {
	case "memory":
		// STATE_MEMORY_MAX_BYTES is shared by the identity and sent-order
		// stores, half each (0: their defaults, 16 MiB each).
		half := cfg.MemoryMaxBytes / 2
		s.Identities = memory.NewIdentities(memory.Options{MaxEntries: cfg.MemoryMaxEntries, MaxBytes: half, TTL: cfg.IdentityTTL})
		s.Sent = memory.NewSent(memory.Options{MaxEntries: cfg.MemoryMaxEntries, MaxBytes: half, TTL: cfg.SentTTL})
		s.Ledger = memory.NewLedger(memory.Options{MaxEntries: cfg.MemoryMaxEntries, TTL: cfg.SentTTL})
		o.log.Info("state opened", "backend", "memory", "max_bytes", cmp.Or(cfg.MemoryMaxBytes, 2*memory.DefaultMaxBytes),
			"kept", "in process memory, lost when the process ends")
	case "disk":
		dir, err := filepath.Abs(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("STATE_DIR %s: %w", cfg.Dir, err)
		}
		s.Dir = dir
		if o.existing {
			if err := existingDir(dir); err != nil {
				return nil, err
			}
		}
		ids, err := disk.OpenIdentities(dir, disk.Options{TTL: cfg.IdentityTTL, Log: o.log})
		if err != nil {
			return nil, fmt.Errorf("disk state: %w", err)
		}
		sent, err := disk.OpenSent(dir, disk.Options{TTL: cfg.SentTTL, Log: o.log})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("disk state: %w", err), ids.Close())
		}
		ledger, err := disk.OpenLedger(dir, disk.Options{TTL: cfg.SentTTL, Log: o.log})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("disk state: %w", err), ids.Close(), sent.Close())
		}
		s.Identities, s.Sent, s.Ledger = ids, sent, ledger
		s.ping = append(s.ping, ids.Ping, sent.Ping, ledger.Ping)
		s.close = append(s.close, ids.Close, sent.Close, ledger.Close)
		attrs := []any{"backend", "disk", "dir", dir}
		if origin, _ := sent.Origin(ctx); origin.New {
			attrs = append(attrs, "sent_store", "new: no store id, no order_id")
		} else {
			attrs = append(attrs, "sent_store_id", origin.ID, "sent_store_created", origin.Created)
		}
		o.log.Info("state opened", attrs...)
	case "redis":
		redisstore.SetLogger(o.log)
		c, err := redisstore.Dial(cfg.RedisURL.Reveal())
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		opts := redisstore.Options{IdentityTTL: cfg.IdentityTTL, SentTTL: cfg.SentTTL}
		s.prefix = "refersion-relay:" // redisstore's default
		o.log.Info("state opened", "backend", "redis", "key_prefix", s.prefix)
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

// existingDir returns an error unless dir is a directory holding an
// identity store.
func existingDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("STATE_DIR %s does not exist: set STATE_DIR to the relay's state directory (its default, ./refersion-relay-state, is relative to the working directory)", dir)
	case err != nil:
		return fmt.Errorf("STATE_DIR %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("STATE_DIR %s is not a directory: set STATE_DIR to the relay's state directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, disk.IdentitiesFile)); err != nil {
		return fmt.Errorf("STATE_DIR %s holds no identity store (%s): is it the relay's state directory? %w", dir, disk.IdentitiesFile, err)
	}
	return nil
}
