package memory

import (
	"container/list"
	"time"
)

// What an entry costs in the Go heap beyond the bytes of its key and of its
// value's text, measured (see TestMemoryChargedIsWhatTheHeapHolds) with the
// allocator's size classes and the maps' load factor: entryOverhead for the
// cache's own map slot, list element and item; personSize for an identity's
// person; mapSize and mapSlotSize for the set of ids linking to a person.
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
	items      map[string]*list.Element // of *item[V]
	order      *list.List               // front: written longest ago
	bytes      int
	// evicted, if set, is called for each entry removed by a bound or by
	// expiry, after it is gone from the cache.
	evicted func(key string, v V)
}

type item[V any] struct {
	key     string
	val     V
	size    int
	expires time.Time
}

func newCache[V any](maxEntries, maxBytes int) *cache[V] {
	return &cache[V]{maxEntries: maxEntries, maxBytes: maxBytes, items: map[string]*list.Element{}, order: list.New()}
}

// get returns key's value if it is stored and has not expired at now.
func (c *cache[V]) get(key string, now time.Time) (V, bool) {
	if el, ok := c.items[key]; ok {
		if it := el.Value.(*item[V]); now.Before(it.expires) {
			return it.val, true
		}
	}
	var zero V
	return zero, false
}

// peek returns key's value whether or not it has expired.
func (c *cache[V]) peek(key string) (V, bool) {
	if el, ok := c.items[key]; ok {
		return el.Value.(*item[V]).val, true
	}
	var zero V
	return zero, false
}

// put stores v under key as the newest entry, charged size bytes, until
// expires. It does not evict: call trim once the owner's data is consistent.
func (c *cache[V]) put(key string, v V, size int, expires time.Time) {
	size += len(key) + entryOverhead
	if el, ok := c.items[key]; ok {
		it := el.Value.(*item[V])
		c.bytes += size - it.size
		it.val, it.size, it.expires = v, size, expires
		c.order.MoveToBack(el)
	} else {
		c.items[key] = c.order.PushBack(&item[V]{key: key, val: v, size: size, expires: expires})
		c.bytes += size
	}
}

// trim evicts the oldest entries while a bound is passed, always keeping
// the newest one.
func (c *cache[V]) trim() {
	for c.order.Len() > 1 && (c.order.Len() > c.maxEntries || c.bytes > c.maxBytes) {
		c.drop(c.order.Front())
	}
}

// resize changes the value and size of key's entry in place, keeping its
// age and expiry. It does nothing if key is not stored.
func (c *cache[V]) resize(key string, v V, size int) {
	if el, ok := c.items[key]; ok {
		it := el.Value.(*item[V])
		size += len(key) + entryOverhead
		c.bytes += size - it.size
		it.val, it.size = v, size
	}
}

// del removes key without calling evicted.
func (c *cache[V]) del(key string) {
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
		c.bytes -= el.Value.(*item[V]).size
	}
}

// expire removes expired entries from the oldest end, stopping at the first
// live one. With one TTL for every entry, that is all of them; otherwise an
// expired entry behind a live one waits, and get ignores it.
func (c *cache[V]) expire(now time.Time) {
	for el := c.order.Front(); el != nil && !now.Before(el.Value.(*item[V]).expires); el = c.order.Front() {
		c.drop(el)
	}
}

func (c *cache[V]) drop(el *list.Element) {
	it := el.Value.(*item[V])
	c.del(it.key)
	if c.evicted != nil {
		c.evicted(it.key, it.val)
	}
}

// len returns the number of entries, expired ones not yet removed included.
func (c *cache[V]) len() int { return len(c.items) }

// size returns the bytes charged to the entries.
func (c *cache[V]) size() int { return c.bytes }
