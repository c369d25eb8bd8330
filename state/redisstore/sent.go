package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/refersion-relay/refersion-relay/store"
)

// Sent is a store.Sent in Redis, shared by every replica. For a prefix
// P, the key "P s:order_id" holds "c:" and the claim's token while claimed,
// expiring with the lease, and "s" once confirmed, expiring after SentTTL.
// Safe for concurrent use.
type Sent struct {
	c    goredis.UniversalClient
	opts Options
}

// NewSent returns the sent-order store on c. It does not own c.
func NewSent(c goredis.UniversalClient, opts Options) *Sent {
	install()
	return &Sent{c: c, opts: opts.withDefaults()}
}

const sentValue = "s"

// claimScript takes a free order_id: 1 claimed, 2 already sent, 3 held.
var claimScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end
if v == 's' then return 2 end
return 3`)

// releaseScript deletes the claim only if it is still the caller's.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// renewScript extends the caller's claim, or takes the order_id again if
// its lease expired with nobody taking it: 1 held, 0 lost.
var renewScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end
return 0`)

func (s *Sent) key(orderID string) string { return s.opts.Prefix + "s:" + orderID }

// Claim implements store.Sent.
func (s *Sent) Claim(ctx context.Context, orderID string, lease time.Duration) (store.Claim, error) {
	if lease <= 0 {
		return store.Claim{}, errors.New("redis sent store: lease must be positive")
	}
	token := rand.Text()
	n, err := claimScript.Run(ctx, s.c, []string{s.key(orderID)}, "c:"+token, ms(lease)).Int()
	if err != nil {
		// The server may have taken the claim before the connection failed;
		// nobody would release it, and the order would wait out the lease.
		// Release it once the server answers again.
		go s.releaseLost(s.key(orderID), "c:"+token, time.Now().Add(lease))
		return store.Claim{}, outcome(ctx, sentStore, "claim", err)
	}
	logs.ok(ctx)
	switch n {
	case 1:
		return store.Claim{OrderID: orderID, Status: store.Claimed, Token: token}, nil
	case 2:
		return store.Claim{OrderID: orderID, Status: store.AlreadySent}, nil
	default:
		return store.Claim{OrderID: orderID, Status: store.HeldElsewhere}, nil
	}
}

// Confirm implements store.Sent: the order_id is sent whoever holds it.
func (s *Sent) Confirm(ctx context.Context, c store.Claim) error {
	return outcome(ctx, sentStore, "confirm", s.c.Set(ctx, s.key(c.OrderID), sentValue, s.opts.SentTTL).Err())
}

// Release implements store.Sent.
func (s *Sent) Release(ctx context.Context, c store.Claim) error {
	return outcome(ctx, sentStore, "release", releaseScript.Run(ctx, s.c, []string{s.key(c.OrderID)}, "c:"+c.Token).Err())
}

// Renew implements store.Sent.
func (s *Sent) Renew(ctx context.Context, c store.Claim, lease time.Duration) error {
	if lease <= 0 {
		return errors.New("redis sent store: lease must be positive")
	}
	n, err := renewScript.Run(ctx, s.c, []string{s.key(c.OrderID)}, "c:"+c.Token, ms(lease)).Int()
	if err != nil {
		return outcome(ctx, sentStore, "renew", err)
	}
	logs.ok(ctx)
	if n != 1 {
		return store.ErrClaimLost
	}
	return nil
}

// Ping reports whether the server answers.
func (s *Sent) Ping(ctx context.Context) error { return ping(ctx, s.c) }

// releaseLost releases a claim whose outcome the caller never learned,
// retrying until the server answers or the lease would have ended anyway.
func (s *Sent) releaseLost(key, value string, until time.Time) {
	wait := 100 * time.Millisecond
	for time.Now().Add(wait).Before(until) {
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := releaseScript.Run(ctx, s.c, []string{key}, value).Err()
		if errors.Is(err, goredis.ErrClosed) { // the process is ending: nobody else will take the claim from it
			cancel()
			return
		}
		err = outcome(ctx, sentStore, "release of a claim whose outcome was lost", err)
		cancel()
		if err == nil {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}
