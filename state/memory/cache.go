package memory

import "time"

// What an entry costs in the Go heap beyond the bytes of its key and of its
// value's text, measured (see TestDefaultBoundIsBytesTheHeapHolds) with the
// allocator's size classes and the maps' load factor: entryOverhead for the
// cache's own map slot and item (measured when a list element came besides,
// which the item's own links replaced: the charge is now 4 to 8% over what
// the heap holds); personSize for an identity's person; mapSize and
// mapSlotSize for the set of ids linking to a person once there are many.
const (
	entryOverhead = 172
	personSize    = 100
	mapSize       = 160
	mapSlotSize   = 40
)

// cache is a map bounded by entries and bytes whose entries expire. Entries
// are kept in order of their last write; set evicts from the oldest end when
// a bound is passed. It is not safe for concurrent use: its owner locks.
type cache[V any] struct {
	maxEntries int
	maxBytes   int
	items      map[string]*item[V]
	order      item[V] // the ring's sentinel: order.next was written longest ago
	bytes      int
	// evicted, if set, is called for each entry removed by a bound or by
	// expiry, after it is gone from the cache.
	evicted func(key string, v V)
}

// item is an entry, in the cache's ring of entries in order of their last
// write (one allocation per entry, and no interface to box its value).
type item[V any] struct {
	prev, next *item[V]
	key        string
	val        V
	size       int
	expires    time.Time
}

func newCache[V any](maxEntries, maxBytes int) *cache[V] {
	c := &cache[V]{maxEntries: maxEntries, maxBytes: maxBytes, items: map[string]*item[V]{}}
	c.order.prev, c.order.next = &c.order, &c.order
	return c
}

// oldest returns the entry written longest ago, or nil.
func (c *cache[V]) oldest() *item[V] {
	if c.order.next == &c.order {
		return nil
	}
	return c.order.next
}

func (c *cache[V]) unlink(it *item[V]) {
	it.prev.next, it.next.prev = it.next, it.prev
	it.prev, it.next = nil, nil
}

func (c *cache[V]) pushNewest(it *item[V]) {
	it.prev, it.next = c.order.prev, &c.order
	c.order.prev.next = it
	c.order.prev = it
}

// get returns key's value if it is stored and has not expired at now.
func (c *cache[V]) get(key string, now time.Time) (V, bool) {
	if it, ok := c.items[key]; ok && now.Before(it.expires) {
		return it.val, true
	}
	var zero V
	return zero, false
}

// peek returns key's value whether or not it has expired.
func (c *cache[V]) peek(key string) (V, bool) {
	if it, ok := c.items[key]; ok {
		return it.val, true
	}
	var zero V
	return zero, false
}

// put stores v under key as the newest entry, charged size bytes, until
// expires. It does not evict: call trim once the owner's data is consistent.
func (c *cache[V]) put(key string, v V, size int, expires time.Time) {
	size += len(key) + entryOverhead
	if it, ok := c.items[key]; ok {
		c.bytes += size - it.size
		it.val, it.size, it.expires = v, size, expires
		c.unlink(it)
		c.pushNewest(it)
	} else {
		it := &item[V]{key: key, val: v, size: size, expires: expires}
		c.items[key] = it
		c.pushNewest(it)
		c.bytes += size
	}
}

// trim evicts the oldest entries while a bound is passed, always keeping
// the newest one.
func (c *cache[V]) trim() {
	for len(c.items) > 1 && (len(c.items) > c.maxEntries || c.bytes > c.maxBytes) {
		c.drop(c.oldest())
	}
}

// resize changes the value and size of key's entry in place, keeping its
// age and expiry. It does nothing if key is not stored.
func (c *cache[V]) resize(key string, v V, size int) {
	if it, ok := c.items[key]; ok {
		size += len(key) + entryOverhead
		c.bytes += size - it.size
		it.val, it.size = v, size
	}
}

// del removes key without calling evicted.
func (c *cache[V]) del(key string) {
	if it, ok := c.items[key]; ok {
		c.unlink(it)
		delete(c.items, key)
		c.bytes -= it.size
	}
}

// expire removes expired entries from the oldest end, stopping at the first
// live one. With one TTL for every entry, that is all of them; otherwise an
// expired entry behind a live one waits, and get ignores it.
func (c *cache[V]) expire(now time.Time) {
	for it := c.oldest(); it != nil && !now.Before(it.expires); it = c.oldest() {
		c.drop(it)
	}
}

func (c *cache[V]) drop(it *item[V]) {
	c.del(it.key)
	if c.evicted != nil {
		c.evicted(it.key, it.val)
	}
}

// len returns the number of entries, expired ones not yet removed included.
func (c *cache[V]) len() int { return len(c.items) }

// size returns the bytes charged to the entries.
func (c *cache[V]) size() int { return c.bytes }
