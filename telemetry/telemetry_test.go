package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/telemetry"
)

// collector is a stand-in OTLP/HTTP receiver that records the paths posted to.
type collector struct {
	mu    sync.Mutex
	paths map[string]int
	url   string
}

func newCollector(t *testing.T) *collector {
	c := &collector{paths: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/x-protobuf" {
			c.mu.Lock()
			c.paths[r.URL.Path]++
			c.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

func (c *collector) got(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[path]
}

// clearOTLP unsets every variable that would turn OTLP on, for the test.
func clearOTLP(t *testing.T) {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_METRICS_EXPORTER", "OTEL_TRACES_EXPORTER"} {
		t.Setenv(v, "")
	}
}

// emit makes one metric point and one span, then shuts down, which pushes them.
func emit(t *testing.T, tel *telemetry.Telemetry) (spanRecorded bool) {
	t.Helper()
	ctr, err := tel.MeterProvider().Meter("test").Int64Counter("test.things")
	if err != nil {
		t.Fatal(err)
	}
	ctr.Add(context.Background(), 1)
	_, span := tel.TracerProvider().Tracer("test").Start(context.Background(), "op")
	spanRecorded = span.IsRecording()
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	return spanRecorded
}

func TestOTLPIsOffWithoutTheEnvironment(t *testing.T) {
	clearOTLP(t)
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if emit(t, tel) {
		t.Error("spans are recorded with no OTLP endpoint configured; want a no-op tracer provider")
	}
}

func TestOTLPPushesMetricsAndSpansWhenTheEndpointIsSet(t *testing.T) {
	clearOTLP(t)
	c := newCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.url)
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !emit(t, tel) {
		t.Error("span not recorded with an OTLP endpoint configured")
	}
	if c.got("/v1/metrics") == 0 || c.got("/v1/traces") == 0 {
		t.Errorf("collector received %v, want posts to /v1/metrics and /v1/traces", c.paths)
	}
}

func TestOTLPSignalsCanBeTurnedOffOneByOne(t *testing.T) {
	clearOTLP(t)
	c := newCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", c.url+"/v1/metrics")
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if emit(t, tel) {
		t.Error("span recorded although only the metrics endpoint is set")
	}
	if c.got("/v1/metrics") == 0 || c.got("/v1/traces") != 0 {
		t.Errorf("collector received %v, want metrics only", c.paths)
	}
}

func TestOTLPRefusesAProtocolItCannotSpeak(t *testing.T) {
	clearOTLP(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	_, err := telemetry.Setup(context.Background(), telemetry.Options{})
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc") {
		t.Errorf("Setup with protocol grpc: err = %v, want it named", err)
	}
}

func TestMetricsHandlerServesTheResource(t *testing.T) {
	clearOTLP(t)
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceVersion: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	f := scrape(t, serveMetrics(t, tel.MetricsHandler()))
	want := map[string]string{"service_name": "refersion-relay", "service_version": "1.2.3", "deployment_environment_name": "staging"}
	if n, ok := f.sum("target_info", want); !ok || n != 1 {
		t.Errorf("target_info%v missing: %v", want, f.series("target_info"))
	}
	if _, ok := f.sum("go_goroutines", nil); !ok {
		t.Error("go runtime metrics missing")
	}
}
