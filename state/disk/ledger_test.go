package disk_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

func openLedger(t testing.TB, dir string, opts disk.Options) *disk.Ledger {
	t.Helper()
	l, err := disk.OpenLedger(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestLedgerConforms(t *testing.T) {
	storetest.TestLedger(t, func(t *testing.T) store.Ledger { return openLedger(t, t.TempDir(), disk.Options{}) })
}

var ledgerLines = []mapping.Line{{SKU: "A", Quantity: 2, Price: "9.99"}, {SKU: "B", Quantity: 1, Price: ""}}

func claimCancel(t *testing.T, l store.Ledger, order, id string, lease time.Duration) store.CancelClaim {
	t.Helper()
	c, err := l.ClaimCancel(context.Background(), order, id, lease)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLedgerOutlivesARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := disk.OpenLedger(dir, disk.Options{})
	ok(t, err)
	ok(t, l.RecordDelivery(ctx, "o", ledgerLines))
	ok(t, l.ConfirmCancel(ctx, claimCancel(t, l, "o", "r1", time.Minute), []mapping.CancelItem{{SKU: "A", Quantity: 1}}))
	ok(t, l.Close())

	l = openLedger(t, dir, disk.Options{})
	e, found, err := l.Entry(ctx, "o")
	if err != nil || !found || len(e.Lines) != 2 || e.Lines[0] != ledgerLines[0] || e.Lines[1] != ledgerLines[1] ||
		len(e.Cancelled) != 1 || e.Cancelled["A"] != 1 {
		t.Fatalf("after reopen: %+v found %v err %v", e, found, err)
	}
	if c := claimCancel(t, l, "o", "r1", time.Minute); c.Status != store.AlreadySent {
		t.Errorf("a done cancel after reopen: %v", c.Status)
	}
}

// A lock left by a process that crashed holds nothing: no process holds it.
func TestLedgerLockOfAnEarlierOpenIsFree(t *testing.T) {
	dir := t.TempDir()
	l, err := disk.OpenLedger(dir, disk.Options{})
	ok(t, err)
	if c := claimCancel(t, l, "o", "r1", time.Hour); c.Status != store.Claimed {
		t.Fatalf("claim: %v", c.Status)
	}
	ok(t, l.Close()) // without releasing, as a crash would

	l = openLedger(t, dir, disk.Options{})
	if c := claimCancel(t, l, "o", "r2", time.Hour); c.Status != store.Claimed {
		t.Errorf("after reopen: %v, want the lock free", c.Status)
	}
}

func TestLedgerLeaseExpires(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	l := openLedger(t, t.TempDir(), disk.Options{Now: clk.Now})
	ok(t, l.RecordDelivery(ctx, "o", ledgerLines))
	old := claimCancel(t, l, "o", "r1", time.Minute)
	if c := claimCancel(t, l, "o", "r2", time.Minute); c.Status != store.HeldElsewhere {
		t.Fatalf("within the lease: %v", c.Status)
	}
	clk.Advance(2 * time.Minute)
	next := claimCancel(t, l, "o", "r2", time.Minute)
	if next.Status != store.Claimed {
		t.Fatalf("after the lease: %v", next.Status)
	}
	ok(t, l.ReleaseCancel(ctx, old)) // frees nothing: the lock is next's
	if c := claimCancel(t, l, "o", "r3", time.Minute); c.Status != store.HeldElsewhere {
		t.Errorf("an expired claim's release freed another's lock: %v", c.Status)
	}
	// The cancel behind an expired lease happened: it counts, and leaves next's lock.
	ok(t, l.ConfirmCancel(ctx, old, []mapping.CancelItem{{SKU: "A", Quantity: 1}}))
	if c := claimCancel(t, l, "o", "r3", time.Minute); c.Status != store.HeldElsewhere {
		t.Errorf("an expired claim's confirm freed another's lock: %v", c.Status)
	}
	ok(t, l.ConfirmCancel(ctx, next, []mapping.CancelItem{{SKU: "B", Quantity: 1}}))
	if c := claimCancel(t, l, "o", "r3", time.Minute); c.Status != store.Claimed {
		t.Errorf("after the confirm: %v", c.Status)
	}
	if e, _, _ := l.Entry(ctx, "o"); e.Cancelled["A"] != 1 || e.Cancelled["B"] != 1 {
		t.Errorf("cancelled %v, want A:1 B:1", e.Cancelled)
	}
}

func TestLedgerEntriesExpire(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	dir := t.TempDir()
	l, err := disk.OpenLedger(dir, disk.Options{TTL: time.Hour, Now: clk.Now})
	ok(t, err)
	ok(t, l.RecordDelivery(ctx, "o", ledgerLines))
	ok(t, l.ConfirmCancel(ctx, claimCancel(t, l, "o", "r1", time.Minute), []mapping.CancelItem{{SKU: "A", Quantity: 1}}))
	ok(t, l.RecordDelivery(ctx, "p", ledgerLines))
	clk.Advance(59 * time.Minute)
	ok(t, l.RecordDelivery(ctx, "p", ledgerLines)) // a write renews the TTL
	clk.Advance(2 * time.Minute)
	if _, found, err := l.Entry(ctx, "o"); found || err != nil {
		t.Errorf("after the TTL: found %v, %v", found, err)
	}
	if _, found, _ := l.Entry(ctx, "p"); !found {
		t.Error("an entry written within the TTL expired")
	}
	if c := claimCancel(t, l, "o", "r1", time.Minute); c.Status != store.Claimed {
		t.Errorf("a cancel id of an expired entry: %v", c.Status)
	}
	clk.Advance(2 * time.Hour)
	ok(t, l.Sweep(ctx))
	ok(t, l.Close())
	if n := records(t, filepath.Join(dir, disk.LedgerFile)); n != 0 {
		t.Errorf("%d records after the sweep, want 0", n)
	}
}

// records counts the records of a closed ledger file.
func records(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	ok(t, err)
	defer db.Close()
	n := 0
	ok(t, db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket([]byte("ledger")).Stats().KeyN
		return nil
	}))
	return n
}

