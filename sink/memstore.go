package sink

import (
	"container/list"
	"context"
	"errors"
	"strconv"
	"sync"
	"time"
)

// MemoryStoreOptions bounds a MemoryStore. Zero fields take the defaults.
type MemoryStoreOptions struct {
	MaxEntries int              // order_ids kept, claims included; default 1,000,000
	TTL        time.Duration    // how long a confirmed order_id is remembered; default 30 days
	Now        func() time.Time // clock; default time.Now
}

// MemoryStore is a SentStore in process memory, for one replica. It forgets
// everything on restart. When full it evicts the entry changed longest ago
// (a confirmed one is then forgotten early; a claim may be lost, letting a
// second sender claim it). Safe for concurrent use.
type MemoryStore struct {
	opts MemoryStoreOptions

	mu      sync.Mutex
	entries map[string]*list.Element // of *memEntry
	age     *list.List               // front is the entry changed longest ago
	tokens  uint64
}

type memEntry struct {
	orderID string
	token   string // of the claim holding it; "" once sent
	sent    bool
	expires time.Time
}

// NewMemoryStore returns an empty store.
func NewMemoryStore(opts MemoryStoreOptions) *MemoryStore {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1_000_000
	}
	if opts.TTL <= 0 {
		opts.TTL = 30 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &MemoryStore{opts: opts, entries: map[string]*list.Element{}, age: list.New()}
}

// Claim implements SentStore.
func (m *MemoryStore) Claim(ctx context.Context, orderID string, lease time.Duration) (Claim, error) {
	if err := ctx.Err(); err != nil {
		return Claim{}, err
	}
	if lease <= 0 {
		return Claim{}, errors.New("memory store: lease must be positive")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	m.expire(now)
	if e, ok := m.live(orderID, now); ok {
		if e.sent {
			return Claim{OrderID: orderID, Status: AlreadySent}, nil
		}
		return Claim{OrderID: orderID, Status: HeldElsewhere}, nil
	}
	m.tokens++
	token := strconv.FormatUint(m.tokens, 36)
	m.put(&memEntry{orderID: orderID, token: token, expires: now.Add(lease)})
	return Claim{OrderID: orderID, Status: Claimed, Token: token}, nil
}

// Confirm implements SentStore.
func (m *MemoryStore) Confirm(_ context.Context, c Claim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(&memEntry{orderID: c.OrderID, sent: true, expires: m.opts.Now().Add(m.opts.TTL)})
	return nil
}

// Release implements SentStore.
func (m *MemoryStore) Release(_ context.Context, c Claim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.entries[c.OrderID]; ok {
		if e := el.Value.(*memEntry); !e.sent && e.token == c.Token {
			m.age.Remove(el)
			delete(m.entries, c.OrderID)
		}
	}
	return nil
}

// Len returns the number of entries kept, expired ones not yet swept included.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// live returns orderID's entry if it has not expired.
func (m *MemoryStore) live(orderID string, now time.Time) (*memEntry, bool) {
	el, ok := m.entries[orderID]
	if !ok {
		return nil, false
	}
	e := el.Value.(*memEntry)
	return e, now.Before(e.expires)
}

// put stores e as the newest entry, replacing orderID's, and evicts the
// oldest entries beyond MaxEntries.
func (m *MemoryStore) put(e *memEntry) {
	if el, ok := m.entries[e.orderID]; ok {
		m.age.Remove(el)
	}
	m.entries[e.orderID] = m.age.PushBack(e)
	for m.age.Len() > m.opts.MaxEntries {
		oldest := m.age.Front()
		m.age.Remove(oldest)
		delete(m.entries, oldest.Value.(*memEntry).orderID)
	}
}

// expire drops expired entries from the old end. An expired entry behind an
// unexpired one stays until it reaches the front; live ignores it.
func (m *MemoryStore) expire(now time.Time) {
	for el := m.age.Front(); el != nil; el = m.age.Front() {
		e := el.Value.(*memEntry)
		if now.Before(e.expires) {
			return
		}
		m.age.Remove(el)
		delete(m.entries, e.orderID)
	}
}
