// Package telemetry is the relay's observability: OpenTelemetry metrics
// served on /metrics by the Prometheus exporter and, when the standard
// OTEL_EXPORTER_OTLP_* variables ask for it, pushed over OTLP/HTTP; traces
// exported over OTLP/HTTP under the same condition; and the process logger,
// which adds trace ids to records and keeps secrets and personal data out.
//
// Setup builds the providers. The instruments are fed three ways:
//
//	Observe            observable instruments read at each collection from the
//	                   pipeline's counters, the breaker, readiness and consumer lag
//	AttemptObserver    sink.WithAttemptObserver: one count and one duration per request
//	CountIdentities    a decorator of the identity store: lookups by result, store size
//
// Nothing here sets OpenTelemetry's global providers; callers pass
// MeterProvider and TracerProvider where they are needed.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ServiceName is the default service.name of the resource; OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES override it.
const ServiceName = "refersion-relay"

// scope is the instrumentation scope of every instrument made here.
const scope = "github.com/refersion-relay/refersion-relay"

// Options configure Setup. The zero value is usable.
type Options struct {
	ServiceVersion string       // service.version of the resource
	Logger         *slog.Logger // what Setup and the lag probe report; default discards
}

// Telemetry owns the meter and tracer providers. Its methods are safe for
// concurrent use; Shutdown ends it.
type Telemetry struct {
	meters   *sdkmetric.MeterProvider
	tracers  *sdktrace.TracerProvider // nil when traces are not exported
	meter    metric.Meter
	registry *promclient.Registry
	log      *slog.Logger
}

// Setup builds the providers. Metrics always go to the Prometheus registry
// behind MetricsHandler; they are also pushed over OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set,
// and spans are exported when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (see otlp.go). Without those,
// TracerProvider records nothing.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(ServiceName), semconv.ServiceVersion(o.ServiceVersion)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		if res == nil {
			return nil, fmt.Errorf("telemetry resource: %w", err)
		}
		log.Warn("telemetry resource is partial", "error", err) // a malformed OTEL_RESOURCE_ATTRIBUTES, say
	}
	reg := promclient.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	prom, err := promexporter.New(
		promexporter.WithRegisterer(reg),
		promexporter.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		promexporter.WithoutScopeInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(prom)}
	exp, err := otlpExporters(ctx)
	if err != nil {
		return nil, err
	}
	if exp.metrics != nil {
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp.metrics)))
	}
	t := &Telemetry{meters: sdkmetric.NewMeterProvider(mopts...), registry: reg, log: log}
	if exp.spans != nil {
		t.tracers = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp.spans))
	}
	t.meter = t.meters.Meter(scope)
	log.Info("telemetry", "otlp_metrics", exp.metrics != nil, "otlp_traces", exp.spans != nil)
	return t, nil
}

// MetricsHandler serves the metrics in the Prometheus text formats.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// MeterProvider is the provider of every instrument.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.meters }

// TracerProvider makes spans that are exported over OTLP, or a no-op
// provider when no OTLP traces endpoint is configured.
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if t.tracers == nil {
		return noop.NewTracerProvider()
	}
	return t.tracers
}

// Shutdown pushes what is buffered (a last collection of the metrics,
// pending spans) and stops the exporters, within ctx. MetricsHandler serves
// nothing new afterwards.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.tracers != nil {
		errs = append(errs, t.tracers.Shutdown(ctx))
	}
	errs = append(errs, t.meters.Shutdown(ctx))
	return errors.Join(errs...)
}
