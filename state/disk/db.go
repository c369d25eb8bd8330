// Package disk holds the default state backend: an identity store and a
// sent-order store, each a bbolt file in the state directory. A file is
// locked by the process that opens it: one replica per state directory.
// Errors mean the store is unavailable; the caller retries. A failure of
// the file (reading, writing, fsyncing) is a *failure.StoreUnavailable
// naming the store ("disk sent-order store", "disk identity store"); the
// caller's context ending and ErrClosed are returned as they are.
//
// Sent-order writes are committed and fsynced before they return; writers
// that arrive while a commit is running share the next one.
//
// Identity writes are written behind. Merge, Link and Forget change an
// overlay in memory and return without waiting for the disk; Lookup, from
// any goroutine, sees a change as soon as its call returns. A writer
// goroutine commits the overlay in batches, each an fsynced bbolt
// transaction holding everything pending when it starts, in the order the
// changes were accepted: once committed, the file holds what applying each
// change synchronously, in that order, would have left. The contract:
//
//   - Flush(ctx) returns nil once every change accepted before the call is
//     durable. A crash can lose only changes that no Flush returning nil
//     covered (some of them may have been committed); the file stays
//     consistent and opens cleanly. A caller that must not lose a change calls Flush
//     before it acknowledges the change's source: the relay flushes before it
//     commits Kafka offsets, so the events behind lost changes are consumed
//     and applied again after a restart.
//   - If a commit fails, the writer keeps the changes in the overlay and
//     retries them, with everything accepted since, after a growing delay;
//     while the last commit has failed, Flush and Ping return its error.
//   - When MaxPending changed records wait in memory, Merge, Link and Forget
//     block until the writer catches up or their context ends.
//   - Close commits what is pending (one more attempt) and reports if that
//     failed.
//
// Every file is checked at open, read without mapping it, before bbolt maps
// it (see checkFile): a damaged file (cut short, overwritten, not a bbolt
// file) is a *DamagedError naming it, never a panic or a SIGBUS. The
// identity store sets such a file aside and starts a new one (identities
// only enrich orders); the sent-order store refuses to open, and says how to
// go on. The sent-order store records an identity (store.Identified), so
// that a sent.db that is missing or emptied is told from one that is kept.
package disk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/refersion-relay/refersion-relay/failure"
)

// The stores' names in their errors.
const (
	sentStore     = "disk sent-order store"
	identityStore = "disk identity store"
)

// unavailable returns err, a failure of store's file, as a
// *failure.StoreUnavailable; nil, ErrClosed (a use after Close) and context
// errors (the caller's, ending a wait) are returned as they are.
func unavailable(store string, err error) error {
	if err == nil || errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &failure.StoreUnavailable{Store: store, Err: err}
}

// Options tune a store. Zero fields take the defaults.
type Options struct {
	// TTL is how long an entry lives after its last write. Default 90 days
	// for identities, 30 days for sent order_ids.
	TTL time.Duration
	// SweepInterval is how often expired entries are deleted from the file
	// (lookups ignore them before that). Default 1 hour.
	SweepInterval time.Duration
	// ScrubDelay is how long after a Forget the identity file is rewritten,
	// so the erased bytes leave the freed pages too (Close and Open also do
	// it). Forgets within the delay share one rewrite. Default 1 minute.
	ScrubDelay time.Duration
	// LockTimeout is how long Open waits for another process to release
	// the file. Default 3 seconds.
	LockTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// MaxPending bounds the identity store's changed records that wait in
	// memory for the writer; changes block while it is reached. Default
	// 100,000.
	MaxPending int
	// CommitPace is the least time between two commits of the identity
	// store's writer while no Flush waits (every commit is an fsync, and
	// fsyncs slow the sent-order store's); 0 means 50ms, negative none.
	CommitPace time.Duration
	// Log receives the stores' warnings: an identity file set aside because
	// it was damaged. Default slog.Default().
	Log *slog.Logger
}