// A damaged record reads as an order never delivered (which cancels
// nothing), and the next write replaces it.
func TestLedgerDamagedRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := disk.OpenLedger(dir, disk.Options{})
	ok(t, err)
	ok(t, l.RecordDelivery(ctx, "o", ledgerLines))
	ok(t, l.Close())
	db, err := bolt.Open(filepath.Join(dir, disk.LedgerFile), 0o600, nil)
	ok(t, err)
	ok(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("ledger"))
		k, v := b.Cursor().First()
		return b.Put(k, v[:len(v)-3])
	}))
	ok(t, db.Close())

	l = openLedger(t, dir, disk.Options{})
	if _, found, err := l.Entry(ctx, "o"); found || err != nil {
		t.Errorf("a damaged record: found %v, %v", found, err)
	}
	ok(t, l.RecordDelivery(ctx, "o", ledgerLines))
	if e, found, _ := l.Entry(ctx, "o"); !found || len(e.Lines) != 2 {
		t.Errorf("after a new delivery: %+v found %v", e, found)
	}
}

// Concurrent confirms share commits; each cancel id counts once.
func TestLedgerConcurrentConfirmsCountOnce(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, t.TempDir(), disk.Options{})
	ok(t, l.RecordDelivery(ctx, "o", ledgerLines))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := store.CancelClaim{OrderID: "o", CancelID: fmt.Sprint("r", i/2), Token: "none"}
			errs <- l.ConfirmCancel(ctx, c, []mapping.CancelItem{{SKU: "A", Quantity: 1}})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ok(t, err)
	}
	if e, _, _ := l.Entry(ctx, "o"); e.Cancelled["A"] != 50 {
		t.Errorf("cancelled %v, want A:50", e.Cancelled)
	}
}

// A delivery recorded with no lines is delivered; nil lines are not (as
// the memory ledger).
func TestLedgerNoLines(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, t.TempDir(), disk.Options{})
	ok(t, l.RecordDelivery(ctx, "empty", []mapping.Line{}))
	ok(t, l.RecordDelivery(ctx, "nil", nil))
	if e, found, err := l.Entry(ctx, "empty"); !found || err != nil || len(e.Lines) != 0 {
		t.Errorf("no lines: %+v found %v err %v", e, found, err)
	}
	if _, found, err := l.Entry(ctx, "nil"); found || err != nil {
		t.Errorf("nil lines: found %v err %v", found, err)
	}
}

func TestLedgerAfterClose(t *testing.T) {
	ctx := context.Background()
	l, err := disk.OpenLedger(t.TempDir(), disk.Options{})
	ok(t, err)
	ok(t, l.Close())
	c := store.CancelClaim{OrderID: "o", CancelID: "r", Token: "t"}
	for name, err := range map[string]error{
		"RecordDelivery": l.RecordDelivery(ctx, "o", ledgerLines),
		"Entry":          func() error { _, _, err := l.Entry(ctx, "o"); return err }(),
		"ClaimCancel":    func() error { _, err := l.ClaimCancel(ctx, "o", "r", time.Minute); return err }(),
		"ConfirmCancel":  l.ConfirmCancel(ctx, c, nil),
		"ReleaseCancel":  l.ReleaseCancel(ctx, c),
		"Ping":           l.Ping(ctx),
	} {
		if !errors.Is(err, disk.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func TestLedgerSecondProcessIsLockedOut(t *testing.T) {
	dir := t.TempDir()
	openLedger(t, dir, disk.Options{})
	if _, err := disk.OpenLedger(dir, disk.Options{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, disk.ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}
