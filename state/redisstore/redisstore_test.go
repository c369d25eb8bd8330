package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/internal/syncbuf"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/redisstore"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

// prefixes gives each store of a test its own key space on one server.
var prefixes atomic.Int64

func opts() redisstore.Options {
	return redisstore.Options{Prefix: fmt.Sprintf("t%d:", prefixes.Add(1))}
}

func TestIdentitiesConform(t *testing.T) {
	srv := statetest.StartRedis(t)
	storetest.TestIdentities(t, func(t *testing.T) store.Identities {
		return redisstore.NewIdentities(srv.Client(t), opts())
	})
}

func TestIdentitiesExpire(t *testing.T) {
	srv := statetest.StartRedis(t)
	storetest.TestIdentityExpiry(t, 300*time.Millisecond, func(t *testing.T, ttl time.Duration) (store.Identities, storetest.Advance) {
		o := opts()
		o.IdentityTTL = ttl
		return redisstore.NewIdentities(srv.Client(t), o), nil
	})
}

func TestSentConforms(t *testing.T) {
	srv := statetest.StartRedis(t)
	storetest.TestSent(t, func(t *testing.T) store.Sent { return redisstore.NewSent(srv.Client(t), opts()) })
}

func TestSentExpires(t *testing.T) {
	srv := statetest.StartRedis(t)
	storetest.TestSentExpiry(t, 300*time.Millisecond, func(t *testing.T, ttl time.Duration) (store.Sent, storetest.Advance) {
		o := opts()
		o.SentTTL = ttl
		return redisstore.NewSent(srv.Client(t), o), nil
	})
}

// Each replica has its own client (its own connections), as separate
// processes would.
func TestSentTwoReplicasSendOnce(t *testing.T) {
	srv := statetest.StartRedis(t)
	storetest.TestSentReplicas(t, func(t *testing.T) []store.Sent {
		o := opts()
		return []store.Sent{redisstore.NewSent(srv.Client(t), o), redisstore.NewSent(srv.Client(t), o)}
	})
}

