// Package redisstore holds the state backend for fleets: an identity store
// and a sent-order store in one Redis server, shared by every replica.
// Expiry is Redis's own (PEXPIRE), so a store has no sweeper; a claim is a
// key set with NX and a lease, so two replicas racing on one order_id send it
// once, and a claim whose holder died expires with its lease.
//
// The scripts touch keys they compute (a person's linked ids), so the
// server must be a single Redis (with replicas or Sentinel), not a Redis
// Cluster. Erased data is gone from the server's memory at once; RDB or AOF
// files the operator keeps are theirs to rotate.
//
// Every error, other than the caller's own context ending, is a
// *failure.StoreUnavailable naming the store and its backend ("redis
// sent-order store", "redis identity store"; Ping's "redis state store"):
// the server is down, slow or refusing; the caller retries. Messages name
// keys by prefix, never an id's traits. go-redis's own log lines go through
// log/slog as state changes (see SetLogger), never raw to stderr.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/refersion-relay/refersion-relay/failure"
)

// The stores' names in their errors.
const (
	sentStore     = "redis sent-order store"
	identityStore = "redis identity store"
	serverStore   = "redis state store" // Ping: the server both stores share
)

// Options tune the stores. Zero fields take the defaults.
type Options struct {
	// Prefix starts every key, so that several relays (or other programs)
	// can share one server. Default "refersion-relay:".
	Prefix string
	// IdentityTTL is how long traits and links live after their last
	// write. Default 90 days.
	IdentityTTL time.Duration
	// SentTTL is how long a confirmed order_id is remembered. Default 30 days.
	SentTTL time.Duration
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = "refersion-relay:"
	}
	if o.IdentityTTL <= 0 {
		o.IdentityTTL = 90 * 24 * time.Hour
	}
	if o.SentTTL <= 0 {
		o.SentTTL = 30 * 24 * time.Hour
	}
	return o
}

// Dial returns a client of the server at rawURL (redis://, rediss:// or
// unix://, as go-redis parses them) with timeouts that let a caller notice
// an outage within seconds. It does not connect: Ping does. The URL's
// password is hidden from every line go-redis logs (see SetLogger).
func Dial(rawURL string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		// ParseURL's errors may quote the URL, which may hold a password.
		return nil, errors.New("the redis URL does not parse: use redis://[:password@]host:port/db")
	}
	addSecret(opts.Password)
	install()
	for _, d := range []*time.Duration{&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout} {
		if *d == 0 {
			*d = 2 * time.Second
		}
	}
	return goredis.NewClient(opts), nil
}

// ms is d in whole milliseconds, at least 1, as PX and PEXPIRE take it.
func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// ping checks that the server answers.
func ping(ctx context.Context, c goredis.UniversalClient) error {
	return outcome(ctx, serverStore, "ping", c.Ping(ctx).Err())
}

// outcome is the error of store's op that failed with err (nil if it did
// not): the caller's context error, wrapped, if ctx ended; otherwise a
// *failure.StoreUnavailable naming store. It also tells the state-change
// log that the server answered, or failed.
func outcome(ctx context.Context, store, op string, err error) error {
	if err == nil {
		logs.ok(ctx)
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return fmt.Errorf("%s %s: %w", store, op, err)
		}
		return fmt.Errorf("%s %s: %w (%w)", store, op, cerr, err)
	}
	u := &failure.StoreUnavailable{Store: store, Err: fmt.Errorf("%s: %w", op, err)}
	logs.failed(ctx, store, u.Error())
	return u
}
