package sink

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// tracerName is the instrumentation scope of the sink's spans.
const tracerName = "github.com/refersion-relay/refersion-relay/sink"

// Attempt is one HTTP request to the endpoint, as the HTTP layer saw it.
type Attempt struct {
	Status   int           // HTTP status; 0 when no response arrived
	Kind     failure.Kind  // outcome of this request alone; KindDelivered when accepted
	Duration time.Duration // from sending the request until its body was read
}

// WithAttemptObserver calls f once after every HTTP request, retries
// included, synchronously on the sending goroutine. f must be quick and safe
// for concurrent use. A request refused by the open breaker is not an attempt.
func WithAttemptObserver(f func(Attempt)) Option {
	return func(o *options) { o.attempts = f }
}

// WithTracerProvider makes one client span per HTTP request ("POST"), a child
// of the span in Send's context; the default is the global provider. The span
// carries the order_id, the server address and the HTTP status; never the keys
// or the customer.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// attemptRecorder traces and reports the requests of one httpSender.
type attemptRecorder struct {
	tracer  trace.Tracer
	observe func(Attempt) // nil means nobody listens
	server  []attribute.KeyValue
}

func newAttemptRecorder(endpoint string, tp trace.TracerProvider, observe func(Attempt)) attemptRecorder {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	r := attemptRecorder{tracer: tp.Tracer(tracerName), observe: observe}
	if u, err := url.Parse(endpoint); err == nil {
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		r.server = append(r.server, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			r.server = append(r.server, semconv.ServerPort(p))
		}
	}
	return r
}

// start begins the span of one request for o.
func (r attemptRecorder) start(ctx context.Context, o mapping.Order) (context.Context, trace.Span) {
	attrs := append([]attribute.KeyValue{
		semconv.HTTPRequestMethodPost,
		attribute.String("refersion.order_id", o.OrderID),
	}, r.server...)
	return r.tracer.Start(ctx, "POST", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// end closes the span with the request's outcome and reports it. status is
// 0 when no response arrived; err is the classified outcome.
func (r attemptRecorder) end(span trace.Span, status int, err error, took time.Duration) {
	kind := failure.KindOf(err)
	if status != 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	if kind != failure.KindDelivered {
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType(status, kind)))
		span.SetStatus(codes.Error, kind.String())
	}
	span.End()
	if r.observe != nil {
		r.observe(Attempt{Status: status, Kind: kind, Duration: took})
	}
}

// errorType is the semantic-convention error.type of a failed request: the
// status code when there was an error status, else the outcome's kind (a
// network error's text may name addresses, so it is not used).
func errorType(status int, kind failure.Kind) string {
	if status >= 400 {
		return strconv.Itoa(status)
	}
	return kind.String()
}
