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
//
// It holds only what it must: the offsets not done, and the done ones
// behind them. An offset done while it is the newest (a message settled
// inline, as most are) leaves nothing behind, so a partition whose work is
// all inline keeps the tracker at one entry whatever its rate.
type tracker struct {
	mu      sync.Mutex
	entries []entry // entries[head:]: increasing offsets; the first one is not done
	head    int     // entries[:head] are popped
	last    int64   // the last offset added; -1 before any
	next    int64   // commit position: every offset below it is done; -1 before any
	undone  int     // offsets added and not done
}

// entry is one fetched offset. through, when not 0, is the newest of the
// done offsets taken off the end of entries after it: done with it, they
// are all committable.
type entry struct {
	offset  int64
	through int64
	done    bool
}

// end is the newest offset e stands for.
func (e *entry) end() int64 { return max(e.offset, e.through) }

func newTracker() *tracker { return &tracker{last: -1, next: -1} }

// add records a fetched offset. Offsets at or below the last added are ignored.
func (t *tracker) add(offset int64) {
	t.mu.Lock()
	if offset > t.last && offset >= t.next {
		t.entries = append(t.entries, entry{offset: offset})
		t.last = offset
		t.undone++
	}
	t.mu.Unlock()
}

// done marks offset as fully handled. It returns the new commit position and
// true when the position moved. An offset not added, or already done, changes
// nothing.
func (t *tracker) done(offset int64) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.entries)
	if n == t.head {
		return t.next, false
	}
	if e := t.entries[n-1]; e.offset == offset && !e.done { // the newest: most messages
		t.undone--
		if n-1 == t.head {
			t.entries, t.head = t.entries[:0], 0
			t.next = e.end() + 1
			return t.next, true
		}
		// An older offset is not done: nothing moves yet, and the one
		// before takes this one's place.
		t.entries = t.entries[:n-1]
		t.entries[n-2].through = e.end()
		return t.next, false
	}
	live := t.entries[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
	if i == len(live) || live[i].offset != offset || live[i].done {
		return t.next, false
	}
	live[i].done = true
	t.undone--
	if i > 0 {
		return t.next, false
	}
	for t.head < len(t.entries) && t.entries[t.head].done {
		t.next = t.entries[t.head].end() + 1
		t.head++
	}
	if t.head == len(t.entries) {
		t.entries, t.head = t.entries[:0], 0
	} else if t.head > 1024 && t.head*2 > len(t.entries) {
		t.entries = append(t.entries[:0], t.entries[t.head:]...)
		t.head = 0
	}
	return t.next, true
}

// position returns the commit position: every offset below it is done.
// It is -1 before the first offset is done.
func (t *tracker) position() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next
}

// pending returns how many fetched offsets are not done.
func (t *tracker) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.undone
}
