package telemetry

import (
	"context"
	"net/url"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/sink"
)

// Attribute keys of the product metrics.
const (
	attrEventType    = attribute.Key("refersion.event.type")
	attrOutcome      = attribute.Key("refersion.outcome")
	attrReason       = attribute.Key("refersion.reason")
	attrBreakerState = attribute.Key("refersion.breaker.state")
	attrAccount      = attribute.Key("refersion.account")
	attrLane         = attribute.Key("refersion.lane")
)

// durationBuckets are the semantic conventions' advised boundaries of
// http.client.request.duration, in seconds.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// AttemptObserver returns the function to give sink.WithAttemptObserver for
// a sink posting to endpoint. Each request adds one to
// refersion_relay.delivery.attempts (by outcome and HTTP status) and records
// its duration in http.client.request.duration. The function is safe for
// concurrent use and does not block.
func (t *Telemetry) AttemptObserver(endpoint string) (func(sink.Attempt), error) {
	attempts, err := t.meter.Int64Counter("refersion_relay.delivery.attempts",
		metric.WithUnit("{attempt}"),
		metric.WithDescription("HTTP requests to Refersion, retries included, by outcome and HTTP status."))
	if err != nil {
		return nil, err
	}
	duration, err := t.meter.Float64Histogram("http.client.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP client requests."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, err
	}
	server := serverAttrs(endpoint)
	ctx := context.Background()
	// An attempt's attributes follow from its kind and status alone: their
	// sets are built once per pair seen, not at every request.
	type key struct {
		kind   failure.Kind
		status int
	}
	type sets struct{ attempt, duration metric.MeasurementOption }
	var cache sync.Map // key → sets
	return func(a sink.Attempt) {
		k := key{a.Kind, a.Status}
		v, ok := cache.Load(k)
		if !ok {
			common := append([]attribute.KeyValue{semconv.HTTPRequestMethodPost}, server...)
			outcome := []attribute.KeyValue{attrOutcome.String(a.Kind.String())}
			if a.Status != 0 {
				status := semconv.HTTPResponseStatusCode(a.Status)
				common = append(common, status)
				outcome = append(outcome, status)
			}
			if a.Kind != failure.KindDelivered {
				common = append(common, semconv.ErrorTypeKey.String(errorType(a)))
			}
			v, _ = cache.LoadOrStore(k, sets{metric.WithAttributeSet(attribute.NewSet(outcome...)), metric.WithAttributeSet(attribute.NewSet(common...))})
		}
		s := v.(sets)
		attempts.Add(ctx, 1, s.attempt)
		duration.Record(ctx, a.Duration.Seconds(), s.duration)
	}, nil
}

// errorType is error.type of a failed request: the HTTP status when it is an
// error status, else the outcome's kind.
func errorType(a sink.Attempt) string {
	if a.Status >= 400 {
		return strconv.Itoa(a.Status)
	}
	return a.Kind.String()
}

// serverAttrs are server.address and server.port of endpoint.
func serverAttrs(endpoint string) []attribute.KeyValue {
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	attrs := []attribute.KeyValue{semconv.ServerAddress(u.Hostname())}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	return attrs
}
