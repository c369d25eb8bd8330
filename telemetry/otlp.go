package telemetry

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// exporters are the OTLP exporters the environment asks for; nil fields are
// not wanted.
type exporters struct {
	metrics sdkmetric.Exporter
	spans   sdktrace.SpanExporter
}

// otlpExporters builds an OTLP/HTTP exporter for each signal that
// otlpWanted says is configured. The exporters read the rest of their
// settings (headers, TLS, timeout, compression, export interval) from the
// standard OTEL_* variables themselves. Only the http/protobuf protocol is
// built in; asking for another one is an error rather than silence.
func otlpExporters(ctx context.Context) (exporters, error) {
	var e exporters
	if otlpWanted("METRICS") {
		if err := httpProtocol("METRICS"); err != nil {
			return e, err
		}
		m, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return e, fmt.Errorf("otlp metrics exporter: %w", err)
		}
		e.metrics = m
	}
	if otlpWanted("TRACES") {
		if err := httpProtocol("TRACES"); err != nil {
			return e, err
		}
		s, err := otlptracehttp.New(ctx)
		if err != nil {
			return e, fmt.Errorf("otlp traces exporter: %w", err)
		}
		e.spans = s
	}
	return e, nil
}

// otlpWanted reports whether signal (METRICS or TRACES) is to be pushed over
// OTLP: OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_<signal>_ENDPOINT
// is set, and OTEL_<signal>_EXPORTER is not "none".
func otlpWanted(signal string) bool {
	if strings.TrimSpace(os.Getenv("OTEL_"+signal+"_EXPORTER")) == "none" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// httpProtocol checks OTEL_EXPORTER_OTLP_<signal>_PROTOCOL, else
// OTEL_EXPORTER_OTLP_PROTOCOL: empty or http/protobuf.
func httpProtocol(signal string) error {
	name := "OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL"
	p := os.Getenv(name)
	if p == "" {
		name = "OTEL_EXPORTER_OTLP_PROTOCOL"
		p = os.Getenv(name)
	}
	if p == "" || p == "http/protobuf" {
		return nil
	}
	return fmt.Errorf("%s=%s is not supported: this build exports OTLP over http/protobuf only", name, p)
}
