package sink_test

import (
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

const testKeys = "pub_test.sec_test"

// startSandbox runs a sandbox accepting testKeys for the test's duration.
func startSandbox(t testing.TB, opts sandbox.Options) *sandbox.Server {
	t.Helper()
	opts.Keys = testKeys
	sb := sandbox.New(opts)
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

// fastConfig is a Config for endpoint with near-zero backoff and a breaker
// that stays closed unless a test lowers Breaker.Failures.
func fastConfig(endpoint string) sink.Config {
	keys, _ := sink.ParseKeys(testKeys)
	return sink.Config{
		Endpoint:       endpoint,
		Keys:           keys,
		RequestTimeout: 5 * time.Second,
		Retry: sink.RetryConfig{
			MaxAttempts:     5,
			InitialInterval: time.Millisecond,
			MaxInterval:     5 * time.Millisecond,
			MaxElapsed:      30 * time.Second,
		},
		Breaker: sink.BreakerConfig{Failures: 1000, OpenTimeout: 50 * time.Millisecond},
	}
}

// newSink builds the full chain for cfg on a fresh memory.Sent, closed when
// the test ends.
func newSink(t testing.TB, cfg sink.Config, opts ...sink.Option) *sink.Refersion {
	t.Helper()
	s, err := sink.New(cfg, memory.NewSent(memory.Options{}), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// newHTTP builds the bare HTTP layer for cfg.
func newHTTP(t testing.TB, cfg sink.Config) sink.Sink {
	t.Helper()
	s, err := sink.NewHTTPSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eventually polls cond until it holds, failing the test after 10s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-time.After(time.Millisecond)
	}
}
