package disk

import (
	"sync"

	bolt "go.etcd.io/bbolt"
)

// committer is a group commit: a writer queues its function and waits; one
// goroutine at a time takes everything queued and commits it in one write
// transaction (one fsync). A lone writer waits for one commit, with no timer
// such as bbolt's Batch has; writers that arrive during a commit share the
// next. This is what keeps concurrent writes fast on a disk that takes
// milliseconds per fsync.
type committer struct {
	run func(fns []func(tx *bolt.Tx) error) []error

	mu    sync.Mutex
	queue []pending
	busy  bool // a goroutine is draining the queue
}

type pending struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

// maxBatch bounds the functions of one transaction.
const maxBatch = 1000

// do commits fn, shared with other writers, and returns its outcome.
func (c *committer) do(fn func(tx *bolt.Tx) error) error {
	p := pending{fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	start := !c.busy
	c.busy = true
	c.mu.Unlock()
	if start {
		go c.drain()
	}
	return <-p.done
}

// drain commits queued functions until the queue is empty.
func (c *committer) drain() {
	for {
		c.mu.Lock()
		n := min(len(c.queue), maxBatch)
		if n == 0 {
			c.busy = false
			c.mu.Unlock()
			return
		}
		batch := c.queue[:n:n]
		c.queue = c.queue[n:]
		c.mu.Unlock()

		fns := make([]func(tx *bolt.Tx) error, len(batch))
		for i, p := range batch {
			fns[i] = p.fn
		}
		for i, err := range c.run(fns) {
			batch[i].done <- err
		}
	}
}
