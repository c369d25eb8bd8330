package redisstore_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/refersion-relay/refersion-relay/state/redisstore"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
)

// An order_id confirmed by a version that kept no content ("P s:id" = "s",
// no content key) is already sent, its content unknown; so is one whose
// content key does not read.
func TestSentWithoutContentReadsAsUnknown(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	c := srv.Client(t)
	o := opts()
	for _, kv := range [][2]string{{"s:o-old", "s"}, {"s:o-garbled", "s"}, {"sc:o-garbled", "no length here"},
		{"s:o-too-long", "s"}, {"sc:o-too-long", "99:v1:ab"}} {
		if err := c.Set(ctx, o.Prefix+kv[0], kv[1], time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s := redisstore.NewSent(c, o)
	for _, id := range []string{"o-old", "o-garbled", "o-too-long"} {
		got, err := s.Claim(ctx, id, time.Minute)
		if err != nil || got.Status != store.AlreadySent || got.Fingerprint != "" || got.Summary != "" {
			t.Errorf("Claim(%s) = %+v, %v; want already sent, content unknown", id, got, err)
		}
	}
}

// earlierClaim is the claim script of the versions that kept no content.
var earlierClaim = goredis.NewScript(`
if ARGV[3] ~= '' and redis.call('HGET', KEYS[2], 'id') ~= ARGV[3] then return 4 end
local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end
if v == 's' then return 2 end
return 3`)

// In a rolling upgrade, replicas of an earlier version share the server:
// they still read an order_id this version confirmed, with its content, as
// already sent (not as held by another sender, which they would wait on
// forever). The content lives and expires with the order_id.
func TestSentWithContentIsAlreadySentForEarlierVersions(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	c := srv.Client(t)
	o := opts()
	o.SentTTL = time.Hour
	s := redisstore.NewSent(c, o)
	claim, err := s.Claim(ctx, "o-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	claim.Fingerprint, claim.Summary = "v1:00112233445566778899aabbccddeeff", "total 104.50 USD, 3 items"
	if err := s.Confirm(ctx, claim); err != nil {
		t.Fatal(err)
	}
	n, err := earlierClaim.Run(ctx, c, []string{o.Prefix + "s:o-1", o.Prefix + "store"}, "c:token", 60000, "").Int()
	if err != nil || n != 2 {
		t.Fatalf("an earlier version's claim answers %d, %v; want 2 (already sent)", n, err)
	}
	for _, k := range []string{o.Prefix + "s:o-1", o.Prefix + "sc:o-1"} {
		if ttl := c.PTTL(ctx, k).Val(); ttl < 59*time.Minute || ttl > time.Hour {
			t.Errorf("%s TTL %v, want the sent TTL (an hour)", k, ttl)
		}
	}
	got, err := s.Claim(ctx, "o-1", time.Minute)
	if err != nil || got.Fingerprint != claim.Fingerprint || got.Summary != claim.Summary {
		t.Fatalf("Claim = %+v, %v; want the content recorded", got, err)
	}
}
