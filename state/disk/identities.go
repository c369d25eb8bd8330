package disk

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/refersion-relay/refersion-relay/mapping"
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

// Identities is a mapping.IdentityStore in a bbolt file. Traits and links
// live for the TTL after their last write. Forget erases the whole person:
// every id reachable from id through links in either direction; the file is
// then rewritten within ScrubDelay so nothing of them stays in freed pages.
// Safe for concurrent use.
type Identities struct {
	*db
	scrubber
}

// OpenIdentities opens (or creates) the identity store in dir. It fails
// when another process holds the file. Close it to release the file.
func OpenIdentities(dir string, opts Options) (*Identities, error) {
	opts = opts.withDefaults(90 * 24 * time.Hour)
	d, err := openDB(filepath.Join(dir, IdentitiesFile), opts, bTraits, bLinks, bBack, bMeta)
	if err != nil {
		return nil, err
	}
	s := &Identities{db: d}
	s.scrubber.db = d
	if err := s.scrubIfDirty(); err != nil {
		_ = d.closeFile()
		return nil, err
	}
	go d.background(func() { _ = s.sweep(context.Background()) })
	return s, nil
}

// Lookup implements mapping.Identities.
func (s *Identities) Lookup(ctx context.Context, id string) (t mapping.Traits, found bool, err error) {
	if err := ctx.Err(); err != nil {
		return t, false, err
	}
	now := s.opts.Now()
	err = s.view(func(tx *bolt.Tx) error {
		k := key(id)
		t = decodeTraits(tx.Bucket(bTraits).Get(k), now)
		if to, ok := linkTarget(tx.Bucket(bLinks).Get(k), now); ok {
			t = t.Fill(decodeTraits(tx.Bucket(bTraits).Get(to), now))
		}
		return nil
	})
	return t, err == nil && !t.IsZero(), err
}

// Merge implements mapping.IdentityWriter.
func (s *Identities) Merge(ctx context.Context, id string, t mapping.Traits) error {
	if err := ctx.Err(); err != nil || t.IsZero() {
		return err
	}
	now := s.opts.Now()
	k := key(id)
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bTraits)
		merged := t.Fill(decodeTraits(b.Get(k), now))
		return b.Put(k, encodeTraits(merged, now.Add(s.opts.TTL)))
	})
}

// Link implements mapping.IdentityWriter.
func (s *Identities) Link(ctx context.Context, from, to string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if from == to {
		return nil
	}
	now := s.opts.Now()
	exp := now.Add(s.opts.TTL)
	kf, kt := key(from), key(to)
	return s.update(func(tx *bolt.Tx) error {
		links, back, traits := tx.Bucket(bLinks), tx.Bucket(bBack), tx.Bucket(bTraits)
		if old := target(links.Get(kf)); old != nil && !bytes.Equal(old, kt) {
			if err := back.Delete(backKey(old, kf)); err != nil {
				return err
			}
		}
		if err := links.Put(kf, append(putExpiry(nil, exp), kt...)); err != nil {
			return err
		}
		if err := back.Put(backKey(kt, kf), putExpiry(nil, exp)); err != nil {
			return err
		}
		ft := decodeTraits(traits.Get(kf), now)
		tt := decodeTraits(traits.Get(kt), now)
		if filled := tt.Fill(ft); filled != tt {
			return traits.Put(kt, encodeTraits(filled, exp))
		}
		return nil
	})
}

// Forget implements mapping.IdentityWriter: it erases id and every id linked
// to it, directly or through other links, expired or not.
func (s *Identities) Forget(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	forgot := false
	err := s.update(func(tx *bolt.Tx) error {
		forgot = false
		traits, links, back := tx.Bucket(bTraits), tx.Bucket(bLinks), tx.Bucket(bBack)
		person := component(links, back, key(id))
		for _, k := range person {
			var doomed [][]byte
			c := back.Cursor()
			for bk, _ := c.Seek(backPrefix(k)); bk != nil && bytes.HasPrefix(bk, backPrefix(k)); bk, _ = c.Next() {
				doomed = append(doomed, bytes.Clone(bk))
			}
			if to := target(links.Get(k)); to != nil {
				doomed = append(doomed, backKey(to, k))
			}
			for _, del := range []struct {
				b    *bolt.Bucket
				keys [][]byte
			}{{back, doomed}, {traits, [][]byte{k}}, {links, [][]byte{k}}} {
				for _, dk := range del.keys {
					if del.b.Get(dk) == nil {
						continue
					}
					forgot = true
					if err := del.b.Delete(dk); err != nil {
						return err
					}
				}
			}
		}
		if forgot {
			return tx.Bucket(bMeta).Put(kDirty, []byte{1})
		}
		return nil
	})
	if err == nil && forgot {
		s.scrubSoon()
	}
	return err
}

// component returns k and every key linked to it, directly or not.
func component(links, back *bolt.Bucket, k []byte) [][]byte {
	seen := map[string]bool{string(k): true}
	out := [][]byte{k}
	for i := 0; i < len(out); i++ {
		next := [][]byte{target(links.Get(out[i]))}
		c := back.Cursor()
		p := backPrefix(out[i])
		for bk, _ := c.Seek(p); bk != nil && bytes.HasPrefix(bk, p); bk, _ = c.Next() {
			next = append(next, bytes.Clone(bk[len(p):]))
		}
		for _, n := range next {
			if n != nil && !seen[string(n)] {
				seen[string(n)] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// Close scrubs the file if a Forget awaits it, and closes it.
func (s *Identities) Close() error {
	s.stopScrubTimer()
	err := s.scrubIfDirty()
	if errors.Is(err, ErrClosed) {
		err = nil
	}
	if cerr := s.close(); err == nil {
		err = cerr
	}
	return err
}

// Ping reports whether the store is open.
func (s *Identities) Ping(context.Context) error { return s.view(func(*bolt.Tx) error { return nil }) }