func (o Options) withDefaults(ttl time.Duration) Options {
	for _, d := range []struct {
		p *time.Duration
		v time.Duration
	}{
		{&o.TTL, ttl}, {&o.SweepInterval, time.Hour}, {&o.ScrubDelay, time.Minute}, {&o.LockTimeout, 3 * time.Second},
	} {
		if *d.p <= 0 {
			*d.p = d.v
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CommitPace == 0 {
		o.CommitPace = 50 * time.Millisecond
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 100_000
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// ErrClosed is returned by a store's methods after Close.
var ErrClosed = errors.New("disk state store closed")

// ErrLocked means another process holds the store's file: one process per
// state directory.
var ErrLocked = errors.New("locked by another process (is another refersion-relay using this state directory?)")

// DamagedError is a store's file that cannot be opened safely: cut short,
// overwritten in part, or not a bbolt file at all. Opening it is refused
// before bbolt maps it (bbolt would panic, or the process die of SIGBUS).
type DamagedError struct {
	Path string // the file, absolute
	Err  error  // what is wrong with it
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s is damaged (%v)", e.Path, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// db is one bbolt file with its buckets, its group committer and its sweeper.
// Readers hold mu shared while in a View; the committer holds it shared
// while in an Update; a scrub holds it alone while it swaps the file.
type db struct {
	path    string
	opts    Options
	buckets [][]byte

	mu     sync.RWMutex
	bolt   *bolt.DB // nil once closed
	commit *committer

	stop chan struct{}
	done chan struct{}
}

func openDB(path string, opts Options, buckets ...[]byte) (*db, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	d := &db{path: path, opts: opts, buckets: buckets, stop: make(chan struct{}), done: make(chan struct{})}
	b, err := d.open(path)
	if err != nil {
		return nil, err
	}
	d.bolt = b
	d.commit = &committer{run: d.runBatch}
	return d, nil
}

// open checks the file at path (see checkFile), then opens it with bbolt
// and creates the buckets. A damaged file is a *DamagedError, a file that
// another process holds ErrLocked; a panic of bbolt's is recovered as a
// *DamagedError.
func (d *db) open(path string) (b *bolt.DB, err error) {
	if err := check(path, d.opts.LockTimeout); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, &DamagedError{Path: path, Err: fmt.Errorf("bbolt failed opening it: %v", r)}
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // a fault reading the mapped file panics, recovered above
	b, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: d.opts.LockTimeout, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%s is %w", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, &DamagedError{Path: path, Err: err}
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range d.buckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return b, nil
}

// view runs fn in a read transaction.
func (d *db) view(fn func(tx *bolt.Tx) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.bolt == nil {
		return ErrClosed
	}
	return d.bolt.View(fn)
}

// update runs fn in a write transaction shared with concurrent writers,
// and returns once it is durable. fn may run more than once.
func (d *db) update(fn func(tx *bolt.Tx) error) error { return d.commit.do(fn) }

// runBatch commits fns in one transaction. If one fails, the others are
// committed again without it.
func (d *db) runBatch(fns []func(tx *bolt.Tx) error) []error {
	errs := make([]error, len(fns))
	failed := -1
	d.mu.RLock()
	err := ErrClosed
	if d.bolt != nil {
		err = d.bolt.Update(func(tx *bolt.Tx) error {
			for i, fn := range fns {
				if err := fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
	}
	d.mu.RUnlock()
	if err == nil || failed < 0 {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	errs[failed] = err
	rest := d.runBatch(append(fns[:failed:failed], fns[failed+1:]...))
	copy(errs, rest[:failed])
	copy(errs[failed+1:], rest[failed:])
	return errs
}

// background sweeps expired entries every SweepInterval until close.
func (d *db) background(sweep func()) {
	defer close(d.done)
	t := time.NewTicker(d.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			sweep()
		}
	}
}

// close stops the sweeper and closes the file; ops fail with ErrClosed after.
func (d *db) close() error {
	select {
	case <-d.stop:
		return nil
	default:
		close(d.stop)
	}
	<-d.done
	return d.closeFile()
}

// closeFile closes the bbolt file, for close and for a failed open.
func (d *db) closeFile() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bolt == nil {
		return nil
	}
	err := d.bolt.Close()
	d.bolt = nil
	return err
}

// check opens the file at path for reading, holds a shared lock on it (so
// that no bbolt writer changes it meanwhile: another process waits out
// timeout, then ErrLocked) and checks it with checkFile. A missing file is
// fine: bbolt creates it.
func check(path string, timeout time.Duration) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	if err := lockShared(f, timeout); err != nil {
		if errors.Is(err, ErrLocked) {
			return fmt.Errorf("%s is %w", path, ErrLocked)
		}
		return fmt.Errorf("lock %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkFile(f, st.Size()); err != nil {
		if errors.Is(err, errDamaged) {
			return &DamagedError{Path: path, Err: err}
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}
