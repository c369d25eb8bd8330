package disk

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"
)

// sweepChunk is the most records one sweep transaction deletes, so that
// a sweep never holds the writers back for long.
const sweepChunk = 1000

// sweepBucket deletes the expired records of bucket name, a chunk per
// transaction, and returns how many it deleted. also, if set, deletes what
// belongs with a record, in the same transaction.
func (d *db) sweepBucket(ctx context.Context, name []byte, also func(tx *bolt.Tx, k, v []byte) error) (int, error) {
	total := 0
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		now := d.opts.Now()
		var expired [][]byte
		err := d.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(name).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(expired) < sweepChunk; k, v = c.Next() {
				if !live(v, now) {
					expired = append(expired, bytes.Clone(k))
				}
				after = bytes.Clone(k)
			}
			if k == nil {
				after = nil
			}
			return nil
		})
		if err != nil || len(expired) == 0 && after == nil {
			return total, err
		}
		n := 0
		err = d.update(func(tx *bolt.Tx) error {
			n = 0
			b := tx.Bucket(name)
			for _, k := range expired {
				v := b.Get(k)
				if v == nil || live(v, now) { // renewed since
					continue
				}
				if also != nil {
					if err := also(tx, k, v); err != nil {
						return err
					}
				}
				if err := b.Delete(k); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		total += n
		if err != nil || after == nil {
			return total, err
		}
	}
}

// sweep deletes expired traits, links and reverse links.
func (s *Identities) sweep(ctx context.Context) error {
	if _, err := s.sweepBucket(ctx, bTraits, nil); err != nil {
		return err
	}
	_, err := s.sweepBucket(ctx, bLinks, func(tx *bolt.Tx, k, v []byte) error {
		return tx.Bucket(bBack).Delete(backKey(target(v), k))
	})
	if err != nil {
		return err
	}
	_, err = s.sweepBucket(ctx, bBack, nil)
	return err
}

// Sweep commits the pending changes (see Flush), then deletes expired
// records now; the store also sweeps every SweepInterval, the file only.
// Lookups ignore expired records either way.
func (s *Identities) Sweep(ctx context.Context) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	return s.sweep(ctx)
}

// Counts is the number of records in each bucket of the identity file,
// expired ones not yet swept included.
type Counts struct{ Traits, Links, Back int }

// Count returns the records of each bucket of the file; changes not yet
// committed are not counted (Flush first).
func (s *Identities) Count() (Counts, error) {
	var n Counts
	err := s.view(func(tx *bolt.Tx) error {
		n = Counts{tx.Bucket(bTraits).Stats().KeyN, tx.Bucket(bLinks).Stats().KeyN, tx.Bucket(bBack).Stats().KeyN}
		return nil
	})
	return n, err
}
