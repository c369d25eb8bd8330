package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// Buckets of the identity file.
var (
	bTraits = []byte("traits") // key(id) → expiry, traits
	bLinks  = []byte("links")  // key(from) → expiry, key(to)
	bBack   = []byte("back")   // backKey(key(to), key(from)) → expiry
	bMeta   = []byte("meta")   // kDirty → 1 while a Forget awaits its scrub
	kDirty  = []byte("dirty")
)

// IdentitiesFile is the identity store's file name in the state directory.
const IdentitiesFile = "identities.db"

// Identities is a store.Identities in a bbolt file, written behind:
// Merge, Link and Forget change an overlay in memory, which Lookup reads
// before the file, and a writer goroutine commits the overlay in batches
// (see the package doc and Flush). Traits and links live for the TTL after
// their last write; a change that would only renew a record written within
// 1% of the TTL is left out (see fresh). Forget erases the whole person:
// every id reachable from id through links in either direction; once that
// is committed, the file is rewritten within ScrubDelay so nothing of them
// stays in freed pages. Safe for concurrent use.
type Identities struct {
	*db
	scrubber
	wb behind
}

// OpenIdentities opens (or creates) the identity store in dir. It fails
// when another process holds the file. Close it to release the file.
//
// A damaged file (see DamagedError) is set aside, renamed with the suffix
// ".damaged-" and the time, and a new one is created, with a warning on
// opts.Log: identities only enrich orders, and the identify events of the
// people still active refill it.
func OpenIdentities(dir string, opts Options) (*Identities, error) {
	opts = opts.withDefaults(90 * 24 * time.Hour)
	path := filepath.Join(dir, IdentitiesFile)
	d, err := openDB(path, opts, bTraits, bLinks, bBack, bMeta)
	if damaged, ok := errors.AsType[*DamagedError](err); ok {
		aside := damaged.Path + ".damaged-" + opts.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(damaged.Path, aside); rerr != nil {
			return nil, fmt.Errorf("%w; setting it aside failed: %w", err, rerr)
		}
		syncDir(filepath.Dir(aside))
		opts.Log.Warn("the identity store's file was damaged: set aside, and a new one started; customers are enriched again as their identify events arrive",
			"damaged", damaged.Err.Error(), "set_aside_as", aside)
		d, err = openDB(path, opts, bTraits, bLinks, bBack, bMeta)
	}
	if err != nil {
		return nil, err
	}
	s := &Identities{db: d}
	s.scrubber.db = d
	s.wb.init()
	if err := s.scrubIfDirty(); err != nil {
		_ = d.closeFile()
		return nil, err
	}
	go s.write()
	go d.background(func() { _ = s.sweep(context.Background()) })
	return s, nil
}

// Lookup implements store.Identities. It sees every change accepted
// before it, durable or not.
func (s *Identities) Lookup(ctx context.Context, id string) (t mapping.Traits, found bool, err error) {
	if err := ctx.Err(); err != nil {
		return t, false, err
	}
	now := s.opts.Now()
	s.wb.mu.RLock()
	defer s.wb.mu.RUnlock()
	err = s.view(func(tx *bolt.Tx) error {
		v := s.wb.viewOf(tx)
		k := key(id)
		t = decodeTraits(v.get(traitsRec, k), now)
		if to, ok := linkTarget(v.get(linksRec, k), now); ok {
			t = t.Fill(decodeTraits(v.get(traitsRec, to), now))
		}
		return nil
	})
	if err != nil {
		return mapping.Traits{}, false, unavailable(identityStore, fmt.Errorf("lookup: %w", err))
	}
	return t, !t.IsZero(), nil
}

// Merge implements store.Identities. The change is durable once a
// later Flush returns nil.
func (s *Identities) Merge(ctx context.Context, id string, t mapping.Traits) error {
	if err := ctx.Err(); err != nil || t.IsZero() {
		return err
	}
	k := key(id)
	return s.change(ctx, func(v *view, now time.Time) {
		rec := v.get(traitsRec, k)
		prev := decodeTraits(rec, now)
		merged := t.Fill(prev)
		if merged == prev && s.fresh(rec, now) {
			return
		}
		v.put(traitsRec, k, encodeTraits(merged, now.Add(s.opts.TTL)))
	})
}

