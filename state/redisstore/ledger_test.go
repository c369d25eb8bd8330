package redisstore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/redisstore"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

func TestLedgerConforms(t *testing.T) {
	srv := statetest.StartRedis(t)
	storetest.TestLedger(t, func(t *testing.T) store.Ledger { return redisstore.NewLedger(srv.Client(t), opts()) })
}

var ledgerLines = []mapping.Line{{SKU: "A", Quantity: 2, Price: "9.99"}, {SKU: "B:1", Quantity: 1, Price: ""}}

func ledgerOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func claimCancel(t *testing.T, l store.Ledger, order, id string, lease time.Duration) store.CancelClaim {
	t.Helper()
	c, err := l.ClaimCancel(context.Background(), order, id, lease)
	ledgerOK(t, err)
	return c
}

// Each replica has its own client (its own connections), as separate
// processes would: one cancel of an order at a time across them, and each
// cancel id counts once.
func TestLedgerReplicasCancelOnce(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	o := opts()
	replicas := []*redisstore.Ledger{redisstore.NewLedger(srv.Client(t), o), redisstore.NewLedger(srv.Client(t), o)}
	ledgerOK(t, replicas[0].RecordDelivery(ctx, "o", ledgerLines))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []store.CancelClaim
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := replicas[i%2].ClaimCancel(ctx, "o", "r1", time.Minute)
			if err == nil && c.Status == store.Claimed {
				mu.Lock()
				won = append(won, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d claims won, want 1", len(won))
	}
	ledgerOK(t, replicas[1].ConfirmCancel(ctx, won[0], []mapping.CancelItem{{SKU: "B:1", Quantity: 1}}))
	ledgerOK(t, replicas[0].ConfirmCancel(ctx, won[0], []mapping.CancelItem{{SKU: "B:1", Quantity: 1}})) // a redone confirm
	if c := claimCancel(t, replicas[0], "o", "r1", time.Minute); c.Status != store.AlreadySent {
		t.Errorf("the done cancel on the other replica: %v", c.Status)
	}
	e, found, err := replicas[1].Entry(ctx, "o")
	if err != nil || !found || len(e.Lines) != 2 || e.Lines[0] != ledgerLines[0] || e.Lines[1] != ledgerLines[1] ||
		len(e.Cancelled) != 1 || e.Cancelled["B:1"] != 1 {
		t.Errorf("entry %+v found %v err %v", e, found, err)
	}
}

func TestLedgerKeysTTLsAndLease(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	c := srv.Client(t)
	o := opts()
	o.SentTTL = time.Hour
	l := redisstore.NewLedger(c, o)
	ledgerOK(t, l.RecordDelivery(ctx, "o", ledgerLines))
	old := claimCancel(t, l, "o", "r1", 300*time.Millisecond)
	if old.Status != store.Claimed {
		t.Fatalf("claim %v", old.Status)
	}
	keys := c.Keys(ctx, "*").Val()
	if len(keys) != 2 {
		t.Errorf("keys %q, want the entry and the lock", keys)
	}
	for _, k := range keys {
		ttl := c.PTTL(ctx, k).Val()
		switch {
		case !strings.HasPrefix(k, o.Prefix):
			t.Errorf("key %q is not under the prefix %q", k, o.Prefix)
		case k == o.Prefix+"o:o" && ttl < 59*time.Minute:
			t.Errorf("the entry's TTL is %v, want about an hour", ttl)
		case k == o.Prefix+"oc:o" && (ttl <= 0 || ttl > 300*time.Millisecond):
			t.Errorf("the lock's TTL is %v, want the lease", ttl)
		}
	}
	if again := claimCancel(t, l, "o", "r2", time.Minute); again.Status != store.HeldElsewhere {
		t.Errorf("within the lease: %v", again.Status)
	}
	time.Sleep(400 * time.Millisecond)
	next := claimCancel(t, l, "o", "r2", time.Minute)
	if next.Status != store.Claimed {
		t.Fatalf("after the lease: %v", next.Status)
	}
	ledgerOK(t, l.ReleaseCancel(ctx, old))
	ledgerOK(t, l.ConfirmCancel(ctx, old, []mapping.CancelItem{{SKU: "A", Quantity: 1}})) // it happened: it counts
	if c := claimCancel(t, l, "o", "r3", time.Minute); c.Status != store.HeldElsewhere {
		t.Errorf("an expired claim freed another's lock: %v", c.Status)
	}
	c.PExpire(ctx, o.Prefix+"o:o", time.Second)
	ledgerOK(t, l.ConfirmCancel(ctx, next, []mapping.CancelItem{{SKU: "A", Quantity: 1}}))
	if ttl := c.PTTL(ctx, o.Prefix+"o:o").Val(); ttl < 59*time.Minute {
		t.Errorf("the entry's TTL after a confirm is %v, want about an hour", ttl)
	}
	if e, _, _ := l.Entry(ctx, "o"); e.Cancelled["A"] != 2 {
		t.Errorf("cancelled %v, want A:2", e.Cancelled)
	}
	if n := c.Exists(ctx, o.Prefix+"oc:o").Val(); n != 0 {
		t.Error("the lock is held after its confirm")
	}
}

func TestLedgerEntriesExpire(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	o := opts()
	o.SentTTL = 300 * time.Millisecond
	l := redisstore.NewLedger(srv.Client(t), o)
	ledgerOK(t, l.RecordDelivery(ctx, "o", ledgerLines))
	ledgerOK(t, l.ConfirmCancel(ctx, claimCancel(t, l, "o", "r1", time.Minute), nil))
	time.Sleep(400 * time.Millisecond)
	if _, found, err := l.Entry(ctx, "o"); found || err != nil {
		t.Errorf("after the TTL: found %v, %v", found, err)
	}
	if c := claimCancel(t, l, "o", "r1", time.Minute); c.Status != store.Claimed {
		t.Errorf("a cancel id of an expired entry: %v", c.Status)
	}
}

// A delivery recorded with no lines is delivered; nil lines are not (as
// the memory ledger).
func TestLedgerNoLines(t *testing.T) {
	ctx := context.Background()
	l := redisstore.NewLedger(statetest.StartRedis(t).Client(t), opts())
	ledgerOK(t, l.RecordDelivery(ctx, "empty", []mapping.Line{}))
	ledgerOK(t, l.RecordDelivery(ctx, "nil", nil))
	if e, found, err := l.Entry(ctx, "empty"); !found || err != nil || len(e.Lines) != 0 {
		t.Errorf("no lines: %+v found %v err %v", e, found, err)
	}
	if _, found, err := l.Entry(ctx, "nil"); found || err != nil {
		t.Errorf("nil lines: found %v err %v", found, err)
	}
}

func everyLedgerOp(l *redisstore.Ledger) map[string]func(ctx context.Context) error {
	c := store.CancelClaim{OrderID: "o", CancelID: "r", Status: store.Claimed, Token: "t"}
	return map[string]func(ctx context.Context) error{
		"RecordDelivery": func(ctx context.Context) error { return l.RecordDelivery(ctx, "o", ledgerLines) },
		"Entry":          func(ctx context.Context) error { _, _, err := l.Entry(ctx, "o"); return err },
		"ClaimCancel":    func(ctx context.Context) error { _, err := l.ClaimCancel(ctx, "o", "r", time.Minute); return err },
		"ConfirmCancel":  func(ctx context.Context) error { return l.ConfirmCancel(ctx, c, nil) },
		"ReleaseCancel":  func(ctx context.Context) error { return l.ReleaseCancel(ctx, c) },
	}
}

func TestLedgerServerDownIsStoreUnavailable(t *testing.T) {
	srv := statetest.StartRedis(t)
	o := srv.Options()
	o.MaxRetries, o.DialerRetries = -1, 1 // fail fast
	c := goredis.NewClient(o)
	defer c.Close()
	l := redisstore.NewLedger(c, opts())
	redisstore.SetLogger(slog.New(slog.DiscardHandler))
	defer redisstore.SetLogger(nil)
	srv.Stop()
	defer func() { // end the outage, for the next test's log
		srv.Restart()
		if err := l.Ping(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	for name, op := range everyLedgerOp(l) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := op(ctx)
		var su *failure.StoreUnavailable
		switch {
		case err == nil || ctx.Err() != nil:
			t.Errorf("%s with the server down: %v (context: %v), want a prompt error", name, err, ctx.Err())
		case !errors.As(err, &su) || su.Store != "redis ledger":
			t.Errorf("%s: %v, want a *failure.StoreUnavailable naming the redis ledger", name, err)
		}
		cancel()
	}
}

func TestLedgerCanceledCallIsNotStoreUnavailable(t *testing.T) {
	l := redisstore.NewLedger(statetest.StartRedis(t).Client(t), opts())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, op := range everyLedgerOp(l) {
		if err := op(ctx); failure.KindOf(err) != failure.KindCanceled {
			t.Errorf("%s with a canceled context: %v is %s, want canceled", name, err, failure.KindOf(err))
		}
	}
}
