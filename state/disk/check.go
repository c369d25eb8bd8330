package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// A damaged bbolt file must never reach bbolt: bbolt maps the file and
// trusts its page numbers, so a file cut short makes the process die of
// SIGBUS, and a page number past the end or a page of the wrong kind makes
// it panic, in a goroutine of its own (the walk that rebuilds the free
// list at open) where no recover can reach. checkFile reads the file
// through read calls, never mapped, and walks every page bbolt would reach
// from the newest valid meta page, so that such a file is an error naming
// it instead.

// The bbolt file format (go.etcd.io/bbolt/internal/common), in the byte
// order of the machine that wrote it.
const (
	pageHeaderSize  = 16 // id uint64, flags uint16, count uint16, overflow uint32
	branchElemSize  = 16 // pos uint32, ksize uint32, pgid uint64
	leafElemSize    = 16 // flags uint32, pos uint32, ksize uint32, vsize uint32
	bucketValueSize = 16 // root pgid uint64, sequence uint64; an inline page follows when root is 0
	metaSize        = 64 // magic, version, pageSize, flags uint32; root bucket; freelist, pgid, txid, checksum uint64

	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01

	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	noFreelist     = ^uint64(0)
	maxBucketDepth = 64
)

var ne = binary.NativeEndian

// errDamaged is what every error of checkFile wraps.
var errDamaged = errors.New("damaged")

// damagedf returns an error that wraps errDamaged.
func damagedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errDamaged}, args...)...)
}

// meta is what checkFile needs of a meta page.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // the high-water mark: pages [0, pgid) are in use or free
	txid     uint64
}

// parseMeta reads the meta page in b (a whole page, header first); ok is
// false unless its magic, version and checksum are right.
func parseMeta(b []byte) (m meta, ok bool) {
	if len(b) < pageHeaderSize+metaSize || ne.Uint16(b[8:]) != metaPageFlag {
		return m, false
	}
	mb := b[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	_, _ = h.Write(mb[:56])
	if ne.Uint32(mb[0:]) != boltMagic || ne.Uint32(mb[4:]) != boltVersion || ne.Uint64(mb[56:]) != h.Sum64() {
		return m, false
	}
	return meta{pageSize: ne.Uint32(mb[8:]), root: ne.Uint64(mb[16:]), freelist: ne.Uint64(mb[32:]),
		pgid: ne.Uint64(mb[40:]), txid: ne.Uint64(mb[48:])}, true
}

// checkFile reports whether the bbolt file f, size bytes long, is whole:
// nil for an empty file (bbolt initializes it), else an error wrapping
// errDamaged that says what is wrong, or a read error.
func checkFile(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	read := func(off int64, n int) ([]byte, error) {
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, damagedf("%d bytes long, cut short before byte %d", size, off+int64(n))
			}
			return nil, err
		}
		return b, nil
	}
	// The first meta page is at offset 0; the second one page further, at
	// an offset that depends on the page size the first one states (when
	// it is unreadable, every size bbolt accepts is tried, as bbolt does).
	var metas []meta
	first, err := read(0, min(int(size), 4096))
	if err != nil {
		return err
	}
	sizes := []int64{1024, 2048, 4096, 8192, 16384, 32768, 65536}
	if m, ok := parseMeta(first); ok {
		metas = append(metas, m)
		sizes = []int64{int64(m.pageSize)}
	}
	for _, ps := range sizes {
		if ps+pageHeaderSize+metaSize > size {
			break
		}
		b, err := read(ps, pageHeaderSize+metaSize)
		if err != nil {
			return err
		}
		if m, ok := parseMeta(b); ok && int64(m.pageSize) == ps {
			metas = append(metas, m)
			break
		}
	}
	if len(metas) == 0 {
		return damagedf("no valid meta page: not a bbolt file, or both of its meta pages are overwritten")
	}
	m := metas[0]
	if len(metas) == 2 && metas[1].txid > m.txid {
		m = metas[1]
	}
	ps := int64(m.pageSize)
	if ps < 512 || ps > 1<<16 || ps&(ps-1) != 0 {
		return damagedf("page size %d", ps)
	}
	if m.pgid < 2 || m.pgid > uint64(size/ps) {
		return damagedf("%d bytes long, but its meta page counts %d pages of %d bytes: cut short", size, m.pgid, ps)
	}
	c := &checker{read: read, pageSize: ps, hwm: m.pgid, seen: map[uint64]bool{0: true, 1: true}}
	if m.freelist != noFreelist {
		if err := c.freelist(m.freelist); err != nil {
			return err
		}
	}
	if m.root == 0 {
		return damagedf("no root bucket")
	}
	return c.tree(m.root, 0)
}

// checker walks the pages of one file.
type checker struct {
	read     func(off int64, n int) ([]byte, error)
	pageSize int64
	hwm      uint64
	seen     map[uint64]bool
}

