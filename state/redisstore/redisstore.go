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
// Every error means the store is unavailable (the server is down or slow);
// the caller retries. Messages name keys by prefix, never an id's traits.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
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
// an outage within seconds. It does not connect: Ping does.
func Dial(rawURL string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		// ParseURL's errors may quote the URL, which may hold a password.
		return nil, errors.New("the redis URL does not parse: use redis://[:password@]host:port/db")
	}
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
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}
