package pipeline

import (
	"sort"
	"sync"
)

// tracker follows the offsets of one partition from fetch to done and says
// how far the partition may be committed: up to, not including, the first
// offset that is not done.
//
//	fetched   100  101  102  103  104
//	done       ✓    ✓    ✗    ✓    ✗
//	                     ▲
//	                     commit 102: the next offset to read after a restart
//
// Offsets arrive in increasing order but need not be contiguous (compaction
// and transaction markers leave gaps). A tracker is safe for concurrent use.
type tracker struct {
	mu      sync.Mutex
	entries []entry // fetched and not yet committable, increasing offsets
	head    int     // entries[:head] are popped
	next    int64   // commit position: every offset below it is done; -1 before any
}

type entry struct {
	offset int64
	done   bool
}

func newTracker() *tracker { return &tracker{next: -1} }

// add records a fetched offset. Offsets at or below the last added are ignored.
func (t *tracker) add(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.entries); n > t.head && t.entries[n-1].offset >= offset {
		return
	}
	if offset < t.next {
		return
	}
	t.entries = append(t.entries, entry{offset: offset})
}

// done marks offset as fully handled. It returns the new commit position and
// true when the position moved.
func (t *tracker) done(offset int64) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.entries[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
	if i == len(live) || live[i].offset != offset {
		return t.next, false
	}
	live[i].done = true
	moved := false
	for t.head < len(t.entries) && t.entries[t.head].done {
		t.next = t.entries[t.head].offset + 1
		t.head++
		moved = true
	}
	if t.head > 1024 && t.head*2 > len(t.entries) {
		t.entries = append(t.entries[:0], t.entries[t.head:]...)
		t.head = 0
	}
	return t.next, moved
}

// position returns the commit position: every offset below it is done.
// It is -1 before the first offset is done.
func (t *tracker) position() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next
}

// pending returns how many fetched offsets are not yet committable.
func (t *tracker) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries) - t.head
}
