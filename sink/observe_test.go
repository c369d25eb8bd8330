package sink_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
)

// flaky answers 503 to the first n requests, then 200.
func flaky(t *testing.T, n int32) *httptest.Server {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) <= n {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAttemptObserverSeesEveryRequest(t *testing.T) {
	srv := flaky(t, 2)
	var mu sync.Mutex
	var got []sink.Attempt
	s := newSink(t, fastConfig(srv.URL), sink.WithAttemptObserver(func(a sink.Attempt) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, a)
	}))
	if err := s.Send(context.Background(), sinktest.Order("obs-1")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		status int
		kind   failure.Kind
	}{{503, failure.KindRetryable}, {503, failure.KindRetryable}, {200, failure.KindDelivered}}
	if len(got) != len(want) {
		t.Fatalf("%d attempts observed, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Status != w.status || got[i].Kind != w.kind || got[i].Duration <= 0 {
			t.Errorf("attempt %d = %+v, want status %d kind %s and a duration", i, got[i], w.status, w.kind)
		}
	}
}

func TestAttemptObserverReportsNetworkErrorWithoutStatus(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL
	srv.Close() // nothing listens any more
	cfg := fastConfig(endpoint)
	cfg.Retry.MaxAttempts = 1
	var got sink.Attempt
	s := newSink(t, cfg, sink.WithAttemptObserver(func(a sink.Attempt) { got = a }))
	if err := s.Send(context.Background(), sinktest.Order("obs-2")); !failure.IsRetryable(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
	if got.Status != 0 || got.Kind != failure.KindRetryable {
		t.Errorf("attempt = %+v, want status 0, kind retryable", got)
	}
}

func TestEachAttemptIsAChildSpanWithStatusAndNoSecrets(t *testing.T) {
	srv := flaky(t, 1)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	s := newSink(t, fastConfig(srv.URL), sink.WithTracerProvider(tp))

	ctx, parent := tp.Tracer("test").Start(context.Background(), "deliver")
	if err := s.Send(ctx, sinktest.Order("span-1")); err != nil {
		t.Fatal(err)
	}
	parent.End()

	var statuses []int64
	for _, sp := range exp.GetSpans() {
		if sp.Name != "POST" {
			continue
		}
		if sp.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("attempt span's parent is %s, want the deliver span", sp.Parent.SpanID())
		}
		attrs := map[string]string{}
		for _, a := range sp.Attributes {
			attrs[string(a.Key)] = a.Value.String()
			for _, leak := range []string{"pub_test", "sec_test", "jdoe@example.com", "192.0.2.75", "John"} {
				if strings.Contains(a.Value.String(), leak) {
					t.Errorf("span attribute %s carries %q", a.Key, leak)
				}
			}
		}
		if attrs["refersion.order_id"] != "span-1" || attrs["http.request.method"] != "POST" {
			t.Errorf("attributes %v lack the order_id or method", attrs)
		}
		statuses = append(statuses, -1)
		for _, a := range sp.Attributes {
			if a.Key == "http.response.status_code" {
				statuses[len(statuses)-1] = a.Value.AsInt64()
			}
		}
	}
	if len(statuses) != 2 || statuses[0] != 503 || statuses[1] != 200 {
		t.Errorf("attempt spans' statuses = %v, want [503 200]", statuses)
	}
}
