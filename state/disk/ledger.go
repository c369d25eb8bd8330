package disk

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

var bLedger = []byte("ledger") // key(order_id) → expiry, then the entry (see encodeEntry)

// LedgerFile is the ledger's file name in the state directory.
const LedgerFile = "ledger.db"

// ledgerStore is the ledger's name in its errors.
const ledgerStore = "disk ledger"

// Ledger is a store.Ledger in its own bbolt file. Each order is one record:
// the lines delivered, the units cancelled by sku, the cancel ids done and
// the cancel lock. ClaimCancel, ConfirmCancel and ReleaseCancel each read and
// write the record in one transaction, committed and fsynced before they
// return (with concurrent writers, as Sent's Confirm). A record lives for the
// TTL (default 30 days, as sent order_ids) after its last write other than a
// release.
//
// The lock names the open of the file that took it: the file lock makes
// this process the only one using the directory, so a lock left by an
// earlier open (a crash) is held by nobody and is free. Safe for concurrent
// use.
type Ledger struct {
	*db
	open string // this open's id, in the locks it takes
}

// OpenLedger opens (or creates) the ledger in dir. It fails when another
// process holds the file. Close it to release the file.
func OpenLedger(dir string, opts Options) (*Ledger, error) {
	opts = opts.withDefaults(30 * 24 * time.Hour)
	d, err := openDB(filepath.Join(dir, LedgerFile), opts, bLedger)
	if err != nil {
		return nil, err
	}
	l := &Ledger{db: d, open: rand.Text()}
	go d.background(func() { _ = l.Sweep(context.Background()) })
	return l, nil
}

// ledgerEntry is one order's record, decoded.
type ledgerEntry struct {
	expires   time.Time
	lines     []mapping.Line // nil: never delivered
	cancelled map[string]int64
	done      []string // cancel ids confirmed
	lockOpen  string   // the open that took the lock ("": no lock)
	lockToken string
	lockUntil time.Time
	intents   map[string][]mapping.CancelItem // by cancel id: about to be sent, unconfirmed
}

// held reports whether a cancel of l's open holds e's lock at now.
func (e *ledgerEntry) held(open string, now time.Time) bool {
	return e.lockOpen == open && e.lockToken != "" && now.Before(e.lockUntil)
}

// unlock frees the lock if token holds it, and reports whether it did.
func (e *ledgerEntry) unlock(token string) bool {
	if token == "" || e.lockToken != token {
		return false
	}
	e.lockOpen, e.lockToken, e.lockUntil = "", "", time.Time{}
	return true
}

// get reads the record at k in tx: a fresh one when there is none, it has
// expired or it does not decode (so a damaged record reads as an order
// never delivered, which cancels nothing, and the next write replaces it).
// found reports whether a live record was read.
func (l *Ledger) get(tx *bolt.Tx, k []byte, now time.Time) (e *ledgerEntry, found bool) {
	if v := tx.Bucket(bLedger).Get(k); v != nil {
		if e, err := decodeEntry(v); err == nil && now.Before(e.expires) {
			return e, true
		}
	}
	return &ledgerEntry{cancelled: map[string]int64{}, intents: map[string][]mapping.CancelItem{}}, false
}

// put writes e as the record at k, expiring at e.expires.
func (l *Ledger) put(tx *bolt.Tx, k []byte, e *ledgerEntry) error {
	return tx.Bucket(bLedger).Put(k, encodeEntry(e))
}

// RecordDelivery implements store.Ledger. It returns once the lines are
// durable.
func (l *Ledger) RecordDelivery(ctx context.Context, orderID string, lines []mapping.Line) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := key(orderID)
	err := l.update(func(tx *bolt.Tx) error {
		now := l.opts.Now()
		e, _ := l.get(tx, k, now)
		e.lines, e.expires = lines, now.Add(l.opts.TTL)
		return l.put(tx, k, e)
	})
	return unavailable(ledgerStore, ledgerErr("record delivery", err))
}

// Entry implements store.Ledger.
func (l *Ledger) Entry(ctx context.Context, orderID string) (store.Entry, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.Entry{}, false, err
	}
	var e *ledgerEntry
	found := false
	err := l.view(func(tx *bolt.Tx) error {
		e, found = l.get(tx, key(orderID), l.opts.Now())
		return nil
	})
	if err != nil {
		return store.Entry{}, false, unavailable(ledgerStore, fmt.Errorf("entry: %w", err))
	}
	if !found || e.lines == nil {
		return store.Entry{}, false, nil
	}
	return store.Entry{Lines: e.lines, Cancelled: e.cancelled}, true, nil
}

