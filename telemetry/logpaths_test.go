package telemetry_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/internal/syncbuf"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

func TestRecoveredPanicLeaksNothing(t *testing.T) {
	for _, level := range []string{"debug", "error"} {
		var buf syncbuf.Buffer
		log := telemetry.NewLogger(&buf, level, "json", false, publicKey, secretKey)

		// A panic recovered by the relay's own code.
		func() {
			defer func() {
				if r := recover(); r != nil {
					log.Error("recovered panic", "panic", r, "stack", string(debug.Stack()))
				}
			}()
			panic(fmt.Errorf("order for %s with keys %v (%s)", email, sink.NewKeys(publicKey, secretKey), secretKey))
		}()

		// A panic recovered by net/http, reported through the logger.
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic("handler saw " + email + " and " + publicKey + "." + secretKey)
		}))
		srv.Config.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelError)
		srv.Start()
		if resp, err := http.Get(srv.URL); err == nil {
			resp.Body.Close()
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(buf.String(), "panic serving") && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		srv.Close()

		out := buf.String()
		if strings.Count(out, "[email]") < 2 || !strings.Contains(out, "panic serving") {
			t.Fatalf("LOG_LEVEL=%s: want both panics logged with the email masked:\n%s", level, out)
		}
		if l := leaks(out, false); len(l) > 0 {
			t.Errorf("LOG_LEVEL=%s: panic logs carry %q:\n%s", level, l, out)
		}
	}
}

func TestSinkErrorPathsLeakNothing(t *testing.T) {
	const wrongPublic, wrongSecret = "pub_wrong_0001", "sec_wrong_0002"
	sb := sandbox.New(sandbox.Options{Keys: publicKey + "." + secretKey, FailRate: 0.5, Seed: 7})
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	var buf syncbuf.Buffer
	log := telemetry.NewLogger(&buf, "debug", "text", false, publicKey, secretKey, wrongPublic, wrongSecret)

	send := func(keys sink.Keys, o func(string) mapping.Order) {
		s, err := sink.New(sink.Config{
			Endpoint: sb.Endpoint(), Keys: keys, RequestTimeout: 5 * time.Second,
			Retry:   sink.RetryConfig{MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: 2 * time.Millisecond},
			Breaker: sink.BreakerConfig{Failures: 2, OpenTimeout: 5 * time.Millisecond},
		}, memory.NewSent(memory.Options{}), sink.WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := range 20 {
			order := o(fmt.Sprint("leak-", i))
			order.Customer.Email = email
			if err := s.Send(context.Background(), order); err != nil {
				log.Error("order not delivered", "error", err, "order", order, "keys", keys)
			}
			time.Sleep(time.Millisecond)
		}
	}
	send(sink.NewKeys(publicKey, secretKey), sinktest.Order)     // retries, breaker changes
	send(sink.NewKeys(publicKey, secretKey), sinktest.Malformed) // 422 rejections
	send(sink.NewKeys(wrongPublic, wrongSecret), sinktest.Order) // 401

	out := buf.String()
	for _, want := range []string{"retrying order", "circuit breaker", "unauthorized", "permanent"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the log: the error paths were not exercised:\n%s", want, out)
		}
	}
	for _, s := range append(leaks(out, false), leaksOf(out, wrongPublic, wrongSecret)...) {
		t.Errorf("the log carries %q:\n%s", s, out)
	}
}

// leaksOf returns which of secrets appear in out.
func leaksOf(out string, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		if strings.Contains(out, s) {
			found = append(found, s)
		}
	}
	return found
}
