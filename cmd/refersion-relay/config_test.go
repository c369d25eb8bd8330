package main

import (
	"context"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/config"
)

// configEnv sets the variables these tests depend on; the rest keep their
// defaults as long as the test environment leaves them unset.
func configEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range []string{"KAFKA_BROKERS", "KAFKA_TOPIC", "REFERSION_PUBLIC_KEY", "REFERSION_SECRET_KEY", "REFERSION_API_KEY", "LOG_LEVEL"} {
		t.Setenv(k, env[k])
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
	if strings.Contains(out, "FIXTURE") {
		t.Errorf("output shows a key:\n%s", out)
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
