package sink_test

import (
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func TestNewConformance(t *testing.T) {
	sinktest.TestSink(t, func(t *testing.T, endpoint string, keys sink.Keys) sink.Sink {
		cfg := fastConfig(endpoint)
		cfg.Keys = keys
		cfg.Breaker.Failures = 3
		return newSink(t, cfg)
	})
}

func TestNewBuildsTheLayersInTheDocumentedOrder(t *testing.T) {
	cfg := fastConfig("http://127.0.0.1:1/tracker/orders/paid")
	if got := strings.Join(sink.Layers(newSink(t, cfg)), " > "); got != "idempotent > retry > breaker > http" {
		t.Fatalf("layers %s", got)
	}
	cfg.RateLimit.PerSecond = 10
	if got := strings.Join(sink.Layers(newSink(t, cfg)), " > "); got != "idempotent > ratelimit > retry > breaker > http" {
		t.Fatalf("layers with a rate limit %s", got)
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	err := sink.Config{
		Endpoint:       "ftp://example.com",
		RequestTimeout: -time.Second,
		Retry:          sink.RetryConfig{MaxAttempts: -1, Multiplier: 0.5, InitialInterval: time.Minute, MaxInterval: time.Second},
		RateLimit:      sink.RateLimitConfig{PerSecond: -1},
	}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, field := range []string{"Endpoint", "Keys", "RequestTimeout", "Retry.MaxAttempts", "Retry.Multiplier", "Retry.MaxInterval", "RateLimit"} {
		if !strings.Contains(err.Error(), field+":") {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
	if _, err := sink.New(sink.Config{}, memory.NewSent(memory.Options{})); err == nil {
		t.Fatal("New accepted a config without keys")
	}
}

func TestNewRequiresAStore(t *testing.T) {
	_, err := sink.New(fastConfig("http://127.0.0.1:1/tracker/orders/paid"), nil)
	if err == nil || !strings.Contains(err.Error(), "store.Sent") {
		t.Fatalf("New without a store: %v, want an error naming store.Sent", err)
	}
}

func TestZeroConfigTakesTheDefaults(t *testing.T) {
	if err := (sink.Config{Keys: sink.NewKeys("p", "s")}).Validate(); err != nil {
		t.Fatalf("defaults are invalid: %v", err)
	}
}