// page reads page id with its overflow pages, checking that they lie below
// the high-water mark, that nothing else uses them, and that the header
// names the page.
func (c *checker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, damagedf("page number %d out of bounds [2, %d)", id, c.hwm)
	}
	h, err := c.read(int64(id)*c.pageSize, pageHeaderSize)
	if err != nil {
		return nil, err
	}
	if got := ne.Uint64(h); got != id {
		return nil, damagedf("page %d holds the header of page %d", id, got)
	}
	overflow := uint64(ne.Uint32(h[12:]))
	if overflow >= c.hwm-id {
		return nil, damagedf("page %d runs %d pages past the end", id, overflow)
	}
	for p := id; p <= id+overflow; p++ {
		if c.seen[p] {
			return nil, damagedf("page %d is used twice", p)
		}
		c.seen[p] = true
	}
	return c.read(int64(id)*c.pageSize, int((overflow+1)*uint64(c.pageSize)))
}

// freelist checks the free-list page id.
func (c *checker) freelist(id uint64) error {
	b, err := c.page(id)
	if err != nil {
		return err
	}
	if flags := ne.Uint16(b[8:]); flags != freelistPageFlag {
		return damagedf("free-list page %d has flags %#x", id, flags)
	}
	n, at := uint64(ne.Uint16(b[10:])), pageHeaderSize
	if n == 0xFFFF { // the count is in the first element
		if len(b) < pageHeaderSize+8 {
			return damagedf("free-list page %d cut short", id)
		}
		n, at = ne.Uint64(b[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > uint64(len(b)-at)/8 {
		return damagedf("free-list page %d lists %d pages, more than it holds", id, n)
	}
	for i := range n {
		if p := ne.Uint64(b[at+int(i)*8:]); p < 2 || p >= c.hwm {
			return damagedf("free-list page %d lists page %d, out of bounds [2, %d)", id, p, c.hwm)
		}
	}
	return nil
}

// tree checks the B+tree whose root is page id, and the buckets in it.
func (c *checker) tree(id uint64, depth int) error {
	if depth > maxBucketDepth {
		return damagedf("pages nested more than %d deep: a loop", maxBucketDepth)
	}
	b, err := c.page(id)
	if err != nil {
		return err
	}
	switch flags := ne.Uint16(b[8:]); flags {
	case branchPageFlag:
		n := int(ne.Uint16(b[10:]))
		if pageHeaderSize+n*branchElemSize > len(b) {
			return damagedf("branch page %d lists %d elements, more than it holds", id, n)
		}
		for i := range n {
			e := pageHeaderSize + i*branchElemSize
			if end := uint64(e) + uint64(ne.Uint32(b[e:])) + uint64(ne.Uint32(b[e+4:])); end > uint64(len(b)) {
				return damagedf("branch page %d: key %d runs past the page", id, i)
			}
			if err := c.tree(ne.Uint64(b[e+8:]), depth+1); err != nil {
				return err
			}
		}
		return nil
	case leafPageFlag:
		return c.leaf(b, id, depth)
	default:
		return damagedf("page %d has flags %#x, not a branch or leaf page", id, flags)
	}
}

// leaf checks the leaf page b (page id, or an inline bucket's page inside
// page id), and the buckets it holds.
func (c *checker) leaf(b []byte, id uint64, depth int) error {
	if len(b) < pageHeaderSize || ne.Uint16(b[8:]) != leafPageFlag {
		return damagedf("page %d: an inline bucket is not a leaf page", id)
	}
	n := int(ne.Uint16(b[10:]))
	if pageHeaderSize+n*leafElemSize > len(b) {
		return damagedf("leaf page %d lists %d elements, more than it holds", id, n)
	}
	for i := range n {
		e := pageHeaderSize + i*leafElemSize
		start := uint64(e) + uint64(ne.Uint32(b[e+4:]))
		kv := start + uint64(ne.Uint32(b[e+8:]))
		end := kv + uint64(ne.Uint32(b[e+12:]))
		if end > uint64(len(b)) {
			return damagedf("leaf page %d: element %d runs past the page", id, i)
		}
		if ne.Uint32(b[e:])&bucketLeafFlag == 0 {
			continue
		}
		v := b[kv:end]
		if len(v) < bucketValueSize {
			return damagedf("leaf page %d: bucket %d has a %d-byte header", id, i, len(v))
		}
		if root := ne.Uint64(v); root != 0 {
			if err := c.tree(root, depth+1); err != nil {
				return err
			}
		} else if depth > maxBucketDepth {
			return damagedf("buckets nested more than %d deep", maxBucketDepth)
		} else if err := c.leaf(v[bucketValueSize:], id, depth+1); err != nil {
			return err
		}
	}
	return nil
}
