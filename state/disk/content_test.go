package disk_test

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/store"
)

// A sent.db written by a version that kept no content holds each order_id's
// expiry alone: its orders are already sent, their content unknown. So is a
// record whose content does not read.
func TestSentRecordsWithoutContentReadAsUnknown(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, disk.SentFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(time.Hour).UnixNano()))
	records := map[string][]byte{
		"o-old":       exp,
		"o-cut-short": append(append([]byte(nil), exp...), 50, 'v', '1'), // a length past the record's end
		"o-garbled":   append(append([]byte(nil), exp...), 0xff, 0xff),   // a length that never ends
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("sent"))
		if err != nil {
			return err
		}
		for id, v := range records {
			if err := b.Put(append([]byte{0}, id...), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err = errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	s := openSent(t, dir, disk.Options{})
	for id := range records {
		c, err := s.Claim(context.Background(), id, time.Minute)
		if err != nil || c.Status != store.AlreadySent || c.Fingerprint != "" || c.Summary != "" {
			t.Errorf("Claim(%s) = %+v, %v; want already sent, content unknown", id, c, err)
		}
	}
}

// The content is durable, and each record still starts with its expiry,
// which is all an earlier version reads of it: a downgrade keeps skipping
// the orders sent.
func TestSentContentIsDurableAndReadableByEarlierVersions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	opts := disk.Options{TTL: time.Hour, Now: func() time.Time { return now }}
	s, err := disk.OpenSent(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, "o-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c.Fingerprint, c.Summary = "v1:00112233445566778899aabbccddeeff", "total 104.50 USD, 3 items"
	if err := errors.Join(s.Confirm(ctx, c), s.Close()); err != nil {
		t.Fatal(err)
	}

	db, err := bolt.Open(filepath.Join(dir, disk.SentFile), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var v []byte
	err = db.View(func(tx *bolt.Tx) error {
		v = append(v, tx.Bucket([]byte("sent")).Get(append([]byte{0}, "o-1"...))...)
		return nil
	})
	if err = errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	if len(v) < 8 || !time.Unix(0, int64(binary.BigEndian.Uint64(v))).Equal(now.Add(time.Hour)) {
		t.Fatalf("the record %x does not start with its expiry", v)
	}

	again := openSent(t, dir, opts)
	got, err := again.Claim(ctx, "o-1", time.Minute)
	if err != nil || got.Status != store.AlreadySent || got.Fingerprint != c.Fingerprint || got.Summary != c.Summary {
		t.Fatalf("after reopening: %+v, %v; want already sent with its content", got, err)
	}
}
