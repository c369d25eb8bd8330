package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/mapping"
)

func TestValidateAcceptsMinimalConfig(t *testing.T) {
	if err := mustLoad(t, validEnv(nil)).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

// TestValidateReportsEachProblemOnce loads validEnv with one change and
// expects exactly one problem, naming want (every string in it), with a fix
// after the colon, and no secret in it.
func TestValidateReportsEachProblemOnce(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	noKeys := map[string]string{"REFERSION_PUBLIC_KEY": "", "REFERSION_SECRET_KEY": ""}
	with := func(base map[string]string, k, v string) map[string]string {
		m := map[string]string{k: v}
		for bk, bv := range base {
			m[bk] = bv
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"no brokers", map[string]string{"KAFKA_BROKERS": ""}, []string{"KAFKA_BROKERS is empty", "KAFKA_BROKERS=kafka-0:9092"}},
		{"broker without port", map[string]string{"KAFKA_BROKERS": "kafka-0"}, []string{"KAFKA_BROKERS", `"kafka-0"`, "host:port"}},
		{"no topic", map[string]string{"KAFKA_TOPIC": ""}, []string{"KAFKA_TOPIC is empty"}},
		{"bad topic", map[string]string{"KAFKA_TOPIC": "a topic", "KAFKA_DLQ_TOPIC": "dead"}, []string{"KAFKA_TOPIC", "topic name"}},
		{"dlq is source", map[string]string{"KAFKA_DLQ_TOPIC": "segment-events"}, []string{"KAFKA_DLQ_TOPIC is the same as KAFKA_TOPIC"}},
		{"empty group", map[string]string{"KAFKA_GROUP_ID": " "}, []string{"KAFKA_GROUP_ID"}},
		{"start offset", map[string]string{"KAFKA_START_OFFSET": "first"}, []string{"KAFKA_START_OFFSET", "earliest, latest"}},
		{"small fetch", map[string]string{"KAFKA_MAX_BYTES": "1000"}, []string{"KAFKA_MAX_BYTES", "KAFKA_MAX_BYTES=1048576"}},
		{"negative commit interval", map[string]string{"KAFKA_COMMIT_INTERVAL": "-1s"}, []string{"KAFKA_COMMIT_INTERVAL"}},
		{"tls file without tls", map[string]string{"KAFKA_TLS_CA_FILE": "/ca.pem"}, []string{"KAFKA_TLS_CA_FILE", "KAFKA_TLS_ENABLED=true"}},
		{"cert without key", map[string]string{"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CERT_FILE": "/c.pem"}, []string{"KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE"}},
		{"sasl mechanism", map[string]string{"KAFKA_SASL_MECHANISM": "gssapi"}, []string{"KAFKA_SASL_MECHANISM", "scram-sha-512"}},
		{"sasl user without mechanism", map[string]string{"KAFKA_SASL_USERNAME": "relay"}, []string{"KAFKA_SASL_MECHANISM is none"}},
		{"sasl without user", map[string]string{"KAFKA_SASL_MECHANISM": "plain", "KAFKA_SASL_PASSWORD": "pw"}, []string{"KAFKA_SASL_USERNAME is empty"}},
		{"sasl without password", map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": "relay"}, []string{"KAFKA_SASL_PASSWORD is not set", "KAFKA_SASL_PASSWORD_FILE"}},
		{"sasl password twice", map[string]string{"KAFKA_SASL_MECHANISM": "plain", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw", "KAFKA_SASL_PASSWORD_FILE": empty}, []string{"KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set"}},
		{"refersion url", map[string]string{"REFERSION_URL": "inbound-webhooks.refersion.com"}, []string{"REFERSION_URL"}},
		{"no keys", noKeys, []string{"REFERSION_PUBLIC_KEY and REFERSION_SECRET_KEY are not set", "REFERSION_API_KEY"}},
		{"no secret key", map[string]string{"REFERSION_SECRET_KEY": ""}, []string{"REFERSION_SECRET_KEY is not set"}},
		{"no public key", map[string]string{"REFERSION_PUBLIC_KEY": ""}, []string{"REFERSION_PUBLIC_KEY is not set"}},
		{"key with space", map[string]string{"REFERSION_SECRET_KEY": "sec FIXTURE"}, []string{"REFERSION_SECRET_KEY contains whitespace"}},
		{"key and key file", map[string]string{"REFERSION_PUBLIC_KEY_FILE": empty}, []string{"REFERSION_PUBLIC_KEY and REFERSION_PUBLIC_KEY_FILE are both set"}},
		{"unreadable key file", with(noKeys, "REFERSION_API_KEY_FILE", missing), []string{"REFERSION_API_KEY_FILE cannot be read", missing}},
		{"empty key file", with(map[string]string{"REFERSION_SECRET_KEY": ""}, "REFERSION_SECRET_KEY_FILE", empty), []string{"REFERSION_SECRET_KEY_FILE names an empty file"}},
		{"api key and public key", map[string]string{"REFERSION_SECRET_KEY": "", "REFERSION_API_KEY": testPublic + "." + testSecret}, []string{"REFERSION_API_KEY and REFERSION_PUBLIC_KEY are both set"}},
		{"api key without dot", with(noKeys, "REFERSION_API_KEY", testPublic+testSecret), []string{"REFERSION_API_KEY is not of the form <public>.<secret>"}},
		{"api key with two dots", with(noKeys, "REFERSION_API_KEY", testPublic+".x."+testSecret), []string{"REFERSION_API_KEY is not of the form"}},
		{"api key empty half", with(noKeys, "REFERSION_API_KEY", testPublic+"."), []string{"REFERSION_API_KEY is not of the form"}},
		{"request timeout", map[string]string{"REFERSION_REQUEST_TIMEOUT": "0s"}, []string{"REFERSION_REQUEST_TIMEOUT", "REFERSION_REQUEST_TIMEOUT=10s"}},
		{"no attempts", map[string]string{"REFERSION_RETRY_MAX_ATTEMPTS": "0"}, []string{"REFERSION_RETRY_MAX_ATTEMPTS must be at least 1"}},
		{"retry elapsed", map[string]string{"REFERSION_RETRY_MAX_ELAPSED": "0s"}, []string{"REFERSION_RETRY_MAX_ELAPSED"}},
		{"initial backoff", map[string]string{"REFERSION_RETRY_INITIAL_BACKOFF": "0s", "REFERSION_RETRY_MAX_BACKOFF": "1s"}, []string{"REFERSION_RETRY_INITIAL_BACKOFF"}},
		{"backoffs inverted", map[string]string{"REFERSION_RETRY_INITIAL_BACKOFF": "1m"}, []string{"REFERSION_RETRY_MAX_BACKOFF is shorter"}},
		{"breaker failures", map[string]string{"REFERSION_BREAKER_FAILURES": "0"}, []string{"REFERSION_BREAKER_FAILURES"}},
		{"breaker timeout", map[string]string{"REFERSION_BREAKER_OPEN_TIMEOUT": "-5s"}, []string{"REFERSION_BREAKER_OPEN_TIMEOUT"}},
		{"negative rate", map[string]string{"REFERSION_RATE_LIMIT": "-1"}, []string{"REFERSION_RATE_LIMIT"}},
		{"rate without burst", map[string]string{"REFERSION_RATE_LIMIT": "5", "REFERSION_RATE_BURST": "0"}, []string{"REFERSION_RATE_BURST"}},
		{"no order events", map[string]string{"ORDER_EVENTS": " , "}, []string{"ORDER_EVENTS is empty"}},
		{"no cart sources", map[string]string{"CART_ID_SOURCES": ","}, []string{"CART_ID_SOURCES is empty"}},
		{"nested cart source", map[string]string{"CART_ID_SOURCES": "cart.id"}, []string{"CART_ID_SOURCES", `"cart.id"`}},
		{"currency", map[string]string{"DEFAULT_CURRENCY": "US$"}, []string{"DEFAULT_CURRENCY", "USD"}},
		{"currency not in ISO 4217", map[string]string{"DEFAULT_CURRENCY": "abc"}, []string{"DEFAULT_CURRENCY", `"ABC"`, "ISO 4217"}},
		{"cart source with space", map[string]string{"CART_ID_SOURCES": "cart_id, cart id"}, []string{"CART_ID_SOURCES", `"cart id"`}},
		{"backend", map[string]string{"STATE_BACKEND": "postgres"}, []string{"STATE_BACKEND", "memory, disk, redis"}},
		{"no state dir", map[string]string{"STATE_DIR": " "}, []string{"STATE_DIR is empty", "STATE_DIR=./refersion-relay-state"}},
		{"redis without url", map[string]string{"STATE_BACKEND": "redis"}, []string{"REDIS_URL is empty"}},
		{"redis bad url", map[string]string{"STATE_BACKEND": "redis", "REDIS_URL": "http://:pw9137@r:6379"}, []string{"REDIS_URL is not a redis://"}},
		{"redis url unused", map[string]string{"REDIS_URL": "redis://r:6379"}, []string{"REDIS_URL is set but STATE_BACKEND is disk"}},
		{"identity ttl", map[string]string{"IDENTITY_TTL": "0s"}, []string{"IDENTITY_TTL"}},
		{"sent ttl", map[string]string{"SENT_TTL": "-1h"}, []string{"SENT_TTL"}},
		{"memory entries", map[string]string{"STATE_MEMORY_MAX_ENTRIES": "0"}, []string{"STATE_MEMORY_MAX_ENTRIES"}},
		{"memory bytes", map[string]string{"STATE_MEMORY_MAX_BYTES": "65536"}, []string{"STATE_MEMORY_MAX_BYTES must be at least 1048576"}},
		{"admin addr", map[string]string{"ADMIN_ADDR": "9464"}, []string{"ADMIN_ADDR", "ADMIN_ADDR=:9464"}},
		{"log level", map[string]string{"LOG_LEVEL": "trace"}, []string{"LOG_LEVEL", "debug, info, warn, error"}},
		{"log format", map[string]string{"LOG_FORMAT": "logfmt"}, []string{"LOG_FORMAT"}},
		{"concurrency", map[string]string{"PIPELINE_CONCURRENCY": "0"}, []string{"PIPELINE_CONCURRENCY"}},
		{"drain", map[string]string{"DRAIN_TIMEOUT": "0s"}, []string{"DRAIN_TIMEOUT"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := mustLoad(t, validEnv(tc.env)).Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			problems := err.(interface{ Unwrap() []error }).Unwrap()
			if len(problems) != 1 {
				t.Fatalf("want 1 problem, got %d:\n%v", len(problems), err)
			}
			msg := problems[0].Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("problem %q does not contain %q", msg, w)
				}
			}
			if _, fix, ok := strings.Cut(msg, ": "); !ok || fix == "" {
				t.Errorf("problem %q has no fix after the colon", msg)
			}
			for _, s := range []string{testPublic, testSecret, "9137", "pw@", "FIXTURE"} {
				if strings.Contains(msg, s) {
					t.Errorf("problem %q reveals %q", msg, s)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	setenv(t, map[string]string{"LOG_LEVEL": "loud", "DRAIN_TIMEOUT": "0s"})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, name := range []string{"KAFKA_BROKERS", "KAFKA_TOPIC", "REFERSION_PUBLIC_KEY", "LOG_LEVEL", "DRAIN_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Validate error does not mention %s:\n%v", name, err)
		}
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 5 {
		t.Errorf("want 5 problems, got %d:\n%v", n, err)
	}
}

// TestValidateCatchesWhatTheMapperRejects: DEFAULT_CURRENCY=ABC is three
// letters but no ISO 4217 code, so mapping.New would refuse it when run
// builds the mapper; Validate reports it first, by the variable's name.
func TestValidateCatchesWhatTheMapperRejects(t *testing.T) {
	c := mustLoad(t, validEnv(map[string]string{"DEFAULT_CURRENCY": "ABC"}))
	if _, err := mapping.New(c.MapperOptions()); err == nil {
		t.Fatal("mapping.New accepts DEFAULT_CURRENCY=ABC; pick a code it rejects")
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted DEFAULT_CURRENCY=ABC")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "DEFAULT_CURRENCY ") || strings.Contains(msg, "DefaultCurrency") || strings.Contains(msg, "default currency") {
		t.Errorf("problem %q should name DEFAULT_CURRENCY, not the Go option", msg)
	}
}

// TestEveryMapperOptionHasAVariable: Validate names a mapper option by the
// variable of the same-named Mapping field, so each option needs one.
func TestEveryMapperOptionHasAVariable(t *testing.T) {
	o := reflect.TypeFor[mapping.Options]()
	for i := range o.NumField() {
		name := o.Field(i).Name
		f, ok := reflect.TypeFor[Mapping]().FieldByName(name)
		if _, tagged := f.Tag.Lookup("envconfig"); !ok || !tagged {
			t.Errorf("mapping.Options.%s has no config.Mapping.%s with an envconfig tag", name, name)
		}
	}
	// A problem about an option config does not know is kept as the stage wrote it.
	e := &mapping.OptionError{Option: "Unknown", Value: "v", Reason: "is bad", Fix: "fix it"}
	if got := stageProblems[Mapping](errors.Join(e)); len(got) != 1 || got[0] != error(e) {
		t.Errorf("stageProblems(unknown option) = %v", got)
	}
}

func TestPlainHTTPToAnotherMachineNeedsConsent(t *testing.T) {
	for url, ok := range map[string]bool{
		"http://127.0.0.1:8080/tracker/orders/paid":   true,
		"http://localhost/tracker/orders/paid":        true,
		"http://[::1]:9/x":                            true,
		"https://refersion.example/tracker":           true,
		"http://sandbox:8089/tracker/orders/paid":     false,
		"http://10.0.0.5/tracker/orders/paid":         false,
		"http://user:pw@relay.example/tracker/orders": false,
	} {
		c := mustLoad(t, validEnv(map[string]string{"REFERSION_URL": url}))
		err := c.Validate()
		if ok != (err == nil) {
			t.Errorf("%s: %v", url, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "REFERSION_ALLOW_INSECURE") || strings.Contains(err.Error(), "pw@")) {
			t.Errorf("%s: the error should say how to allow it, without the password: %v", url, err)
		}
		c.Refersion.AllowInsecure = true
		if err := c.Validate(); err != nil {
			t.Errorf("%s with REFERSION_ALLOW_INSECURE: %v", url, err)
		}
	}
}
