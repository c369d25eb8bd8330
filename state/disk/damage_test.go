package disk_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/store"
)

// sentFile writes a sent-order store of n confirmed orders in a new
// directory, closes it, and returns the file's path. The orders are written
// in one bbolt transaction, as the store writes them (key 0x00 and the
// order_id, value the expiry), for speed.
func sentFile(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := disk.OpenSent(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, "order-000000", time.Minute)
	if err == nil {
		err = s.Confirm(ctx, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, disk.SentFile)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(time.Hour).UnixNano()))
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("sent"))
		for i := 1; i < n; i++ {
			if err := b.Put(append([]byte{0}, fmt.Sprintf("order-%06d", i)...), exp); err != nil {
				return err
			}
		}
		return nil
	})
	if err = errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	return path
}

// pageSize returns the page size of the bbolt file at path.
func pageSize(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return db.Info().PageSize
}

// bucketRoot returns the page size of the bbolt file at path and the root
// page of its bucket name.
func bucketRoot(t *testing.T, path, name string) (pageSize int, root uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket([]byte(name)).RootPage())
		return nil
	})
	if err != nil || root == 0 {
		t.Fatalf("bucket %s: root %d, %v", name, root, err)
	}
	return db.Info().PageSize, root
}

// patch writes b at off in the file at path.
func patch(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// damages are ways a bbolt file gets damaged, each applied to the file at
// path (a store of several thousand entries, whose bucket's root is a branch
// page).
var damages = []struct {
	name string
	do   func(t *testing.T, path, bucket string)
}{
	{"cut to half", func(t *testing.T, path, _ string) {
		st, _ := os.Stat(path)
		if err := os.Truncate(path, st.Size()/2); err != nil {
			t.Fatal(err)
		}
	}},
	{"cut to its meta pages", func(t *testing.T, path, _ string) {
		if err := os.Truncate(path, int64(3*pageSize(t, path))); err != nil {
			t.Fatal(err)
		}
	}},
	{"meta pages overwritten", func(t *testing.T, path, _ string) {
		patch(t, path, 0, bytes.Repeat([]byte{0xAB}, 2*pageSize(t, path)))
	}},
	{"not a bbolt file", func(t *testing.T, path, _ string) {
		if err := os.WriteFile(path, bytes.Repeat([]byte("order_id,sent_at\n"), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
	}},
	{"a page number out of bounds", func(t *testing.T, path, bucket string) {
		ps, root := bucketRoot(t, path, bucket)
		// The first element of the root branch page points far past the end.
		patch(t, path, int64(root)*int64(ps)+16+8, binary.NativeEndian.AppendUint64(nil, 1<<40))
	}},
	{"a page of the wrong kind", func(t *testing.T, path, bucket string) {
		ps, root := bucketRoot(t, path, bucket)
		patch(t, path, int64(root)*int64(ps)+8, []byte{0x20, 0})
	}},
	{"a page holding another's header", func(t *testing.T, path, bucket string) {
		ps, root := bucketRoot(t, path, bucket)
		patch(t, path, int64(root)*int64(ps), binary.NativeEndian.AppendUint64(nil, root+1))
	}},
}

// A damaged sent-order file is an error naming the file and the way out,
// never a panic or a SIGBUS (as it was: bbolt mapped the file and trusted
// it), and never a new empty store in its place: that would send every
// order read again.
func TestDamagedSentFileIsAnErrorWithTheWayOut(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			path := sentFile(t, 5000)
			d.do(t, path, "sent")
			before, _ := os.ReadFile(path)
			start := time.Now()
			_, err := disk.OpenSent(filepath.Dir(path), disk.Options{})
			took := time.Since(start)
			var damaged *disk.DamagedError
			if !errors.As(err, &damaged) || damaged.Path != path {
				t.Fatalf("OpenSent of a damaged file: %v, want a *disk.DamagedError naming %s", err, path)
			}
			for _, want := range []string{path, "damaged", "backup", "STATE_ACCEPT_NEW", "--accept-new-state"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("the damaged file was changed")
			}
			t.Logf("refused in %v: %v", took.Round(time.Microsecond), damaged.Err)
		})
	}
}

// A damaged identity file is set aside (renamed, with a warning) and a new
// one started: identities only enrich orders.
func TestDamagedIdentityFileIsSetAside(t *testing.T) {
	ctx := context.Background()
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openIdentities(t, dir, disk.Options{})
			for i := range 3000 {
				if err := s.Merge(ctx, fmt.Sprint("user-", i), mapping.Traits{Email: fmt.Sprint(i, "@example.com")}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, disk.IdentitiesFile)
			d.do(t, path, "traits")
			damagedBytes, _ := os.ReadFile(path)
			var logs bytes.Buffer
			s, err := disk.OpenIdentities(dir, disk.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("OpenIdentities of a damaged file: %v", err)
			}
			defer s.Close()
			aside, _ := filepath.Glob(path + ".damaged-*")
			if len(aside) != 1 {
				t.Fatalf("set aside as %v, want one file", aside)
			}
			if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, damagedBytes) {
				t.Error("the file set aside is not the damaged file")
			}
			if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, aside[0]) {
				t.Errorf("want a warning naming %s:\n%s", aside[0], out)
			}
			if err := s.Merge(ctx, "u", mapping.Traits{Email: "u@example.com"}); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := s.Lookup(ctx, "u"); got.Email != "u@example.com" {
				t.Fatalf("the new store: %+v", got)
			}
		})
	}
}

// One meta page overwritten is what bbolt's two meta pages are for: the
// file opens on the other one (here the newer one is lost, and with it the
// last transaction).
func TestOneDamagedMetaPageStillOpens(t *testing.T) {
	path := sentFile(t, 100)
	patch(t, path, int64(pageSize(t, path)), bytes.Repeat([]byte{0xAB}, 64))
	s := openSent(t, filepath.Dir(path), disk.Options{})
	// The older meta page is the state before the last transaction (the
	// bulk insert): the order confirmed before it is there.
	if c, err := s.Claim(context.Background(), "order-000000", time.Minute); err != nil || c.Status != store.AlreadySent {
		t.Fatalf("a sent order after the fallback to the other meta page: %v, %v", c.Status, err)
	}
}

// The check reads every page once at open: measured here on a store of
// 100,000 sent orders.
func TestCheckAtOpenIsCheap(t *testing.T) {
	path := sentFile(t, 100_000)
	st, _ := os.Stat(path)
	start := time.Now()
	s := openSent(t, filepath.Dir(path), disk.Options{})
	t.Logf("opened a %.1f MiB sent.db (100,000 orders) in %v, check included", float64(st.Size())/(1<<20), time.Since(start).Round(time.Microsecond))
	_ = s
}
