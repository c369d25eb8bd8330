package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/config"
)

// configEnv sets the variables these tests depend on; the rest keep their
// defaults as long as the test environment leaves them unset.
func configEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range []string{"KAFKA_BROKERS", "KAFKA_TOPIC", "REFERSION_PUBLIC_KEY", "REFERSION_SECRET_KEY", "REFERSION_API_KEY", "LOG_LEVEL",
		"REFERSION_URL", "STATE_BACKEND", "REDIS_URL", "DEFAULT_CURRENCY", "PIPELINE_CONCURRENCY", "KAFKA_TLS_ENABLED"} {
		t.Setenv(k, env[k])
		if _, ok := env[k]; !ok {
			if err := os.Unsetenv(k); err != nil { // unset, so that the default applies
				t.Fatal(err)
			}
		}
	}
}

func TestConfigMarkdownPrintsReadmeTable(t *testing.T) {
	var stdout strings.Builder
	if err := cmdConfig(context.Background(), []string{"--markdown"}, nil, &stdout, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != config.Markdown() {
		t.Error("--markdown does not print config.Markdown()")
	}
}

func TestConfigPrintsValidConfigMasked(t *testing.T) {
	configEnv(t, map[string]string{
		"KAFKA_BROKERS": "kafka-0:9092", "KAFKA_TOPIC": "events", "LOG_LEVEL": "info",
		"REFERSION_API_KEY": "pubFIXTURE.secFIXTURE",
	})
	var stdout strings.Builder
	if err := cmdConfig(context.Background(), nil, nil, &stdout, &strings.Builder{}); err != nil {
		t.Fatalf("config: %v", err)
	}
	out := stdout.String()
	if !strings.Contains(out, "KAFKA_TOPIC=events\n") || !strings.Contains(out, "REFERSION_SECRET_KEY=****\n") {
		t.Errorf("unexpected output:\n%s", out)
	}
	if strings.Contains(out, "secFIXTURE") {
		t.Errorf("output shows the secret key:\n%s", out)
	}
}

// TestConfigSaysWhatIsSetAndShowsThePublicKey: the variables set come
// first, then those taken from them, then the defaults; the public key is
// shown, the secret is not.
func TestConfigSaysWhatIsSetAndShowsThePublicKey(t *testing.T) {
	configEnv(t, map[string]string{
		"KAFKA_BROKERS": "kafka-0:9092", "KAFKA_TOPIC": "events", "REFERSION_API_KEY": "pubFIXTURE.secFIXTURE",
	})
	var stdout strings.Builder
	if err := cmdConfig(context.Background(), nil, nil, &stdout, &strings.Builder{}); err != nil {
		t.Fatalf("config: %v", err)
	}
	out := stdout.String()
	set, rest, ok1 := strings.Cut(out, "# not set, taken from the variables above")
	derived, defaults, ok2 := strings.Cut(rest, "# not set: defaults")
	if !ok1 || !ok2 || !strings.HasPrefix(set, "# set in the environment (3)\n") {
		t.Fatalf("output not grouped by source:\n%s", out)
	}
	for _, c := range []struct{ group, line string }{
		{set, "KAFKA_TOPIC=events"}, {set, "REFERSION_API_KEY=pubFIXTURE.****"},
		{derived, "KAFKA_DLQ_TOPIC=events.refersion-dlq"}, {derived, "REFERSION_PUBLIC_KEY=pubFIXTURE"}, {derived, "REFERSION_SECRET_KEY=****"},
		{defaults, "KAFKA_GROUP_ID=refersion-relay"}, {defaults, "STATE_BACKEND=disk"},
	} {
		if !strings.Contains(c.group, "\n"+c.line+"\n") {
			t.Errorf("%q is not in its group:\n%s", c.line, out)
		}
	}
	if strings.Contains(out, "secFIXTURE") {
		t.Errorf("output shows the secret key:\n%s", out)
	}
}

func TestConfigFailsListingEveryProblem(t *testing.T) {
	configEnv(t, map[string]string{"KAFKA_TOPIC": "events", "REFERSION_SECRET_KEY": "secFIXTURE", "LOG_LEVEL": "loud"})
	var stdout strings.Builder
	err := cmdConfig(context.Background(), nil, nil, &stdout, &strings.Builder{})
	if err == nil {
		t.Fatal("config accepted an invalid configuration")
	}
	for _, want := range []string{"invalid", "\n  - KAFKA_BROKERS", "\n  - REFERSION_PUBLIC_KEY", "\n  - LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !strings.Contains(stdout.String(), "LOG_LEVEL=loud\n") || strings.Contains(stdout.String()+err.Error(), "FIXTURE") {
		t.Errorf("stdout should show the configuration, masked:\n%s", stdout.String())
	}
}

func TestConfigMasksURLCredentials(t *testing.T) {
	configEnv(t, map[string]string{
		"KAFKA_BROKERS": "kafka-0:9092", "KAFKA_TOPIC": "events",
		"REFERSION_API_KEY": "pubFIXTURE.secFIXTURE",
		"REFERSION_URL":     "http://relay:pwFIXTURE@sandbox:8080/tracker/orders/paid",
		"STATE_BACKEND":     "redis",
		"REDIS_URL":         "relay:pwFIXTURE@redis:6379", // scheme-less: also a problem
	})
	var stdout strings.Builder
	err := cmdConfig(context.Background(), nil, nil, &stdout, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "\n  - REDIS_URL is not a redis://") {
		t.Errorf("want the scheme-less REDIS_URL reported, got %v", err)
	}
	out := stdout.String()
	for _, want := range []string{"REFERSION_URL=http://relay:xxxxx@sandbox:8080/tracker/orders/paid\n", "REDIS_URL=relay:xxxxx@redis:6379\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+err.Error(), "pwFIXTURE") || strings.Contains(out+err.Error(), "secFIXTURE") {
		t.Errorf("output shows a credential:\n%s\n%v", out, err)
	}
}

func TestConfigListsEveryParseError(t *testing.T) {
	configEnv(t, map[string]string{"PIPELINE_CONCURRENCY": "abcFIXTURE", "KAFKA_TLS_ENABLED": "maybe"})
	var stdout strings.Builder
	err := cmdConfig(context.Background(), nil, nil, &stdout, &strings.Builder{})
	if err == nil {
		t.Fatal("config accepted values that do not parse")
	}
	for _, want := range []string{"(2 problems)", "\n  - KAFKA_TLS_ENABLED is not true or false", "\n  - PIPELINE_CONCURRENCY is not a whole number"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "FIXTURE") {
		t.Errorf("error quotes a value:\n%v", err)
	}
}

// TestConfigRejectsWhatRunWould: run builds the mapper from the
// configuration, and mapping.New rejects DEFAULT_CURRENCY=ABC, so config
// must fail too.
func TestConfigRejectsWhatRunWould(t *testing.T) {
	configEnv(t, map[string]string{
		"KAFKA_BROKERS": "kafka-0:9092", "KAFKA_TOPIC": "events",
		"REFERSION_API_KEY": "pubFIXTURE.secFIXTURE", "DEFAULT_CURRENCY": "ABC",
	})
	err := cmdConfig(context.Background(), nil, nil, &strings.Builder{}, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "\n  - DEFAULT_CURRENCY ") {
		t.Errorf("want DEFAULT_CURRENCY=ABC reported, got %v", err)
	}
}
