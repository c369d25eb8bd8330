package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

const (
	publicKey = "pub_live_7f3a9c"
	secretKey = "sec_live_d41d8cd98f00"
	email     = "jane.roe+shop@example.org"
)

var levels = []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

// leaks returns what of the secrets, and unless pii the email, appears in out.
func leaks(out string, pii bool) []string {
	var found []string
	for _, s := range []string{publicKey, secretKey, "jane.roe", "example.org"} {
		if strings.Contains(out, s) && (!pii || strings.HasPrefix(s, "pub") || strings.HasPrefix(s, "sec")) {
			found = append(found, s)
		}
	}
	return found
}

// logEverything writes, at level, every shape in which a secret or an email
// can reach a logger: attributes, groups, structs, errors, bytes, messages.
func logEverything(log *slog.Logger, level slog.Level) {
	ctx := context.Background()
	keys := sink.NewKeys(publicKey, secretKey)
	secret := config.NewSecret(secretKey)
	order := sinktest.Order("1001")
	order.Customer.Email = email
	log.Log(ctx, level, "order from "+email, "keys", keys, "secret", secret, "email", email)
	log.Log(ctx, level, "grouped", slog.Group("customer", "contact", "write to "+email, slog.Group("auth", "secret", secret)))
	log.Log(ctx, level, "struct", "order", order, "cfg", struct {
		Keys   sink.Keys
		Secret config.Secret
		Note   string
	}{keys, secret, "from " + email})
	log.Log(ctx, level, "error path", "error", fmt.Errorf("post order 1001: %w: customer %s", errors.New("422"), email),
		"formatted", fmt.Sprintf("%v %+v %#v %s %q %x", keys, secret, keys, secret, keys, secret))
	log.Log(ctx, level, "raw event", "event", []byte(`{"traits":{"email":"`+email+`"}}`), "url", "https://x.test/?e=jane.roe%2Bshop%40example.org")
	log.With("secret", secret, "email", email).Log(ctx, level, "bound attributes")
	// A secret the types cannot mask: echoed back in a response body.
	log.Log(ctx, level, "echo", "error", errors.New("401: unknown key "+secretKey+" for "+publicKey))
}

func TestLoggerLeaksNoSecretAndNoEmailAtAnyLevel(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		for _, level := range levels {
			var buf bytes.Buffer
			logEverything(telemetry.NewLogger(&buf, "debug", format, false, publicKey, secretKey), level)
			out := buf.String()
			if got := strings.Count(out, "\n"); got != 7 {
				t.Fatalf("%s %v: %d lines, want 7:\n%s", format, level, got, out)
			}
			if l := leaks(out, false); len(l) > 0 {
				t.Errorf("%s %v: output carries %q:\n%s", format, level, l, out)
			}
			if !strings.Contains(out, "[email]") || !strings.Contains(out, "[redacted]") || !strings.Contains(out, "****") {
				t.Errorf("%s %v: masks missing:\n%s", format, level, out)
			}
		}
	}
}

func TestLoggerWithPIIShowsEmailButNoSecret(t *testing.T) {
	var buf bytes.Buffer
	logEverything(telemetry.NewLogger(&buf, "debug", "json", true, publicKey, secretKey), slog.LevelError)
	out := buf.String()
	if !strings.Contains(out, email) {
		t.Errorf("LOG_PII=true hid the email:\n%s", out)
	}
	if l := leaks(out, true); len(l) > 0 {
		t.Errorf("LOG_PII=true leaked %q:\n%s", l, out)
	}
}

func TestLoggerKeepsJSONStructured(t *testing.T) {
	var buf bytes.Buffer
	order := sinktest.Order("1001")
	telemetry.NewLogger(&buf, "info", "json", false).Info("order", "order", order, "partitions", []int{0, 1})
	var rec struct {
		Order struct {
			OrderID  string            `json:"order_id"`
			Customer map[string]string `json:"customer"`
		} `json:"order"`
		Partitions []int `json:"partitions"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if rec.Order.OrderID != "1001" || len(rec.Partitions) != 2 {
		t.Errorf("structure lost: %s", buf.String())
	}
	for k, v := range rec.Order.Customer {
		if v != "[redacted]" {
			t.Errorf("customer.%s = %q, want [redacted]", k, v)
		}
	}
}

func TestLoggerLevelFromLOG_LEVEL(t *testing.T) {
	for _, c := range []struct {
		level string
		lines int // of one record per level, debug to error
	}{{"debug", 4}, {"info", 3}, {"warn", 2}, {"error", 1}, {"", 3}, {"nonsense", 3}} {
		var buf bytes.Buffer
		log := telemetry.NewLogger(&buf, c.level, "json", false)
		for _, l := range levels {
			log.Log(context.Background(), l, "x")
		}
		if got := strings.Count(buf.String(), "\n"); got != c.lines {
			t.Errorf("LOG_LEVEL=%q: %d lines, want %d", c.level, got, c.lines)
		}
	}
}

func TestLoggerFormats(t *testing.T) {
	for _, c := range []struct{ format, prefix string }{{"json", "{"}, {"text", "time="}, {"auto", "{"}} {
		var buf bytes.Buffer
		telemetry.NewLogger(&buf, "info", c.format, false).Info("hello")
		if !strings.HasPrefix(buf.String(), c.prefix) {
			t.Errorf("LOG_FORMAT=%s wrote %q, want it to start with %q", c.format, buf.String(), c.prefix)
		}
	}
	// auto is JSON on a file that is not a terminal.
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	telemetry.NewLogger(f, "info", "auto", false).Info("hello")
	b, _ := os.ReadFile(f.Name())
	if !json.Valid(bytes.TrimSpace(b)) {
		t.Errorf("auto on a regular file wrote %q, want JSON", b)
	}
}

func TestLoggerAddsTraceAndSpanIDs(t *testing.T) {
	var buf bytes.Buffer
	log := telemetry.NewLogger(&buf, "info", "json", false)
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "op")
	defer span.End()
	log.InfoContext(ctx, "breaker opened")
	log.Info("no span")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["trace_id"] != span.SpanContext().TraceID().String() || rec["span_id"] != span.SpanContext().SpanID().String() {
		t.Errorf("record %v lacks the span's ids", rec)
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("a record without a span got ids: %s", lines[1])
	}
}