// fresh reports whether record rec, live at now, expires so close to the
// expiry a write at now would give it (at most 1% of the TTL before it)
// that writing it again only to renew it is not worth a page of the file: a
// person who identifies on every visit changes nothing most of the time. So
// a record lives for between 99% and 100% of the TTL after its last write.
// A record that would expire later than a write now would make it (the TTL
// was shortened, or the clock went back) is written again.
func (s *Identities) fresh(rec []byte, now time.Time) bool {
	exp, _, err := expiry(rec)
	if err != nil || !now.Before(exp) {
		return false
	}
	early := now.Add(s.opts.TTL).Sub(exp)
	return early >= 0 && early < s.opts.TTL/100
}

// Link implements store.Identities. The change is durable once a
// later Flush returns nil.
func (s *Identities) Link(ctx context.Context, from, to string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if from == to {
		return nil
	}
	kf, kt := key(from), key(to)
	return s.change(ctx, func(v *view, now time.Time) {
		exp := now.Add(s.opts.TTL)
		rec := v.get(linksRec, kf)
		old := target(rec)
		if old != nil && !bytes.Equal(old, kt) {
			v.delBack(old, kf)
		}
		if !bytes.Equal(old, kt) || !s.fresh(rec, now) {
			v.put(linksRec, kf, append(putExpiry(nil, exp), kt...))
		}
		if !s.fresh(v.getBack(kt, kf), now) {
			v.putBack(kt, kf, putExpiry(nil, exp))
		}
		ft := decodeTraits(v.get(traitsRec, kf), now)
		tt := decodeTraits(v.get(traitsRec, kt), now)
		if filled := tt.Fill(ft); filled != tt {
			v.put(traitsRec, kt, encodeTraits(filled, exp))
		}
	})
}

// Forget implements store.Identities: it erases id and every id linked
// to it, directly or through other links, expired or not. Lookups see the
// erasure at once; the file holds nothing of the person once a later Flush
// returns nil and the scrub that follows the commit (or Scrub, or Close) has
// run. Records that were never committed never reach the file.
func (s *Identities) Forget(ctx context.Context, id string) error {
	_, err := s.Erase(ctx, id)
	return err
}

// Erase implements store.Eraser: it is Forget, counting what it erased
// (expired records included).
func (s *Identities) Erase(ctx context.Context, id string) (store.Erased, error) {
	if err := ctx.Err(); err != nil {
		return store.Erased{}, err
	}
	var n store.Erased
	err := s.change(ctx, func(v *view, _ time.Time) {
		n = store.Erased{}
		for _, k := range component(v, key(id)) {
			forgot := false
			for _, from := range v.froms(k) {
				forgot = v.delBack(k, from) || forgot
			}
			if to := target(v.get(linksRec, k)); to != nil {
				forgot = v.delBack(to, k) || forgot
			}
			if v.del(traitsRec, k) {
				n.Traits++
				forgot = true
			}
			if v.del(linksRec, k) {
				n.Links++
				forgot = true
			}
			if forgot {
				n.IDs++
				v.layers[0].dirty = true
			}
		}
	})
	return n, err
}

// component returns k and every key linked to it, directly or not.
func component(v *view, k []byte) [][]byte {
	seen := map[string]bool{string(k): true}
	out := [][]byte{k}
	for i := 0; i < len(out); i++ {
		next := append(v.froms(out[i]), target(v.get(linksRec, out[i])))
		for _, n := range next {
			if n != nil && !seen[string(n)] {
				seen[string(n)] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// Close refuses further changes, commits the pending ones, scrubs the file
// if a Forget awaits it, and closes it. If the last commit fails, the
// changes it held are dropped, as a crash would drop them, and Close
// returns its error (the file is closed all the same).
func (s *Identities) Close() error {
	err := s.stopWriter()
	s.stopScrubTimer()
	if serr := s.scrubIfDirty(); !errors.Is(serr, ErrClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, s.close())
}

// Scrub commits the pending changes, then rewrites the file now if a
// Forget awaits it; it fails if the commit does (see Flush). Readers and
// writers wait during the rewrite.
func (s *Identities) Scrub() error {
	if err := s.Flush(context.Background()); err != nil {
		return err
	}
	return s.scrubIfDirty()
}

// Ping reports whether the store is open and its last commit succeeded.
func (s *Identities) Ping(context.Context) error {
	s.wb.mu.RLock()
	werr := s.wb.err
	s.wb.mu.RUnlock()
	if werr != nil {
		return unavailable(identityStore, fmt.Errorf("writing identity changes: %w", werr))
	}
	return unavailable(identityStore, s.view(func(*bolt.Tx) error { return nil }))
}

var _ store.Eraser = (*Identities)(nil)