// ClaimCancel implements store.Ledger. A claim is durable on return, like
// the other writes.
func (l *Ledger) ClaimCancel(ctx context.Context, orderID, cancelID string, lease time.Duration) (store.CancelClaim, error) {
	if err := ctx.Err(); err != nil {
		return store.CancelClaim{}, err
	}
	if lease <= 0 {
		return store.CancelClaim{}, errors.New("disk ledger: lease must be positive")
	}
	k := key(orderID)
	token := rand.Text()
	var status store.ClaimStatus
	var pending []mapping.CancelItem
	err := l.update(func(tx *bolt.Tx) error { // may run more than once: sets status each time
		now := l.opts.Now()
		e, _ := l.get(tx, k, now)
		switch {
		case slices.Contains(e.done, cancelID):
			status = store.AlreadySent
			return nil
		case e.held(l.open, now):
			status = store.HeldElsewhere
			return nil
		}
		status = store.Claimed
		pending = slices.Clone(e.intents[cancelID])
		e.lockOpen, e.lockToken, e.lockUntil = l.open, token, now.Add(lease)
		e.expires = now.Add(l.opts.TTL)
		return l.put(tx, k, e)
	})
	if err != nil {
		return store.CancelClaim{}, unavailable(ledgerStore, fmt.Errorf("claim cancel: %w", err))
	}
	c := store.CancelClaim{OrderID: orderID, CancelID: cancelID, Status: status}
	if status == store.Claimed {
		c.Token, c.Pending = token, pending
	}
	return c, nil
}

// Intend implements store.Ledger: durable on return.
func (l *Ledger) Intend(ctx context.Context, c store.CancelClaim, items []mapping.CancelItem) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := key(c.OrderID)
	err := l.update(func(tx *bolt.Tx) error {
		now := l.opts.Now()
		e, _ := l.get(tx, k, now)
		e.intents[c.CancelID] = slices.Clone(items)
		e.expires = now.Add(l.opts.TTL)
		return l.put(tx, k, e)
	})
	return unavailable(ledgerStore, ledgerErr("intend cancel", err))
}

// ConfirmCancel implements store.Ledger. It returns once the quantities and
// the cancel id are durable. A cancel id confirmed already adds nothing.
func (l *Ledger) ConfirmCancel(ctx context.Context, c store.CancelClaim, items []mapping.CancelItem) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := key(c.OrderID)
	err := l.update(func(tx *bolt.Tx) error {
		now := l.opts.Now()
		e, _ := l.get(tx, k, now) // decoded afresh on each run: adds once per commit
		if !slices.Contains(e.done, c.CancelID) {
			for _, it := range items {
				e.cancelled[it.SKU] += it.Quantity
			}
			e.done = append(e.done, c.CancelID)
		}
		delete(e.intents, c.CancelID)
		e.unlock(c.Token)
		e.expires = now.Add(l.opts.TTL)
		return l.put(tx, k, e)
	})
	return unavailable(ledgerStore, ledgerErr("confirm cancel", err))
}

// ReleaseCancel implements store.Ledger.
func (l *Ledger) ReleaseCancel(ctx context.Context, c store.CancelClaim) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.Token == "" {
		return nil
	}
	k := key(c.OrderID)
	err := l.update(func(tx *bolt.Tx) error {
		e, found := l.get(tx, k, l.opts.Now())
		if !found || !e.unlock(c.Token) {
			return nil
		}
		delete(e.intents, c.CancelID)
		return l.put(tx, k, e)
	})
	return unavailable(ledgerStore, ledgerErr("release cancel", err))
}

// Sweep deletes expired records now; the ledger also does it every
// SweepInterval. Reads ignore expired records either way.
func (l *Ledger) Sweep(ctx context.Context) error {
	_, err := l.sweepBucket(ctx, bLedger, nil)
	return err
}

// Close closes the file.
func (l *Ledger) Close() error { return l.close() }

// Ping reports whether the ledger is open.
func (l *Ledger) Ping(context.Context) error {
	return unavailable(ledgerStore, l.view(func(*bolt.Tx) error { return nil }))
}

