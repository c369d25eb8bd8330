package disk_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/store"
)

func origin(t *testing.T, s store.Identified) store.Origin {
	t.Helper()
	o, err := s.Origin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// A sent.db records an identity once adopted; a missing or emptied one is
// New, so that the relay can tell a lost store from a kept one.
func TestSentStoreKnowsWhetherItIsNew(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := disk.OpenSent(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o := origin(t, s); !o.New || o.ID != "" {
		t.Fatalf("a sent.db just created: %+v, want New", o)
	}
	adopted, err := s.Adopt(ctx)
	if err != nil || adopted.New || adopted.ID == "" || adopted.Created.IsZero() {
		t.Fatalf("Adopt: %+v, %v", adopted, err)
	}
	if again, _ := s.Adopt(ctx); again != adopted {
		t.Fatalf("a second Adopt changed the identity: %+v, then %+v", adopted, again)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openSent(t, dir, disk.Options{})
	if o := origin(t, s); o != adopted {
		t.Fatalf("after reopening: %+v, want %+v", o, adopted)
	}
	_ = s.Close()

	// The file emptied (0 bytes), as a lost volume or a bad restore leaves it.
	if err := os.Truncate(filepath.Join(dir, disk.SentFile), 0); err != nil {
		t.Fatal(err)
	}
	if o := origin(t, openSent(t, dir, disk.Options{})); !o.New {
		t.Fatalf("a 0-byte sent.db: %+v, want New", o)
	}
	// The file gone.
	other := t.TempDir()
	if o := origin(t, openSent(t, other, disk.Options{})); !o.New {
		t.Fatalf("no sent.db: %+v, want New", o)
	}
}

// A sent.db written before identities existed holds order_ids and no
// identity: it is given one at open, and is not New.
func TestSentStoreFromBeforeIdentitiesIsAdopted(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, disk.SentFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("sent"))
		if err != nil {
			return err
		}
		return b.Put(append([]byte{0}, "o-1"...), binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(time.Hour).UnixNano())))
	})
	if err = errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	s := openSent(t, dir, disk.Options{})
	o := origin(t, s)
	if o.New || o.ID == "" {
		t.Fatalf("a sent.db with orders and no identity: %+v, want an identity", o)
	}
	if c, _ := s.Claim(context.Background(), "o-1", time.Minute); c.Status != store.AlreadySent {
		t.Fatalf("its order: %v", c.Status)
	}
}
