package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/internal/syncbuf"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

func TestOutageShowsInAttemptsAndBreakerState(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	observe, err := tel.AttemptObserver(down.URL)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := sink.ParseKeys("pub.sec")
	s, err := sink.New(sink.Config{Endpoint: down.URL, Keys: keys,
		Retry:   sink.RetryConfig{MaxAttempts: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		Breaker: sink.BreakerConfig{Failures: 3, OpenTimeout: time.Hour},
	}, memory.NewSent(memory.Options{}), sink.WithAttemptObserver(observe))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Three orders failing in a row open the breaker (one order failing
	// again and again would not: see sink's breaker).
	for _, id := range []string{"down-1", "down-2", "down-3"} {
		if err := s.Send(context.Background(), sinktest.Order(id)); err == nil {
			t.Fatal("delivered to a server that is down")
		}
	}
	if err := tel.Observe(telemetry.Sources{Stats: func() pipeline.Snapshot { return pipeline.Snapshot{} }, Breaker: s.BreakerState}); err != nil {
		t.Fatal(err)
	}
	f := scrape(t, serveMetrics(t, tel.MetricsHandler()))
	type L = map[string]string
	for _, c := range []struct {
		name   string
		labels L
		want   float64
	}{
		{"refersion_relay_delivery_attempts_total", L{"refersion_outcome": "retryable", "http_response_status_code": "503"}, 3},
		{"http_client_request_duration_seconds", L{"error_type": "503"}, 3},
		{"refersion_relay_breaker_state", L{"refersion_breaker_state": "open"}, 1},
		{"refersion_relay_breaker_state", L{"refersion_breaker_state": "closed"}, 0},
	} {
		if got, ok := f.sum(c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

func TestLagUnavailableReportsNoSeriesAndLogsOnce(t *testing.T) {
	var logs syncbuf.Buffer
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{Logger: telemetry.NewLogger(&logs, "info", "json", false)})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	nobody := &kafka.Client{Addr: kafka.TCP("127.0.0.1:1"), Timeout: time.Second}
	err = tel.Observe(telemetry.Sources{Stats: func() pipeline.Snapshot { return pipeline.Snapshot{} },
		Kafka: nobody, Topic: "events", Group: "g", LagEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	url := serveMetrics(t, tel.MetricsHandler())
	for range 3 {
		f := scrape(t, url)
		if s := f.series("refersion_relay_consumer_lag"); len(s) != 0 {
			t.Errorf("lag series %v reported while the brokers cannot be reached", s)
		}
		if _, ok := f.sum("messaging_client_consumed_messages_total", nil); !ok {
			t.Error("the other instruments went missing with the lag probe failing")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "consumer lag unavailable"); n != 1 {
		t.Errorf("%d log lines about the lag probe, want 1 (one per state change):\n%s", n, logs.String())
	}
}
