//go:build !nodev

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

const sandboxSynopsis = `sandbox [--addr HOST:PORT] [--keys PUB.SEC]... [fault flags]

Serves POST /tracker/orders/paid as Refersion does, with faults on demand.
Each --keys is one Refersion account; orders and cancels are kept per account.
What arrived: GET /_sandbox/orders (the accepted payloads, each with the
public_key that sent it), GET /_sandbox/cancels, GET /_sandbox/stats (counts),
-v (a line per request on stderr).`

// sandboxOptionFlags are the flags that set sandbox.Options' fields, by
// field name, without their dashes.
var sandboxOptionFlags = map[string]string{
	"Keys": "keys", "KeyPairs": "keys", "Seed": "seed", "Latency": "latency", "FailRate": "fail-rate", "ThrottleRate": "throttle-rate",
	"ResetRate": "reset-rate", "RetryAfter": "retry-after", "DownAfter": "down-after", "DownFor": "down-for",
	"RejectAll": "reject-all", "MaxOrders": "max-orders",
}

// sandboxFlagNamer names sandbox.Options' fields as the flags of fs that set
// them (for sandbox.Options.ValidateAs): "FailRate" is "--fail-rate". A field
// fs has no flag for keeps its name.
func sandboxFlagNamer(fs *flag.FlagSet) func(field string) string {
	return func(field string) string {
		if name, ok := sandboxOptionFlags[field]; ok && fs.Lookup(name) != nil {
			return "--" + name
		}
		return ""
	}
}

// cmdSandbox runs a local stand-in for Refersion's paid-order webhook until
// ctx is done. Its first line on stdout is "sandbox listening on URL", so
// that scripts can start it on port 0 and read the address back.
func cmdSandbox(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("sandbox", sandboxSynopsis, stdout)
	var o sandbox.Options
	var downMode string
	var verbose bool
	keys := keyPairsFlag{pairs: []string{sandbox.DefaultKeys}}
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:8089", "listen address HOST:PORT; port 0 picks a free port")
	fs.Var(&keys, "keys", "accepted credentials as `PUBLIC.SECRET`; repeat it for several Refersion accounts, one pair each")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the fault generator; the same seed gives the same faults")
	fs.DurationVar(&o.Latency, "latency", 0, "delay added before every answer, e.g. 50ms")
	fs.Float64Var(&o.FailRate, "fail-rate", 0, "share of orders answered 503, 0 to 1")
	fs.Float64Var(&o.ThrottleRate, "throttle-rate", 0, "share of orders answered 429 with Retry-After, 0 to 1")
	fs.Float64Var(&o.ResetRate, "reset-rate", 0, "share of orders whose connection drops mid-response, 0 to 1")
	fs.DurationVar(&o.RetryAfter, "retry-after", time.Second, "Retry-After of a 429, in whole seconds")
	fs.BoolVar(&o.RetryAfterDate, "retry-after-date", false, "send Retry-After as an HTTP-date instead of seconds")
	fs.DurationVar(&o.DownAfter, "down-after", 0, "start of the one outage, counted from start-up (needs --down-for)")
	fs.DurationVar(&o.DownFor, "down-for", 0, "length of the outage; alone, the outage starts at once")
	fs.StringVar(&downMode, "down-mode", "503", "what an outage looks like: 503 or refuse (connection refused)")
	fs.BoolVar(&o.RejectAll, "reject-all", false, "answer 422 to every order with valid keys")
	fs.IntVar(&o.MaxOrders, "max-orders", sandbox.DefaultMaxOrders, "accepted payloads kept for GET /_sandbox/orders")
	fs.BoolVar(&verbose, "v", false, "log every paid-order request to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// One pair is Keys, as always; several are KeyPairs, so that a problem
	// names the --keys it comes from ("--keys #2").
	if len(keys.pairs) == 1 {
		o.Keys = keys.pairs[0]
	} else {
		o.KeyPairs = keys.pairs
	}
	switch downMode {
	case "503":
	case "refuse":
		o.DownRefuse = true
	default:
		return fmt.Errorf("%w: --down-mode: want 503 or refuse, got %q", errUsage, downMode)
	}
	if err := o.ValidateAs(sandboxFlagNamer(fs)); err != nil {
		return flagProblems(fs, sandboxSynopsis, err)
	}
	if verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}

	s := sandbox.New(o)
	if err := s.Start(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "sandbox listening on %s\n", s.URL()); err != nil {
		_ = s.Close()
		return err
	}
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(shutdownCtx); err != nil {
		_ = s.Close()
		return fmt.Errorf("shutting down: %w", err)
	}
	st := s.Stats()
	fmt.Fprintf(stderr, "sandbox: %d accepted (%d duplicates), %d rejected, %d unauthorized, %d failed, %d throttled, %d reset\n",
		st.Accepted, st.Duplicates, st.Rejected, st.Unauthorized, st.Failed, st.Throttled, st.Resets)
	if len(keys.pairs) > 1 {
		var by []string
		for _, kp := range keys.pairs {
			public, _, _ := strings.Cut(kp, ".")
			by = append(by, fmt.Sprintf("%s %d accepted, %d cancels", public, st.OrdersByKey[public], st.CancelsByKey[public]))
		}
		fmt.Fprintf(stderr, "sandbox: by public key: %s\n", strings.Join(by, "; "))
	}
	return nil
}

// keyPairsFlag is --keys: the first use replaces the default pairs, each
// further use adds a pair.
type keyPairsFlag struct {
	pairs []string
	given bool // set once --keys was used
}

// String lists the pairs; the flag package shows it as the default.
func (k *keyPairsFlag) String() string {
	if k == nil {
		return ""
	}
	return strings.Join(k.pairs, ",")
}

// Set adds a pair, or replaces the default with the first one given.
func (k *keyPairsFlag) Set(v string) error {
	if !k.given {
		k.pairs, k.given = nil, true
	}
	k.pairs = append(k.pairs, v)
	return nil
}
