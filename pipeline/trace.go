package pipeline

import (
	"context"
	"strconv"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Trace shape, one tree per order event:
//
//	order (consumer; from fetch until its offset is committed)
//	├── map
//	├── enrich
//	├── deliver        (the sink's attempts are children of it)
//	└── dead-letter    (only when the order is dead-lettered)
//
// The order span's parent is the W3C traceparent header of the Kafka message,
// when present. Attributes carry the order_id, HTTP status and outcome; never
// keys or personal data.

// tracerName is the instrumentation scope of the pipeline's spans.
const tracerName = "github.com/refersion-relay/refersion-relay/pipeline"

// Attribute keys of the order span.
var (
	attrOrderID = attribute.Key("refersion.order_id")
	attrOutcome = attribute.Key("refersion.outcome")
	attrStatus  = semconv.HTTPResponseStatusCodeKey
)

func (p *Pipeline) tracer() trace.Tracer {
	if p.cfg.TracerProvider != nil {
		return p.cfg.TracerProvider.Tracer(tracerName)
	}
	return otel.GetTracerProvider().Tracer(tracerName)
}

// headerCarrier adapts Kafka headers to the OTel propagator.
type headerCarrier []kafka.Header

func (h headerCarrier) Get(key string) string {
	for _, x := range h {
		if x.Key == key {
			return string(x.Value)
		}
	}
	return ""
}

func (h headerCarrier) Set(string, string) {}

func (h headerCarrier) Keys() []string {
	keys := make([]string, len(h))
	for i, x := range h {
		keys[i] = x.Key
	}
	return keys
}

var traceContext = propagation.TraceContext{}

// startOrderSpan starts the span of one order event, as a child of the
// message's traceparent header when it has one.
func (p *Pipeline) startOrderSpan(ctx context.Context, km kafka.Message, index int) (context.Context, trace.Span) {
	ctx = traceContext.Extract(ctx, headerCarrier(km.Headers))
	return p.tracer().Start(ctx, "order", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		semconv.MessagingSystemKafka,
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(km.Topic),
		semconv.MessagingDestinationPartitionID(strconv.Itoa(km.Partition)),
		semconv.MessagingKafkaOffset(int(km.Offset)),
		semconv.MessagingConsumerGroupName(p.cfg.GroupID),
		attribute.Int("refersion.batch_index", index),
	))
}
