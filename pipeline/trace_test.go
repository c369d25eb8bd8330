package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func TestOrderSpanTreeFollowsTraceparent(t *testing.T) {
	r := newRig(t, 1, sandbox.Options{Keys: sandbox.DefaultKeys})
	const parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	events := []kafka.Message{
		{Value: []byte(`{"type":"track","event":"Order Completed","messageId":"m1","context":{"traits":{"email":"secret.person@example.com"}},"properties":{"cart_id":"c1","order_id":"traced-1","currency":"USD","products":[{"sku":"A","price":1}]}}`),
			Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-" + parentTrace + "-00f067aa0ba902b7-01")}}},
		{Value: []byte(`{"type":"track","event":"Order Completed","messageId":"m2","properties":{"order_id":"invalid-1","currency":"USD","products":[{"sku":"A","price":1}]}}`)},
		{Value: []byte(`{"type":"page"}`)},
	}
	w := &kafka.Writer{Addr: kafka.TCP(r.broker.Addr()), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	p := r.buildWith("g-trace", sandbox.DefaultKeys, memory.NewSent(memory.Options{}), r.dlq(), tp, 0)
	stop := start(t, p)
	r.waitDone("g-trace", p)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	spans := exp.GetSpans()
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.String(), "@") {
				t.Errorf("span %s carries personal data in %s", s.Name, a.Key)
			}
		}
	}
	orders := byName["order"]
	if len(orders) != 2 {
		t.Fatalf("%d order spans, want 2 (one per order event): %v", len(orders), names(spans))
	}
	var traced, invalid tracetest.SpanStub
	for _, o := range orders {
		switch attr(o, "refersion.order_id") {
		case "traced-1":
			traced = o
		case "invalid-1":
			invalid = o
		}
	}
	if traced.SpanContext.TraceID().String() != parentTrace {
		t.Errorf("order span trace %s, want the traceparent's %s", traced.SpanContext.TraceID(), parentTrace)
	}
	if traced.SpanKind != trace.SpanKindConsumer || attr(traced, "refersion.outcome") != "delivered" || attr(traced, "messaging.system") != "kafka" {
		t.Errorf("order span attributes: %v", traced.Attributes)
	}
	for _, child := range []string{"map", "enrich", "deliver"} {
		if !hasChild(byName[child], traced) {
			t.Errorf("no %s span under the delivered order's span", child)
		}
	}
	if attr(invalid, "refersion.outcome") != deadletter.ReasonInvalid || !hasChild(byName["dead-letter"], invalid) {
		t.Errorf("invalid order: outcome %q, dead-letter child %v", attr(invalid, "refersion.outcome"), hasChild(byName["dead-letter"], invalid))
	}
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

func hasChild(children []tracetest.SpanStub, parent tracetest.SpanStub) bool {
	for _, c := range children {
		if c.Parent.SpanID() == parent.SpanContext.SpanID() {
			return true
		}
	}
	return false
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
