package disk

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// scrubber rewrites the identity file after a Forget. bbolt frees the pages
// of deleted records without clearing them, so erased traits would stay in
// the file until the pages are reused; a rewrite copies only live records to
// a new file, fsyncs it and renames it over the old one. The dirty mark in
// the meta bucket is committed in the transaction that commits a Forget's
// deletions, so a crash before the rewrite leads to one at the next Open;
// the writer arms the rewrite once that transaction is committed.
type scrubber struct {
	db *db

	mu    sync.Mutex
	timer *time.Timer // armed while a scrub is due
}

// scrubSoon arms a scrub in ScrubDelay unless one is due already.
func (s *scrubber) scrubSoon() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer == nil {
		s.timer = time.AfterFunc(s.db.opts.ScrubDelay, func() {
			s.mu.Lock()
			s.timer = nil
			s.mu.Unlock()
			_ = s.scrubIfDirty() // on failure the mark stays: Close or Open retries
		})
	}
}

func (s *scrubber) stopScrubTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

func (s *scrubber) scrubIfDirty() error {
	d := s.db
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bolt == nil {
		return ErrClosed
	}
	dirty := false
	if err := d.bolt.View(func(tx *bolt.Tx) error {
		dirty = tx.Bucket(bMeta).Get(kDirty) != nil
		return nil
	}); err != nil || !dirty {
		return err
	}
	tmp := d.path + ".scrub"
	_ = os.Remove(tmp)
	if err := rewrite(d.bolt, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("scrub %s: %w", d.path, err)
	}
	if err := d.bolt.Close(); err != nil {
		return fmt.Errorf("scrub %s: %w", d.path, err)
	}
	d.bolt = nil
	if err := os.Rename(tmp, d.path); err != nil {
		_ = os.Remove(tmp) // the old file, still marked dirty, is reopened
	} else {
		syncDir(filepath.Dir(d.path))
	}
	b, err := d.open(d.path)
	if err != nil {
		return fmt.Errorf("scrub: reopen: %w", err)
	}
	d.bolt = b
	return nil
}

// rewrite copies src's live records to a new file at path, without the
// dirty mark, and makes it durable.
func rewrite(src *bolt.DB, path string) error {
	dst, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	err = bolt.Compact(dst, src, 64<<20)
	if err == nil {
		err = dst.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Delete(kDirty) })
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename in dir durable; failure only delays durability.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		_ = f.Close()
	}
}
