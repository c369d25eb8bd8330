package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
	"github.com/refersion-relay/refersion-relay/state/redisstore"
	"github.com/refersion-relay/refersion-relay/state/statetest"
)

// prefixes gives each store of a test its own key space on one server.
var prefixes atomic.Int64

func opts() redisstore.Options {
	return redisstore.Options{Prefix: fmt.Sprintf("t%d:", prefixes.Add(1))}
}

func TestIdentitiesConform(t *testing.T) {
	srv := statetest.StartRedis(t)
	statetest.TestIdentities(t, func(t *testing.T) mapping.IdentityStore {
		return redisstore.NewIdentities(srv.Client(t), opts())
	})
}

func TestIdentitiesExpire(t *testing.T) {
	srv := statetest.StartRedis(t)
	statetest.TestIdentityExpiry(t, 300*time.Millisecond, func(t *testing.T, ttl time.Duration) (mapping.IdentityStore, statetest.Advance) {
		o := opts()
		o.IdentityTTL = ttl
		return redisstore.NewIdentities(srv.Client(t), o), nil
	})
}

func TestSentConforms(t *testing.T) {
	srv := statetest.StartRedis(t)
	sinktest.TestSentStore(t, func(t *testing.T) sink.SentStore { return redisstore.NewSent(srv.Client(t), opts()) })
}

func TestSentExpires(t *testing.T) {
	srv := statetest.StartRedis(t)
	statetest.TestSentExpiry(t, 300*time.Millisecond, func(t *testing.T, ttl time.Duration) (sink.SentStore, statetest.Advance) {
		o := opts()
		o.SentTTL = ttl
		return redisstore.NewSent(srv.Client(t), o), nil
	})
}

// Each replica has its own client (its own connections), as separate
// processes would.
func TestSentTwoReplicasSendOnce(t *testing.T) {
	srv := statetest.StartRedis(t)
	statetest.TestSentReplicas(t, func(t *testing.T) []sink.SentStore {
		o := opts()
		return []sink.SentStore{redisstore.NewSent(srv.Client(t), o), redisstore.NewSent(srv.Client(t), o)}
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
	p := statetest.WritePerson(t, s, "p")
	other := statetest.WritePerson(t, s, "q")
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

func TestServerDownIsAnError(t *testing.T) {
	srv := statetest.StartRedis(t)
	o := srv.Options()
	o.MaxRetries, o.DialerRetries = -1, 1 // fail fast: the test needs no patience
	c := goredis.NewClient(o)
	defer c.Close()
	ids, sent := redisstore.NewIdentities(c, opts()), redisstore.NewSent(c, opts())
	srv.Stop()
	for name, op := range map[string]func(ctx context.Context) error{
		"Lookup": func(ctx context.Context) error { _, _, err := ids.Lookup(ctx, "u"); return err },
		"Merge":  func(ctx context.Context) error { return ids.Merge(ctx, "u", mapping.Traits{Email: "u@example.com"}) },
		"Forget": func(ctx context.Context) error { return ids.Forget(ctx, "u") },
		"Claim":  func(ctx context.Context) error { _, err := sent.Claim(ctx, "o-1", time.Minute); return err },
		"Ping":   ids.Ping,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := op(ctx); err == nil || ctx.Err() != nil {
			t.Errorf("%s with the server down: %v (context: %v), want a prompt error", name, err, ctx.Err())
		}
		cancel()
	}
}

func BenchmarkIdentities(b *testing.B) {
	srv := statetest.StartRedis(b)
	statetest.BenchmarkIdentities(b, func(b *testing.B) mapping.IdentityStore {
		return redisstore.NewIdentities(srv.Client(b), opts())
	})
}

func BenchmarkSent(b *testing.B) {
	srv := statetest.StartRedis(b)
	statetest.BenchmarkSent(b, func(b *testing.B) sink.SentStore { return redisstore.NewSent(srv.Client(b), opts()) })
}
