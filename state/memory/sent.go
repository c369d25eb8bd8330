package memory

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/refersion-relay/refersion-relay/store"
)

// Sent is a bounded store.Sent in process memory, for one replica. A
// claim lives for its lease, a confirmed order_id for the TTL. When a bound
// is passed the entry changed longest ago is evicted: a confirmed order_id
// is then forgotten early, so size MaxBytes (about 185 bytes per order_id,
// and about 110 more for the fingerprint and summary recorded with it)
// above the orders of a TTL.
type Sent struct {
	opts Options

	mu     sync.Mutex
	c      *cache[sentEntry]
	origin store.Origin
}

type sentEntry struct {
	token   string // of the claim holding the order_id; "" once sent
	sent    bool
	content *sentContent // recorded by Confirm; nil when none was given
}

// sentContent is what Confirm records of an order's content.
type sentContent struct{ fingerprint, summary string }

// sentContentOverhead is what a sentContent costs in the Go heap beyond the
// bytes of its text: the struct, and its strings' rounding to size classes.
const sentContentOverhead = 48

// NewSent returns an empty store; opts.TTL defaults to 30 days.
func NewSent(opts Options) *Sent {
	s := &Sent{opts: opts.withDefaults(DefaultSentTTL), origin: store.Origin{New: true}}
	s.c = newCache[sentEntry](s.opts.MaxEntries, s.opts.MaxBytes)
	return s
}

// Claim implements store.Sent.
func (s *Sent) Claim(ctx context.Context, orderID string, lease time.Duration) (store.Claim, error) {
	if err := ctx.Err(); err != nil {
		return store.Claim{}, err
	}
	if lease <= 0 {
		return store.Claim{}, errors.New("memory sent store: lease must be positive")
	}
	token := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	s.c.expire(now)
	if e, ok := s.c.get(orderID, now); ok {
		if e.sent {
			c := store.Claim{OrderID: orderID, Status: store.AlreadySent}
			if e.content != nil {
				c.Fingerprint, c.Summary = e.content.fingerprint, e.content.summary
			}
			return c, nil
		}
		return store.Claim{OrderID: orderID, Status: store.HeldElsewhere}, nil
	}
	s.c.put(orderID, sentEntry{token: token}, len(token), now.Add(lease))
	s.c.trim()
	return store.Claim{OrderID: orderID, Status: store.Claimed, Token: token}, nil
}

// Confirm implements store.Sent.
func (s *Sent) Confirm(ctx context.Context, c store.Claim) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, size := sentEntry{sent: true}, 0
	if c.Fingerprint != "" || c.Summary != "" {
		e.content = &sentContent{fingerprint: c.Fingerprint, summary: c.Summary}
		size = sentContentOverhead + len(c.Fingerprint) + len(c.Summary)
	}
	s.c.put(c.OrderID, e, size, s.opts.Now().Add(s.opts.TTL))
	s.c.trim()
	return nil
}

// Release implements store.Sent.
func (s *Sent) Release(ctx context.Context, c store.Claim) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.c.peek(c.OrderID); ok && !e.sent && e.token == c.Token {
		s.c.del(c.OrderID)
	}
	return nil
}

// Renew implements store.Sent.
func (s *Sent) Renew(ctx context.Context, c store.Claim, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if lease <= 0 {
		return errors.New("memory sent store: lease must be positive")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if e, ok := s.c.get(c.OrderID, now); ok && (e.sent || e.token != c.Token) {
		return store.ErrClaimLost
	}
	s.c.put(c.OrderID, sentEntry{token: c.Token}, len(c.Token), now.Add(lease))
	s.c.trim()
	return nil
}

// Len returns the number of order_ids kept, claims and expired ones not yet
// removed included.
func (s *Sent) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.len()
}

// Bytes returns the memory charged to the entries (see Options.MaxBytes).
func (s *Sent) Bytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.size()
}

// Origin implements store.Identified: a memory store is New until adopted,
// as it is at every start of the process.
func (s *Sent) Origin(context.Context) (store.Origin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.origin, nil
}

// Adopt implements store.Identified.
func (s *Sent) Adopt(context.Context) (store.Origin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.origin.New {
		s.origin = store.Origin{ID: rand.Text(), Created: s.opts.Now().UTC().Truncate(time.Second)}
	}
	return s.origin, nil
}

var (
	_ store.Sent       = (*Sent)(nil)
	_ store.Identified = (*Sent)(nil)
)
