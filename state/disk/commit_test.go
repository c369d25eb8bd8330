package disk

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func testDB(t *testing.T) *db {
	t.Helper()
	d, err := openDB(t.TempDir()+"/t.db", Options{}.withDefaults(time.Hour), []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	go d.background(func() {})
	t.Cleanup(func() { _ = d.close() })
	return d
}

func put(k string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte(k), []byte("v")) }
}

func TestFailingWriteDoesNotSinkItsBatch(t *testing.T) {
	d := testDB(t)
	boom := errors.New("boom")
	errs := d.runBatch([]func(tx *bolt.Tx) error{
		put("a"),
		func(tx *bolt.Tx) error { _ = put("bad")(tx); return boom },
		put("c"),
	})
	if errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil {
		t.Fatalf("errors %v, want nil, boom, nil", errs)
	}
	_ = d.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		if b.Get([]byte("a")) == nil || b.Get([]byte("c")) == nil || b.Get([]byte("bad")) != nil {
			t.Error("the failed write was kept or the others were lost")
		}
		return nil
	})
}

func TestConcurrentWritersAllCommit(t *testing.T) {
	d := testDB(t)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if err := d.update(put(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	_ = d.view(func(tx *bolt.Tx) error {
		if n := tx.Bucket([]byte("b")).Stats().KeyN; n != 200 {
			t.Errorf("%d keys committed, want 200", n)
		}
		return nil
	})
}

func TestWritesAfterCloseFail(t *testing.T) {
	d := testDB(t)
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	if err := d.update(put("a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("update after close: %v", err)
	}
}
