package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Fixture secrets; tests assert they never appear in printed output.
const (
	testPublic = "pubFIXTURE7c1e"
	testSecret = "secFIXTURE9f3a"
)

// setenv unsets every configuration variable, then sets env, for the
// duration of the test (restored by t.Setenv's cleanup).
func setenv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, v := range vars() {
		t.Setenv(v.Name, "")
		if err := os.Unsetenv(v.Name); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// validEnv is the least a run needs, plus overrides (an empty value unsets).
func validEnv(overrides map[string]string) map[string]string {
	env := map[string]string{
		"KAFKA_BROKERS":        "kafka-0:9092",
		"KAFKA_TOPIC":          "segment-events",
		"REFERSION_PUBLIC_KEY": testPublic,
		"REFERSION_SECRET_KEY": testSecret,
	}
	for k, v := range overrides {
		if v == "" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	return env
}

func mustLoad(t *testing.T, env map[string]string) Config {
	t.Helper()
	setenv(t, env)
	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestLoadAppliesDefaults(t *testing.T) {
	c := mustLoad(t, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"KAFKA_GROUP_ID", c.GroupID, "refersion-relay"},
		{"KAFKA_START_OFFSET", c.StartOffset, "earliest"},
		{"KAFKA_SASL_MECHANISM", c.Mechanism, "none"},
		{"REFERSION_URL", c.Refersion.URL, "https://inbound-webhooks.refersion.com/tracker/orders/paid"},
		{"REFERSION_REQUEST_TIMEOUT", c.RequestTimeout, 10 * time.Second},
		{"REFERSION_RETRY_MAX_ATTEMPTS", c.RetryMaxAttempts, 8},
		{"REFERSION_RETRY_MAX_ELAPSED", c.RetryMaxElapsed, 2 * time.Minute},
		{"REFERSION_RETRY_INITIAL_BACKOFF", c.RetryInitialBackoff, 500 * time.Millisecond},
		{"REFERSION_RETRY_MAX_BACKOFF", c.RetryMaxBackoff, 30 * time.Second},
		{"REFERSION_BREAKER_FAILURES", c.BreakerFailures, 5},
		{"REFERSION_BREAKER_OPEN_TIMEOUT", c.BreakerOpenTimeout, 30 * time.Second},
		{"REFERSION_RATE_LIMIT", c.RateLimit, 0.0},
		{"ORDER_EVENTS", strings.Join(c.OrderEvents, "|"), "Order Completed|Completed Order"},
		{"CART_ID_SOURCES", strings.Join(c.CartIDSources, "|"), "cart_id|checkout_id"},
		{"DEFAULT_CURRENCY", c.DefaultCurrency, ""},
		{"STATE_BACKEND", c.Backend, "disk"},
		{"STATE_DIR", c.Dir, "./refersion-relay-state"},
		{"IDENTITY_TTL", c.IdentityTTL, 90 * 24 * time.Hour},
		{"SENT_TTL", c.SentTTL, 30 * 24 * time.Hour},
		{"ADMIN_ADDR", c.AdminAddr, ":9464"},
		{"LOG_LEVEL", c.LogLevel, "info"},
		{"LOG_FORMAT", c.LogFormat, "auto"},
		{"LOG_PII", c.LogPII, false},
		{"PIPELINE_CONCURRENCY", c.Concurrency, 64},
		{"DRAIN_TIMEOUT", c.DrainTimeout, 25 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadDerivesDLQTopicFromTopic(t *testing.T) {
	if c := mustLoad(t, validEnv(nil)); c.DLQTopic != "segment-events.refersion-dlq" {
		t.Errorf("DLQTopic = %q, want segment-events.refersion-dlq", c.DLQTopic)
	}
	if c := mustLoad(t, validEnv(map[string]string{"KAFKA_DLQ_TOPIC": "dead"})); c.DLQTopic != "dead" {
		t.Errorf("DLQTopic = %q, want the explicit dead", c.DLQTopic)
	}
}

func TestLoadTrimsListsAndNormalizesEnumerations(t *testing.T) {
	c := mustLoad(t, validEnv(map[string]string{
		"KAFKA_BROKERS":      " kafka-0:9092 ,, kafka-1:9092 ",
		"ORDER_EVENTS":       " Order Completed , Checkout Done",
		"KAFKA_START_OFFSET": " Latest",
		"STATE_BACKEND":      "REDIS",
		"LOG_LEVEL":          "DEBUG",
		"DEFAULT_CURRENCY":   " usd ",
	}))
	if !slices.Equal(c.Brokers, []string{"kafka-0:9092", "kafka-1:9092"}) {
		t.Errorf("Brokers = %q", c.Brokers)
	}
	if !slices.Equal(c.OrderEvents, []string{"Order Completed", "Checkout Done"}) {
		t.Errorf("OrderEvents = %q", c.OrderEvents)
	}
	if c.StartOffset != "latest" || c.Backend != "redis" || c.LogLevel != "debug" || c.DefaultCurrency != "USD" {
		t.Errorf("got %q %q %q %q, want latest redis debug USD", c.StartOffset, c.Backend, c.LogLevel, c.DefaultCurrency)
	}
}

func TestLoadParseErrorNamesVariableNotValue(t *testing.T) {
	for name, value := range map[string]string{
		"KAFKA_MAX_BYTES":           "lots9137",
		"REFERSION_REQUEST_TIMEOUT": "ten9137",
		"LOG_PII":                   "maybe9137",
		"REFERSION_RATE_LIMIT":      "fast9137",
	} {
		t.Run(name, func(t *testing.T) {
			setenv(t, validEnv(map[string]string{name: value}))
			_, err := Load()
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, name+" is not ") || strings.Contains(msg, "9137") || !strings.Contains(msg, "set it") {
				t.Errorf("error %q should name %s, say how to fix it, and not quote the value", msg, name)
			}
		})
	}
}

func TestLoadReadsSecretFilesTrimmed(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := mustLoad(t, validEnv(map[string]string{
		"REFERSION_PUBLIC_KEY":      "",
		"REFERSION_SECRET_KEY":      "",
		"REFERSION_PUBLIC_KEY_FILE": file("pub", testPublic+"\n"),
		"REFERSION_SECRET_KEY_FILE": file("sec", "  "+testSecret+"\r\n"),
		"KAFKA_SASL_MECHANISM":      "scram-sha-512",
		"KAFKA_SASL_USERNAME":       "relay",
		"KAFKA_SASL_PASSWORD_FILE":  file("sasl", "hunter2\n"),
	}))
	if c.PublicKey.Reveal() != testPublic || c.SecretKey.Reveal() != testSecret || c.Password.Reveal() != "hunter2" {
		t.Errorf("keys = %q, %q, %q", c.PublicKey.Reveal(), c.SecretKey.Reveal(), c.Password.Reveal())
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestLoadSplitsAPIKey(t *testing.T) {
	c := mustLoad(t, validEnv(map[string]string{
		"REFERSION_PUBLIC_KEY": "",
		"REFERSION_SECRET_KEY": "",
		"REFERSION_API_KEY":    testPublic + "." + testSecret,
	}))
	if c.PublicKey.Reveal() != testPublic || c.SecretKey.Reveal() != testSecret {
		t.Errorf("split into %q and %q", c.PublicKey.Reveal(), c.SecretKey.Reveal())
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestRedisURLFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "redis-url")
	if err := os.WriteFile(path, []byte("redis://:hunter22@redis:6379/0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDIS_URL_FILE", path)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisURL.Reveal() != "redis://:hunter22@redis:6379/0" || len(c.problems) != 0 {
		t.Fatalf("REDIS_URL_FILE read as %q, problems %v", c.RedisURL.Reveal(), c.problems)
	}
	t.Setenv("REDIS_URL", "redis://other:6379")
	if c, _ := Load(); len(c.problems) == 0 {
		t.Fatal("REDIS_URL with REDIS_URL_FILE: no problem reported")
	}
}

// TestLoadReportsEveryParseError sets four unparsable values: Load reports
// each, in table order, naming the variable and the expected form, never the
// value.
func TestLoadReportsEveryParseError(t *testing.T) {
	setenv(t, validEnv(map[string]string{
		"PIPELINE_CONCURRENCY": "abc9137",
		"KAFKA_TLS_ENABLED":    "maybe9137",
		"KAFKA_MAX_BYTES":      "99999999999999999999",
		"DRAIN_TIMEOUT":        "soon9137",
		"LOG_LEVEL":            "loud", // not a parse error: left to Validate
	}))
	c, err := Load()
	if err == nil {
		t.Fatal("Load succeeded")
	}
	if !reflect.DeepEqual(c, Config{}) {
		t.Errorf("Load returned a partial Config with its error: %+v", c)
	}
	want := []string{
		"KAFKA_MAX_BYTES is a whole number out of range: set it like KAFKA_MAX_BYTES=1048576 (the default)",
		"KAFKA_TLS_ENABLED is not true or false: set it like KAFKA_TLS_ENABLED=false (the default)",
		"PIPELINE_CONCURRENCY is not a whole number: set it like PIPELINE_CONCURRENCY=64 (the default)",
		"DRAIN_TIMEOUT is not a duration such as 500ms, 30s or 2h: set it like DRAIN_TIMEOUT=25s (the default)",
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		got = append(got, e.Error())
	}
	if !slices.Equal(got, want) {
		t.Errorf("Load's errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(err.Error(), "9137") || strings.Contains(err.Error(), "9999") {
		t.Errorf("Load's error quotes a value:\n%v", err)
	}
}

// TestLoadReadsLikeEnvconfig: reading the variables one at a time gives the
// Config that envconfig.Process gives for the whole struct.
func TestLoadReadsLikeEnvconfig(t *testing.T) {
	setenv(t, validEnv(map[string]string{
		"KAFKA_BROKERS":            "kafka-0:9092, kafka-1:9092",
		"KAFKA_MAX_BYTES":          "0x100000",
		"KAFKA_MAX_WAIT":           "1.5s",
		"KAFKA_TLS_ENABLED":        "1",
		"KAFKA_SASL_PASSWORD":      "pw",
		"REFERSION_URL":            "http://relay:pw@sandbox/x",
		"REFERSION_RATE_LIMIT":     "2.5e1",
		"ORDER_EVENTS":             "A,B",
		"REDIS_URL":                "redis://:pw@r:6379",
		"STATE_MEMORY_MAX_ENTRIES": "-3",
		"LOG_PII":                  "T",
	}))
	var got Config
	if errs := got.process(); len(errs) > 0 {
		t.Fatal(errs)
	}
	var want Config
	if err := envconfig.Process("", &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read one at a time:\n%+v\nby envconfig.Process:\n%+v", got, want)
	}
}