func TestWritesRenewTheTTL(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	c := srv.Client(t)
	o := opts()
	o.IdentityTTL = time.Hour
	s := redisstore.NewIdentities(c, o)
	if err := s.Merge(ctx, "u", mapping.Traits{Email: "u@example.com"}); err != nil {
		t.Fatal(err)
	}
	keys := []string{o.Prefix + "t:u", o.Prefix + "l:a", o.Prefix + "b:u"}
	for _, k := range keys {
		c.PExpire(ctx, k, time.Second)
	}
	if err := s.Merge(ctx, "a", mapping.Traits{FirstName: "Ann"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Link(ctx, "a", "u"); err != nil { // fills u: renews t:u
		t.Fatal(err)
	}
	for _, k := range keys {
		if ttl := c.PTTL(ctx, k).Val(); ttl < 59*time.Minute {
			t.Errorf("%s TTL %v after a write, want about an hour", k, ttl)
		}
	}
}

func TestForgetLeavesNoTraceInRedis(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	c := srv.Client(t)
	s := redisstore.NewIdentities(c, redisstore.Options{})
	p := storetest.WritePerson(t, s, "p")
	other := storetest.WritePerson(t, s, "q")
	if err := s.Forget(ctx, p.EarlierID); err != nil {
		t.Fatal(err)
	}
	dump := everything(t, c)
	for _, str := range p.Strings() {
		if strings.Contains(dump, str) {
			t.Errorf("redis still holds %q", str)
		}
	}
	if !strings.Contains(dump, other.Traits.Email) {
		t.Error("the other person was erased too")
	}
}

// everything returns every key of the server and its value, as text.
func everything(t *testing.T, c *goredis.Client) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	iter := c.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		b.WriteString(k + "\n")
		switch c.Type(ctx, k).Val() {
		case "string":
			b.WriteString(c.Get(ctx, k).Val())
		case "hash":
			fmt.Fprint(&b, c.HGetAll(ctx, k).Val())
		case "set":
			fmt.Fprint(&b, c.SMembers(ctx, k).Val())
		default:
			t.Fatalf("unexpected key type of %s", k)
		}
		b.WriteString("\n")
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// every method of both stores, each as one call.
func every(ids *redisstore.Identities, sent *redisstore.Sent) map[string]func(ctx context.Context) error {
	claim := store.Claim{OrderID: "o-1", Status: store.Claimed, Token: "t"}
	return map[string]func(ctx context.Context) error{
		"Lookup":  func(ctx context.Context) error { _, _, err := ids.Lookup(ctx, "u"); return err },
		"Merge":   func(ctx context.Context) error { return ids.Merge(ctx, "u", mapping.Traits{Email: "u@example.com"}) },
		"Link":    func(ctx context.Context) error { return ids.Link(ctx, "a", "u") },
		"Forget":  func(ctx context.Context) error { return ids.Forget(ctx, "u") },
		"Claim":   func(ctx context.Context) error { _, err := sent.Claim(ctx, "o-1", time.Minute); return err },
		"Confirm": func(ctx context.Context) error { return sent.Confirm(ctx, claim) },
		"Release": func(ctx context.Context) error { return sent.Release(ctx, claim) },
		"Ping":    ids.Ping,
	}
}

// With the server down every method fails promptly with a
// *failure.StoreUnavailable naming the redis store; go-redis writes nothing
// on stderr, and the log tells the outage once, then its end once.
func TestServerDownIsStoreUnavailable(t *testing.T) {
	srv := statetest.StartRedis(t)
	o := srv.Options()
	o.MaxRetries, o.DialerRetries = -1, 1 // fail fast: the test needs no patience
	c := goredis.NewClient(o)
	defer c.Close()
	ids, sent := redisstore.NewIdentities(c, opts()), redisstore.NewSent(c, opts())
	var logs syncbuf.Buffer
	redisstore.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	defer redisstore.SetLogger(nil)
	if err := ids.Ping(context.Background()); err != nil { // ends an outage an earlier test left
		t.Fatal(err)
	}
	logs.Take()

	stderr := statetest.CaptureStderr(t)
	srv.Stop()
	ops := every(ids, sent)
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := op(ctx)
		var su *failure.StoreUnavailable
		switch {
		case err == nil || ctx.Err() != nil:
			t.Errorf("%s with the server down: %v (context: %v), want a prompt error", name, err, ctx.Err())
		case failure.KindOf(err) != failure.KindStoreUnavailable || !errors.As(err, &su):
			t.Errorf("%s: %v is %s, want store_unavailable", name, err, failure.KindOf(err))
		case !strings.HasPrefix(su.Store, "redis ") || !strings.HasPrefix(err.Error(), su.Store+" unavailable: "):
			t.Errorf("%s: the error does not name the redis store: %q (store %q)", name, err, su.Store)
		}
		cancel()
	}
	down := logs.Take()
	srv.Restart()
	if err := ids.Merge(context.Background(), "u", mapping.Traits{FirstName: "Ann"}); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	up := logs.Take()
	t.Logf("logged while down:\n%slogged after the restart:\n%s", down, up)
	if out := stderr(); out != "" {
		t.Errorf("written to stderr during the outage:\n%s", out)
	}

	// go-redis's pool logs each failed dial; its line, not stderr, tells the outage.
	if n := strings.Count(down, "\n"); n != 1 || !strings.Contains(down, "level=WARN") ||
		!strings.Contains(down, `source="redis client"`) || !strings.Contains(down, "failed to dial") {
		t.Errorf("want one warn line from the redis client while down, got:\n%s", down)
	}
	if n := strings.Count(up, "\n"); n != 1 || !strings.Contains(up, "level=INFO") || !strings.Contains(up, "answers again") ||
		strings.Contains(up, "errors_not_logged=0") {
		t.Errorf("want one info line counting the errors not logged, got:\n%s", up)
	}
}

// A call cut short by the caller's own context is no outage.
func TestCanceledCallIsNotStoreUnavailable(t *testing.T) {
	srv := statetest.StartRedis(t)
	ids, sent := redisstore.NewIdentities(srv.Client(t), opts()), redisstore.NewSent(srv.Client(t), opts())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, op := range every(ids, sent) {
		if err := op(ctx); failure.KindOf(err) != failure.KindCanceled {
			t.Errorf("%s with a canceled context: %v is %s, want canceled", name, err, failure.KindOf(err))
		}
	}
}

func BenchmarkIdentities(b *testing.B) {
	srv := statetest.StartRedis(b)
	statetest.BenchmarkIdentities(b, func(b *testing.B) store.Identities {
		return redisstore.NewIdentities(srv.Client(b), opts())
	})
}

func BenchmarkSent(b *testing.B) {
	srv := statetest.StartRedis(b)
	statetest.BenchmarkSent(b, func(b *testing.B) store.Sent { return redisstore.NewSent(srv.Client(b), opts()) })
}
