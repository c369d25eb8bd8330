package memory

import (
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// Ledger is a store.Ledger in process memory, for one replica: it forgets
// on restart. Entries live for the TTL (default 30 days, as sent orders);
// past MaxEntries the entry changed longest ago is dropped. Safe for
// concurrent use.
type Ledger struct {
	opts Options

	mu      sync.Mutex
	entries map[string]*ledgerEntry
}

type ledgerEntry struct {
	lines     []mapping.Line
	cancelled map[string]int64
	done      map[string]bool                 // cancel ids confirmed
	intent    map[string][]mapping.CancelItem // by cancel id: about to be sent
	lock      string                          // token of the cancel in flight
	lockUntil time.Time
	expires   time.Time
	changed   time.Time
}

// NewLedger returns an empty ledger.
func NewLedger(opts Options) *Ledger {
	return &Ledger{opts: opts.withDefaults(DefaultSentTTL), entries: map[string]*ledgerEntry{}}
}

func (l *Ledger) entry(orderID string, now time.Time) *ledgerEntry {
	e, ok := l.entries[orderID]
	if ok && !now.Before(e.expires) {
		delete(l.entries, orderID)
		ok = false
	}
	if !ok {
		e = &ledgerEntry{cancelled: map[string]int64{}, done: map[string]bool{}, intent: map[string][]mapping.CancelItem{}}
		l.entries[orderID] = e
		l.trim()
	}
	e.expires, e.changed = now.Add(l.opts.TTL), now
	return e
}

// trim drops the entry changed longest ago while there are too many.
func (l *Ledger) trim() {
	for l.opts.MaxEntries > 0 && len(l.entries) > l.opts.MaxEntries {
		var oldest string
		var at time.Time
		for id, e := range l.entries {
			if oldest == "" || e.changed.Before(at) {
				oldest, at = id, e.changed
			}
		}
		delete(l.entries, oldest)
	}
}

// RecordDelivery implements store.Ledger.
func (l *Ledger) RecordDelivery(ctx context.Context, orderID string, lines []mapping.Line) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entry(orderID, l.opts.Now()).lines = slices.Clone(lines)
	return nil
}

// Entry implements store.Ledger.
func (l *Ledger) Entry(ctx context.Context, orderID string) (store.Entry, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.Entry{}, false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[orderID]
	if !ok || !l.opts.Now().Before(e.expires) || e.lines == nil {
		return store.Entry{}, false, nil
	}
	return store.Entry{Lines: slices.Clone(e.lines), Cancelled: maps.Clone(e.cancelled)}, true, nil
}

// ClaimCancel implements store.Ledger.
func (l *Ledger) ClaimCancel(ctx context.Context, orderID, cancelID string, lease time.Duration) (store.CancelClaim, error) {
	if err := ctx.Err(); err != nil {
		return store.CancelClaim{}, err
	}
	if lease <= 0 {
		return store.CancelClaim{}, errors.New("memory ledger: lease must be positive")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now()
	e := l.entry(orderID, now)
	c := store.CancelClaim{OrderID: orderID, CancelID: cancelID}
	switch {
	case e.done[cancelID]:
		c.Status = store.AlreadySent
	case e.lock != "" && now.Before(e.lockUntil):
		c.Status = store.HeldElsewhere
	default:
		c.Status, c.Token = store.Claimed, rand.Text()
		e.lock, e.lockUntil = c.Token, now.Add(lease)
		c.Pending = slices.Clone(e.intent[cancelID])
	}
	return c, nil
}

// Intend implements store.Ledger.
func (l *Ledger) Intend(ctx context.Context, c store.CancelClaim, items []mapping.CancelItem) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(c.OrderID, l.opts.Now())
	e.intent[c.CancelID] = slices.Clone(items)
	return nil
}

// ConfirmCancel implements store.Ledger.
func (l *Ledger) ConfirmCancel(ctx context.Context, c store.CancelClaim, items []mapping.CancelItem) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(c.OrderID, l.opts.Now())
	if e.done[c.CancelID] {
		return nil
	}
	for _, it := range items {
		e.cancelled[it.SKU] += it.Quantity
	}
	e.done[c.CancelID] = true
	delete(e.intent, c.CancelID)
	if e.lock == c.Token {
		e.lock = ""
	}
	return nil
}

// ReleaseCancel implements store.Ledger.
func (l *Ledger) ReleaseCancel(ctx context.Context, c store.CancelClaim) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[c.OrderID]; ok && e.lock == c.Token {
		e.lock = ""
		delete(e.intent, c.CancelID)
	}
	return nil
}

// Forget erases orderID's entry.
func (l *Ledger) Forget(orderID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, orderID)
}
