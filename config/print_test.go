package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestPrintListsEveryVariableInTableOrder(t *testing.T) {
	c := mustLoad(t, validEnv(map[string]string{"KAFKA_SASL_PASSWORD": "pw9137"}))
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	all := vars()
	if len(lines) != len(all) {
		t.Fatalf("%d lines for %d variables:\n%s", len(lines), len(all), b.String())
	}
	for i, v := range all {
		if !strings.HasPrefix(lines[i], v.Name+"=") {
			t.Errorf("line %d = %q, want %s=...", i, lines[i], v.Name)
		}
	}
	for _, want := range []string{
		"KAFKA_BROKERS=kafka-0:9092\n",
		"KAFKA_DLQ_TOPIC=segment-events.refersion-dlq\n",
		"KAFKA_SASL_PASSWORD=****\n",
		"REFERSION_PUBLIC_KEY=" + testPublic + "\n",
		"REFERSION_SECRET_KEY=****\n",
		"REFERSION_API_KEY=\n",
		"ORDER_EVENTS=Order Completed,Completed Order\n",
		"IDENTITY_TTL=2160h\n",
		"REFERSION_RETRY_MAX_ELAPSED=2m\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Print output lacks %q", want)
		}
	}
}

func TestPrintShowsThePublicPartOfTheAPIKey(t *testing.T) {
	c := mustLoad(t, validEnv(map[string]string{"REFERSION_PUBLIC_KEY": "", "REFERSION_SECRET_KEY": "", "REFERSION_API_KEY": "pub42.sec9137"}))
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"REFERSION_API_KEY=pub42.****\n", "REFERSION_PUBLIC_KEY=pub42\n", "REFERSION_SECRET_KEY=****\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Print output lacks %q", want)
		}
	}
	if strings.Contains(b.String(), "9137") {
		t.Errorf("Print shows the secret key:\n%s", b.String())
	}
}

// TestPrintSourcesGroupsSetDerivedAndDefault: set variables first, then
// those Load derives from them, then defaults; nothing is derived from an
// environment with nothing set.
func TestPrintSourcesGroupsSetDerivedAndDefault(t *testing.T) {
	env := map[string]string{"KAFKA_BROKERS": "kafka-0:9092", "KAFKA_TOPIC": "segment-events", "REFERSION_API_KEY": "pub42.sec9137", "LOG_LEVEL": "debug"}
	c := mustLoad(t, env)
	var b strings.Builder
	if err := c.PrintSources(&b, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	set, rest, _ := strings.Cut(b.String(), "\n\n# not set, taken from the variables above (3)\n")
	derived, defaults, _ := strings.Cut(rest, "\n\n# not set: defaults (")
	if !strings.HasPrefix(set, "# set in the environment (4)\n") {
		t.Fatalf("groups:\n%s", b.String())
	}
	for group, want := range map[string][]string{
		set:      {"KAFKA_BROKERS=kafka-0:9092", "LOG_LEVEL=debug", "REFERSION_API_KEY=pub42.****"},
		derived:  {"KAFKA_DLQ_TOPIC=segment-events.refersion-dlq", "REFERSION_PUBLIC_KEY=pub42", "REFERSION_SECRET_KEY=****"},
		defaults: {"KAFKA_GROUP_ID=refersion-relay", "DRAIN_TIMEOUT=25s", "REDIS_URL="},
	} {
		for _, w := range want {
			if !strings.Contains("\n"+group+"\n", "\n"+w+"\n") {
				t.Errorf("%q is not in its group:\n%s", w, b.String())
			}
		}
	}

	b.Reset()
	if err := mustLoad(t, nil).PrintSources(&b, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "# not set: defaults (") || strings.Count(b.String(), "#") != 1 {
		t.Errorf("with nothing set, every variable is a default:\n%s", b.String())
	}
}

// TestPrintOutputLoadsBack feeds Print's output back as the environment: the
// effective configuration must read back unchanged.
func TestPrintOutputLoadsBack(t *testing.T) {
	first := mustLoad(t, validEnv(map[string]string{"REFERSION_PUBLIC_KEY": "", "REFERSION_SECRET_KEY": "", "REFERSION_RATE_LIMIT": "2.5"}))
	var b strings.Builder
	if err := first.Print(&b); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	second := mustLoad(t, env)
	if !reflect.DeepEqual(first, second) {
		t.Errorf("loaded back differently:\n%+v\n%+v", first, second)
	}
}

func TestEveryFieldHasNameDefaultAndDescription(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range vars() {
		f := reflect.TypeFor[Config]().FieldByIndex(v.index)
		if _, ok := f.Tag.Lookup("default"); !ok || v.Desc == "" {
			t.Errorf("%s (%s) needs both a default and a desc tag", v.Name, f.Name)
		}
		if v.Name != strings.ToUpper(v.Name) || strings.ContainsAny(v.Name, " -") {
			t.Errorf("%s is not upper snake case", v.Name)
		}
		if seen[v.Name] {
			t.Errorf("%s is declared twice", v.Name)
		}
		seen[v.Name] = true
	}
}

func TestReadmeTableIsCurrent(t *testing.T) {
	const begin, end = "<!-- config:begin -->\n", "<!-- config:end -->"
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(b), begin)
	got, _, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("README.md lacks the lines %q and %q around the configuration table", strings.TrimSpace(begin), end)
	}
	if got != Markdown() {
		t.Errorf("README.md's configuration table is stale: run `make docs` (or paste the output of `go run ./cmd/refersion-relay config --markdown` between %s and %s)", strings.TrimSpace(begin), end)
	}
}
