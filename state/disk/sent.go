package disk

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/refersion-relay/refersion-relay/store"
)

var (
	bSent     = []byte("sent") // key(order_id) → expiry, then the content recorded, if any (see encodeSent)
	bSentMeta = []byte("meta") // kStoreID → the store's identity, kCreated → when it was recorded
	kStoreID  = []byte("store_id")
	kCreated  = []byte("created")
)

// SentFile is the sent-order store's file name in the state directory.
const SentFile = "sent.db"

// Sent is a store.Sent in a bbolt file. Confirmed order_ids are durable
// and live for the TTL. Claims are kept in memory: the file lock makes this
// process the only sender using the directory, and a claim need not outlive
// it (after a crash no sender holds one; a delivery the crash cut short
// between its 2xx and Confirm is the one case that may be sent again, as with
// any store). Safe for concurrent use.
type Sent struct {
	*db

	mu     sync.Mutex
	claims map[string]claim // order_id → live claim
	origin store.Origin
}

type claim struct {
	token   string
	expires time.Time
}

// OpenSent opens (or creates) the sent-order store in dir. It fails when
// another process holds the file, and when the file is damaged (a
// *DamagedError, with the way out in its message): the record of what was
// sent is never replaced silently. Close it to release the file.
func OpenSent(dir string, opts Options) (*Sent, error) {
	opts = opts.withDefaults(30 * 24 * time.Hour)
	d, err := openDB(filepath.Join(dir, SentFile), opts, bSent, bSentMeta)
	if damaged, ok := errors.AsType[*DamagedError](err); ok {
		return nil, fmt.Errorf("%w: it records the orders already sent, so it is never replaced silently. "+
			"Restore it from a backup; or move it aside (mv %s %s.damaged) and start with STATE_ACCEPT_NEW=true (run --accept-new-state), "+
			"knowing that orders the consumer group reads again may then be sent again", err, damaged.Path, damaged.Path)
	}
	if err != nil {
		return nil, err
	}
	s := &Sent{db: d, claims: map[string]claim{}}
	if err := s.readOrigin(); err != nil {
		_ = d.closeFile()
		return nil, err
	}
	go d.background(func() { _ = s.Sweep(context.Background()) })
	return s, nil
}

// readOrigin reads the store's identity. A file with order_ids but no
// identity (written before identities existed) is given one now.
func (s *Sent) readOrigin() error {
	var hasOrders bool
	err := s.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bSentMeta)
		if id := m.Get(kStoreID); id != nil {
			s.origin = store.Origin{ID: string(id), Created: decodeTime(m.Get(kCreated))}
			return nil
		}
		k, _ := tx.Bucket(bSent).Cursor().First()
		hasOrders = k != nil
		s.origin = store.Origin{New: true}
		return nil
	})
	if err != nil {
		return unavailable(sentStore, fmt.Errorf("read the store's identity: %w", err))
	}
	if hasOrders {
		_, err = s.Adopt(context.Background())
	}
	return err
}

// Origin implements store.Identified.
func (s *Sent) Origin(context.Context) (store.Origin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.origin, nil
}

// Adopt implements store.Identified: the identity is committed and fsynced
// before it returns.
func (s *Sent) Adopt(ctx context.Context) (store.Origin, error) {
	if err := ctx.Err(); err != nil {
		return store.Origin{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.origin.New {
		return s.origin, nil
	}
	o := store.Origin{ID: rand.Text(), Created: s.opts.Now().UTC().Truncate(time.Second)}
	err := s.update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bSentMeta)
		if err := m.Put(kStoreID, []byte(o.ID)); err != nil {
			return err
		}
		return m.Put(kCreated, encodeTime(o.Created))
	})
	if err != nil {
		return store.Origin{}, unavailable(sentStore, fmt.Errorf("record the store's identity: %w", err))
	}
	s.origin = o
	return o, nil
}

// Claim implements store.Sent.
func (s *Sent) Claim(ctx context.Context, orderID string, lease time.Duration) (store.Claim, error) {
	if err := ctx.Err(); err != nil {
		return store.Claim{}, err
	}
	if lease <= 0 {
		return store.Claim{}, errors.New("disk sent store: lease must be positive")
	}
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.claims[orderID]; ok && now.Before(c.expires) {
		return store.Claim{OrderID: orderID, Status: store.HeldElsewhere}, nil
	}
	sent := false
	var fingerprint, summary string
	if err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bSent).Get(key(orderID))
		if sent = live(v, now); sent {
			fingerprint, summary = decodeSent(v)
		}
		return nil
	}); err != nil {
		return store.Claim{}, unavailable(sentStore, fmt.Errorf("claim: %w", err))
	}
	if sent {
		return store.Claim{OrderID: orderID, Status: store.AlreadySent, Fingerprint: fingerprint, Summary: summary}, nil
	}
	c := claim{token: rand.Text(), expires: now.Add(lease)}
	s.claims[orderID] = c
	return store.Claim{OrderID: orderID, Status: store.Claimed, Token: c.token}, nil
}

// Confirm implements store.Sent. It returns once the order_id, with c's
// Fingerprint and Summary, is durable.
func (s *Sent) Confirm(ctx context.Context, c store.Claim) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	exp := encodeSent(s.opts.Now().Add(s.opts.TTL), c.Fingerprint, c.Summary)
	k := key(c.OrderID)
	if err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bSent).Put(k, exp) }); err != nil {
		return unavailable(sentStore, fmt.Errorf("confirm: %w", err))
	}
	s.drop(c)
	return nil
}

// Release implements store.Sent.
func (s *Sent) Release(ctx context.Context, c store.Claim) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.drop(c)
	return nil
}

// Renew implements store.Sent.
func (s *Sent) Renew(ctx context.Context, c store.Claim, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if lease <= 0 {
		return errors.New("disk sent store: lease must be positive")
	}
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if held, ok := s.claims[c.OrderID]; ok && now.Before(held.expires) {
		if held.token != c.Token {
			return store.ErrClaimLost
		}
		s.claims[c.OrderID] = claim{token: c.Token, expires: now.Add(lease)}
		return nil
	}
	sent := false
	if err := s.view(func(tx *bolt.Tx) error {
		sent = live(tx.Bucket(bSent).Get(key(c.OrderID)), now)
		return nil
	}); err != nil {
		return unavailable(sentStore, fmt.Errorf("renew: %w", err))
	}
	if sent {
		return store.ErrClaimLost
	}
	s.claims[c.OrderID] = claim{token: c.Token, expires: now.Add(lease)}
	return nil
}

// drop removes c's claim if c still holds it.
func (s *Sent) drop(c store.Claim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if held, ok := s.claims[c.OrderID]; ok && held.token == c.Token {
		delete(s.claims, c.OrderID)
	}
}

// Sweep deletes expired order_ids and claims now; the store also does it
// every SweepInterval.
func (s *Sent) Sweep(ctx context.Context) error {
	now := s.opts.Now()
	s.mu.Lock()
	for id, c := range s.claims {
		if !now.Before(c.expires) {
			delete(s.claims, id)
		}
	}
	s.mu.Unlock()
	_, err := s.sweepBucket(ctx, bSent, nil)
	return err
}

// Close closes the file.
func (s *Sent) Close() error { return s.close() }

// Ping reports whether the store is open.
func (s *Sent) Ping(context.Context) error {
	return unavailable(sentStore, s.view(func(*bolt.Tx) error { return nil }))
}

var (
	_ store.Sent       = (*Sent)(nil)
	_ store.Identified = (*Sent)(nil)
)