// ledgerErr prefixes err, if any, with op.
func ledgerErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ledgerVersion is the first byte of a record's entry, after the expiry.
// Version 2 adds the intents; version 1 records read with none.
const ledgerVersion = 2

// encodeEntry is the ledger record: expiry, the version, then
//
//	lines      0 (never delivered), or 1, a count and each line: sku, quantity, price
//	cancelled  a count and each sku, units
//	done       a count and each cancel id
//	lock       the open, the token, and the lease's end in Unix nanoseconds
//	intents    a count and each cancel id, then a count and each item: sku, quantity, price
//
// with strings length-prefixed (uvarint) and numbers as varints.
func encodeEntry(e *ledgerEntry) []byte {
	b := putExpiry(nil, e.expires)
	b = append(b, ledgerVersion)
	if e.lines == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(e.lines)))
		for _, ln := range e.lines {
			b = appendLedgerString(b, ln.SKU)
			b = binary.AppendVarint(b, ln.Quantity)
			b = appendLedgerString(b, string(ln.Price))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.cancelled)))
	for _, sku := range ledgerSKUs(e.cancelled) {
		b = appendLedgerString(b, sku)
		b = binary.AppendVarint(b, e.cancelled[sku])
	}
	b = binary.AppendUvarint(b, uint64(len(e.done)))
	for _, id := range e.done {
		b = appendLedgerString(b, id)
	}
	b = appendLedgerString(b, e.lockOpen)
	b = appendLedgerString(b, e.lockToken)
	var until int64
	if e.lockToken != "" {
		until = e.lockUntil.UnixNano()
	}
	b = binary.AppendVarint(b, until)
	ids := make([]string, 0, len(e.intents))
	for id := range e.intents {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendLedgerString(b, id)
		b = binary.AppendUvarint(b, uint64(len(e.intents[id])))
		for _, it := range e.intents[id] {
			b = appendLedgerString(b, it.SKU)
			b = binary.AppendVarint(b, it.Quantity)
			b = appendLedgerString(b, string(it.Price))
		}
	}
	return b
}

func ledgerSKUs(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendLedgerString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeEntry reads a record written by encodeEntry.
func decodeEntry(v []byte) (*ledgerEntry, error) {
	exp, rest, err := expiry(v)
	if err != nil {
		return nil, err
	}
	r := ledgerReader{b: rest}
	version := r.byte()
	if version != 1 && version != ledgerVersion {
		return nil, errCorrupt
	}
	e := &ledgerEntry{expires: exp, cancelled: map[string]int64{}, intents: map[string][]mapping.CancelItem{}}
	if r.byte() == 1 {
		n := r.count()
		e.lines = make([]mapping.Line, 0, n)
		for range n {
			e.lines = append(e.lines, mapping.Line{SKU: r.string(), Quantity: r.varint(), Price: json.Number(r.string())})
		}
	}
	for range r.count() {
		sku := r.string()
		e.cancelled[sku] = r.varint()
	}
	if n := r.count(); n > 0 {
		e.done = make([]string, 0, n)
		for range n {
			e.done = append(e.done, r.string())
		}
	}
	e.lockOpen, e.lockToken = r.string(), r.string()
	if until := r.varint(); e.lockToken != "" {
		e.lockUntil = time.Unix(0, until)
	}
	if version >= 2 {
		for range r.count() {
			id := r.string()
			n := r.count()
			items := make([]mapping.CancelItem, 0, n)
			for range n {
				items = append(items, mapping.CancelItem{SKU: r.string(), Quantity: r.varint(), Price: json.Number(r.string())})
			}
			e.intents[id] = items
		}
	}
	if r.bad || len(r.b) != 0 {
		return nil, errCorrupt
	}
	return e, nil
}

// ledgerReader reads a record's fields; past the end or on a malformed
// field it reads zeros and sets bad.
type ledgerReader struct {
	b   []byte
	bad bool
}

func (r *ledgerReader) byte() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *ledgerReader) uvarint() uint64 {
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *ledgerReader) varint() int64 {
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[k:]
	return n
}

// count reads a count of items, each at least one byte long, so that a
// damaged count cannot allocate more than the record holds.
func (r *ledgerReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad = true
		r.b = nil
		return 0
	}
	return int(n)
}

func (r *ledgerReader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad = true
		r.b = nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
