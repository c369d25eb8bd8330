package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// DefaultKeys are the credentials a sandbox accepts when neither
// Options.Keys nor Options.KeyPairs gives any.
const DefaultKeys = "sandbox-public.sandbox-secret"

// DefaultMaxOrders is how many accepted payloads Orders keeps by default.
const DefaultMaxOrders = 100_000

// Options configures a Server. The zero value is a well-behaved Refersion on
// a free loopback port with DefaultKeys and no faults.
//
// Faults are drawn per paid-order request from one generator seeded by Seed,
// so a given sequence of requests meets the same faults on every run. At most
// one fault applies to a request: a reset with ResetRate, else a 503 with
// FailRate, else a 429 with ThrottleRate (the rates must sum to at most 1).
type Options struct {
	Addr string // listen address; "" means 127.0.0.1:0 (a free port)
	Keys string // accepted credentials as PUBLIC.SECRET; "" means DefaultKeys (unless KeyPairs are given)
	// KeyPairs are further accepted credentials, each PUBLIC.SECRET, one per
	// Refersion account. Every pair is an account of its own: the sandbox
	// records which public key sent each order and cancel, and an order
	// accepted under one key cannot be cancelled with another. With KeyPairs
	// and an empty Keys, DefaultKeys are not accepted. No two pairs, Keys
	// included, may share a public key.
	KeyPairs []string

	Seed         uint64        // seed of the fault generator
	Latency      time.Duration // added before every paid-order answer
	FailRate     float64       // share of requests answered 503
	ThrottleRate float64       // share of requests answered 429 with Retry-After
	ResetRate    float64       // share of requests whose connection drops mid-response
	RetryAfter   time.Duration // Retry-After of a 429, in whole seconds rounded up; 0 means 1s
	// RetryAfterDate sends Retry-After as an HTTP-date instead of seconds.
	RetryAfterDate bool
	RejectAll      bool // answer 422 to every authenticated order
	// FailOrders are order_ids answered 500 every time (a poison order:
	// Refersion fails it while accepting the others).
	FailOrders []string

	// DownAfter and DownFor make the sandbox unavailable once, from DownAfter
	// after Start for DownFor. Down means 503 to every order, or with
	// DownRefuse, a closed listener (connection refused) and dropped connections.
	DownAfter  time.Duration
	DownFor    time.Duration
	DownRefuse bool
	// DownAPI makes an outage (DownAfter, SetDown) take the REST API down
	// too; without it the API stays up (SetAPIDown takes it down alone).
	DownAPI bool

	MaxOrders int          // accepted payloads kept for Orders; 0 means DefaultMaxOrders
	Logger    *slog.Logger // one line per paid-order request; nil logs nothing
}

// Validate reports every invalid option at once, each problem naming the
// option by its field name ("FailRate 2: not between 0 and 1").
func (o Options) Validate() error { return o.ValidateAs(nil) }

// ValidateAs is Validate with the options named by name(field), for a
// caller that sets them under other names (a command's flags: name
// "FailRate" as "--fail-rate"). A nil name, or one that returns "", keeps
// the field name. A problem never quotes Keys.
func (o Options) ValidateAs(name func(field string) string) error {
	n := func(field string) string {
		if name != nil {
			if s := name(field); s != "" {
				return s
			}
		}
		return field
	}
	var errs []error
	seen := map[string]bool{}
	pair := func(name, v string) {
		public, _, err := splitKeys(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		case seen[public]:
			errs = append(errs, fmt.Errorf("%s: the public key of an earlier pair (each account has its own)", name))
		}
		seen[public] = true
	}
	if o.Keys != "" || len(o.KeyPairs) == 0 {
		pair(n("Keys"), o.keys())
	}
	for i, kp := range o.KeyPairs {
		pair(fmt.Sprintf("%s #%d", n("KeyPairs"), i+1), kp)
	}
	rates := len(errs)
	for _, r := range []struct {
		name string
		v    float64
	}{{"FailRate", o.FailRate}, {"ThrottleRate", o.ThrottleRate}, {"ResetRate", o.ResetRate}} {
		if r.v < 0 || r.v > 1 || r.v != r.v {
			errs = append(errs, fmt.Errorf("%s %v: not between 0 and 1", n(r.name), r.v))
		}
	}
	// The sum is checked once every rate is: a rate of 2 is one problem.
	if sum := o.FailRate + o.ThrottleRate + o.ResetRate; len(errs) == rates && sum > 1 {
		var terms []string // the rates that are set
		for _, r := range []struct {
			name string
			v    float64
		}{{"FailRate", o.FailRate}, {"ThrottleRate", o.ThrottleRate}, {"ResetRate", o.ResetRate}} {
			if r.v != 0 {
				terms = append(terms, n(r.name))
			}
		}
		errs = append(errs, fmt.Errorf("%s: %v is more than 1 (at most one fault applies to a request)", strings.Join(terms, " + "), sum))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Latency", o.Latency}, {"RetryAfter", o.RetryAfter}, {"DownAfter", o.DownAfter}, {"DownFor", o.DownFor}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: negative", n(d.name), d.v))
		}
	}
	if o.DownAfter > 0 && o.DownFor == 0 {
		errs = append(errs, fmt.Errorf("%s %v: set without %s", n("DownAfter"), o.DownAfter, n("DownFor")))
	}
	if o.MaxOrders < 0 {
		errs = append(errs, fmt.Errorf("%s %d: negative", n("MaxOrders"), o.MaxOrders))
	}
	return errors.Join(errs...)
}

func (o Options) keys() string {
	if o.Keys == "" {
		return DefaultKeys
	}
	return o.Keys
}

// keyPair is one accepted credential: one Refersion account.
type keyPair struct{ public, secret string }

// pairs are the accepted credentials, Keys first, then KeyPairs in order;
// malformed ones (which Validate reports) are left out.
func (o Options) pairs() []keyPair {
	var all []string
	if o.Keys != "" || len(o.KeyPairs) == 0 {
		all = append(all, o.keys())
	}
	var out []keyPair
	for _, kp := range append(all, o.KeyPairs...) {
		if public, secret, err := splitKeys(kp); err == nil {
			out = append(out, keyPair{public, secret})
		}
	}
	return out
}

func (o Options) addr() string {
	if o.Addr == "" {
		return "127.0.0.1:0"
	}
	return o.Addr
}

// retryAfterSeconds is the whole seconds a 429 asks the client to wait.
func (o Options) retryAfterSeconds() int64 {
	if o.RetryAfter <= 0 {
		return 1
	}
	return int64((o.RetryAfter + time.Second - 1) / time.Second)
}

// splitKeys splits PUBLIC.SECRET at its first dot. The error never quotes the
// value: it is a credential.
func splitKeys(s string) (public, secret string, err error) {
	public, secret, ok := strings.Cut(s, ".")
	if !ok || public == "" || secret == "" {
		return "", "", errors.New("want PUBLIC.SECRET, two non-empty parts joined by a dot")
	}
	return public, secret, nil
}
