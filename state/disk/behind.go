package disk

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Retry delays of a failed commit of identity changes.
const (
	minRetry = 20 * time.Millisecond
	// pace is the least time between two commits of the writer, unless a
	// Flush is waiting.
	pace     = 50 * time.Millisecond
	maxRetry = 2 * time.Second
)

// behind is the write-behind state of Identities: the changes accepted and
// not yet durable, and the writer goroutine that commits them.
type behind struct {
	mu       sync.RWMutex  // shared: Lookup; alone: a change, or the writer taking or settling a batch
	pending  *layer        // takes new changes
	flushing *layer        // the batch being committed, nil when none; kept while its commit fails
	accepted uint64        // changes accepted so far
	durable  uint64        // how many of the first accepted changes are committed
	err      error         // why the last commit failed; nil once one succeeds
	closed   bool          // Close began: changes fail with ErrClosed
	stopped  bool          // the writer has ended
	progress chan struct{} // closed and replaced when a commit ends and when Close stops the writer

	kick  chan struct{} // a change was accepted (buffered: one wake-up is enough)
	flush chan struct{} // a Flush is waiting: commit now rather than after pace
	stop  chan struct{} // closed by Close
	done  chan struct{} // closed when the writer ends

	fault atomic.Pointer[func() error] // for tests: makes commits fail
}

func (b *behind) init() {
	b.pending = newLayer()
	b.progress = make(chan struct{})
	b.kick = make(chan struct{}, 1)
	b.flush = make(chan struct{}, 1)
	b.stop = make(chan struct{})
	b.done = make(chan struct{})
}

// broadcast wakes everyone waiting on progress. b.mu is held.
func (b *behind) broadcast() {
	close(b.progress)
	b.progress = make(chan struct{})
}

// size is the number of changed records held in memory. b.mu is held.
func (b *behind) size() int {
	n := b.pending.n
	if b.flushing != nil {
		n += b.flushing.n
	}
	return n
}

// viewOf is the current state over tx. b.mu is held.
func (b *behind) viewOf(tx *bolt.Tx) *view {
	return &view{tx: tx, layers: [2]*layer{b.pending, b.flushing}}
}

// change applies fn to the current state, at the current time, as one
// change: changes are serialized in the order they are accepted. It first
// waits while MaxPending records are held (back-pressure), until the writer
// catches up or ctx ends. It fails with ErrClosed after Close.
func (s *Identities) change(ctx context.Context, fn func(v *view, now time.Time)) error {
	b := &s.wb
	b.mu.Lock()
	for !b.closed && b.size() >= s.opts.MaxPending {
		wait := b.progress
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait:
		}
		b.mu.Lock()
	}
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	changed := false
	err := s.view(func(tx *bolt.Tx) error {
		v := b.viewOf(tx)
		fn(v, s.opts.Now())
		changed = v.changed
		return nil
	})
	if changed {
		b.accepted++
	}
	b.mu.Unlock()
	if changed {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return unavailable(identityStore, err)
}

// Flush returns nil once every change accepted before the call is durable
// in the file. It returns ctx's error if ctx ends first, and the commit's
// error if the last commit failed (the writer keeps the changes and retries
// them; call Flush again). After Close it returns nil if Close wrote
// everything, else an error.
func (s *Identities) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := &s.wb
	b.mu.RLock()
	defer b.mu.RUnlock()
	target := b.accepted
	if b.durable < target {
		select {
		case b.flush <- struct{}{}:
		default:
		}
	}
	for b.durable < target {
		switch {
		case b.err != nil:
			return unavailable(identityStore, fmt.Errorf("writing identity changes: %w", b.err))
		case b.stopped:
			return ErrClosed
		}
		wait := b.progress
		b.mu.RUnlock()
		select {
		case <-ctx.Done():
			b.mu.RLock()
			return ctx.Err()
		case <-wait:
		}
		b.mu.RLock()
	}
	return nil
}

// write is the writer goroutine: it commits the pending changes, a batch at
// a time, until Close; a failed batch is retried, with everything accepted
// since, after a growing delay. Once stopped it makes one more attempt to
// write what is pending, then ends.
func (s *Identities) write() {
	b := &s.wb
	defer close(b.done)
	var delay time.Duration
	stopping := false
	for !stopping {
		select {
		case <-b.kick:
		case <-b.stop:
			stopping = true
		}
		for {
			wrote, err := s.commitPending()
			if err == nil && !wrote {
				break
			}
			if err == nil {
				// Pace the commits: every commit is an fsync, and fsyncs
				// of this file delay those of the sent-order store, whose
				// latency is the window in which a crash can send an order
				// twice. A waiting Flush cuts the pause short.
				delay = 0
				if pace := s.opts.CommitPace; pace > 0 {
					select {
					case <-time.After(pace):
					case <-b.flush:
					case <-b.stop:
						stopping = true
					}
				}
				continue
			}
			if stopping {
				return
			}
			delay = min(max(2*delay, minRetry), maxRetry)
			select {
			case <-time.After(delay):
			case <-b.stop:
				stopping = true
			}
		}
	}
}

// commitPending commits everything pending, and what a failed commit left,
// in one fsynced transaction. It reports whether there was anything.
func (s *Identities) commitPending() (bool, error) {
	b := &s.wb
	b.mu.Lock()
	if b.pending.n > 0 {
		if b.flushing == nil {
			b.flushing = b.pending
		} else {
			b.flushing.absorb(b.pending)
		}
		b.pending = newLayer()
	}
	batch, upto := b.flushing, b.accepted
	b.mu.Unlock()
	if batch == nil {
		return false, nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		if f := b.fault.Load(); f != nil {
			if err := (*f)(); err != nil {
				return err
			}
		}
		return batch.persist(tx)
	})
	b.mu.Lock()
	b.err = err
	if err == nil {
		b.flushing, b.durable = nil, upto
	}
	b.broadcast()
	b.mu.Unlock()
	if err == nil && batch.dirty {
		s.scrubSoon()
	}
	return true, err
}

// stopWriter refuses further changes, lets the writer commit what is
// pending, and stops it. If that commit fails, the changes are dropped, as
// a crash would, and the error is returned. Later calls return nil.
func (s *Identities) stopWriter() error {
	b := &s.wb
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	var err error
	if b.durable < b.accepted {
		err = fmt.Errorf("identity changes not written: %w", b.err)
	}
	b.pending, b.flushing = newLayer(), nil
	b.broadcast()
	return err
}
