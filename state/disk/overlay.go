package disk

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// Record kinds of a layer other than reverse links, by bucket.
const (
	traitsRec = iota // bTraits
	linksRec         // bLinks
)

var recBuckets = [...][]byte{traitsRec: bTraits, linksRec: bLinks}

// layer is a set of changes to the identity file's records that are not yet
// committed: each changed record's new value, or nil once it is deleted.
// Identities keeps two, pending (which takes new changes) and flushing
// (which the writer is committing); a record's current value is the one in
// pending, else in flushing, else in the file. A value is never modified
// once it is in a layer, so a commit may hold it until the commit ends.
type layer struct {
	recs  [len(recBuckets)]map[string][]byte // by kind: key → record
	back  map[string]map[string][]byte       // key(to) → key(from) → back record
	dirty bool                               // a Forget erased records: mark the file for a scrub
	n     int                                // records in the layer
}

func newLayer() *layer {
	l := &layer{back: map[string]map[string][]byte{}}
	for i := range l.recs {
		l.recs[i] = map[string][]byte{}
	}
	return l
}

func (l *layer) set(kind int, k string, v []byte) {
	if _, ok := l.recs[kind][k]; !ok {
		l.n++
	}
	l.recs[kind][k] = v
}

func (l *layer) setBack(to, from string, v []byte) {
	m := l.back[to]
	if m == nil {
		m = map[string][]byte{}
		l.back[to] = m
	}
	if _, ok := m[from]; !ok {
		l.n++
	}
	m[from] = v
}

// absorb adds newer's changes to l; newer's values win.
func (l *layer) absorb(newer *layer) {
	for kind, m := range newer.recs {
		for k, v := range m {
			l.set(kind, k, v)
		}
	}
	for to, m := range newer.back {
		for from, v := range m {
			l.setBack(to, from, v)
		}
	}
	l.dirty = l.dirty || newer.dirty
}

// persist writes l's changes in tx. Applying the final value of each record
// gives the state that applying every change in order would. It may run
// again in a later transaction if tx does not commit.
func (l *layer) persist(tx *bolt.Tx) error {
	for kind, m := range l.recs {
		b := tx.Bucket(recBuckets[kind])
		for k, v := range m {
			if err := putOrDelete(b, []byte(k), v); err != nil {
				return err
			}
		}
	}
	b := tx.Bucket(bBack)
	for to, m := range l.back {
		for from, v := range m {
			if err := putOrDelete(b, backKey([]byte(to), []byte(from)), v); err != nil {
				return err
			}
		}
	}
	if l.dirty {
		return tx.Bucket(bMeta).Put(kDirty, []byte{1})
	}
	return nil
}

func putOrDelete(b *bolt.Bucket, k, v []byte) error {
	if v == nil {
		return b.Delete(k)
	}
	return b.Put(k, v)
}

// view is the identity store as the changes accepted so far leave it: the
// layers, newest first (nil ones skipped), over a read transaction of the
// file. Changes go to the first layer. A view lives for one operation, under
// the lock of the layers; values it returns live as long as the transaction.
type view struct {
	tx      *bolt.Tx
	layers  [2]*layer
	changed bool // a record was written or deleted

	buckets [len(recBuckets) + 1]*bolt.Bucket // opened so far, by kind, then bBack
}

// bucket returns the bucket of records of the kind, or bBack after them.
func (v *view) bucket(kind int) *bolt.Bucket {
	if v.buckets[kind] == nil {
		name := bBack
		if kind < len(recBuckets) {
			name = recBuckets[kind]
		}
		v.buckets[kind] = v.tx.Bucket(name)
	}
	return v.buckets[kind]
}

// get returns the record of key k of the kind, or nil.
func (v *view) get(kind int, k []byte) []byte {
	for _, l := range v.layers {
		if l == nil {
			continue
		}
		if r, ok := l.recs[kind][string(k)]; ok {
			return r
		}
	}
	return v.bucket(kind).Get(k)
}

func (v *view) put(kind int, k, r []byte) {
	v.layers[0].set(kind, string(k), r)
	v.changed = true
}

// del deletes the record of key k and reports whether there was one.
func (v *view) del(kind int, k []byte) bool {
	if v.get(kind, k) == nil {
		return false
	}
	v.layers[0].set(kind, string(k), nil)
	v.changed = true
	return true
}

// getBack returns the reverse link record from → to, or nil.
func (v *view) getBack(to, from []byte) []byte {
	for _, l := range v.layers {
		if l == nil {
			continue
		}
		if r, ok := l.back[string(to)][string(from)]; ok {
			return r
		}
	}
	return v.bucket(len(recBuckets)).Get(backKey(to, from))
}

func (v *view) putBack(to, from, r []byte) {
	v.layers[0].setBack(string(to), string(from), r)
	v.changed = true
}

// delBack deletes the reverse link from → to and reports whether there was one.
func (v *view) delBack(to, from []byte) bool {
	if v.getBack(to, from) == nil {
		return false
	}
	v.layers[0].setBack(string(to), string(from), nil)
	v.changed = true
	return true
}

// froms returns the key of every id with a reverse link to to, expired or
// not, in no particular order.
func (v *view) froms(to []byte) [][]byte {
	seen := map[string]bool{}
	var out [][]byte
	consider := func(from string) {
		if !seen[from] {
			seen[from] = true
			if v.getBack(to, []byte(from)) != nil {
				out = append(out, []byte(from))
			}
		}
	}
	for _, l := range v.layers {
		if l != nil {
			for from := range l.back[string(to)] {
				consider(from)
			}
		}
	}
	c := v.bucket(len(recBuckets)).Cursor()
	p := backPrefix(to)
	for bk, _ := c.Seek(p); bk != nil && bytes.HasPrefix(bk, p); bk, _ = c.Next() {
		consider(string(bk[len(p):]))
	}
	return out
}
