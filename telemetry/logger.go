package telemetry

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns the process logger writing to w.
//
// level is debug, info, warn or error (anything else means info). format is
// json, text, or auto: text when w is a terminal, json otherwise. Each record
// whose context carries a span gets trace_id and span_id. Unless pii is
// true, personal data is masked in the message and every attribute, at every
// level (see redact.go): email addresses anywhere become "[email]", and the
// values of keys such as email, first_name or ip_address become "[redacted]".
//
// Secrets are never printed: config.Secret and sink.Keys mask themselves in
// every form, the logger resolves LogValuers before writing, and every
// occurrence of one of secrets (those of at least 4 bytes) in any text,
// an error's or a response body's included, becomes "****", PII or not.
func NewLogger(w io.Writer, level, format string, pii bool, secrets ...string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: parseLevel(level)}
	useText := format == "text" || (format == "auto" && IsTerminal(w))
	var next slog.Handler
	if useText {
		next = slog.NewTextHandler(w, opts)
	} else {
		next = slog.NewJSONHandler(w, opts)
	}
	return slog.New(&handler{next: next, r: newRedactor(pii, !useText, secrets)})
}

func parseLevel(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// IsTerminal reports whether w is a character device, such as a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// handler redacts every record and attribute before next sees it, and adds
// the trace and span ids of the record's context. Attributes added with
// WithAttrs are redacted once, when added. The ids join the innermost group
// opened with WithGroup, as any attribute of the record would.
type handler struct {
	next slog.Handler
	r    redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.r.attr(a))
		return true
	})
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		out.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.r.attr(a)
	}
	return &handler{next: h.next.WithAttrs(red), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), r: h.r}
}
