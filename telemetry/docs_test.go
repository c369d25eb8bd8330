package telemetry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

const (
	readme    = "../README.md"
	dashboard = "../deploy/observability/dashboard.json"
	alerts    = "../deploy/observability/alerts.yml"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// everyFamily scrapes a Telemetry with every instrument fed once.
func everyFamily(t *testing.T) families {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := broker.Start(ctx, broker.Options{Topics: []broker.Topic{{Name: "events", Partitions: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tel, err := telemetry.Setup(ctx, telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	observe, err := tel.AttemptObserver("https://refersion.test/tracker/orders/paid")
	if err != nil {
		t.Fatal(err)
	}
	observe(sink.Attempt{Status: 200, Kind: failure.KindDelivered, Duration: time.Millisecond})
	ids, err := tel.CountIdentities(memory.NewIdentities(memory.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _ = ids.Lookup(ctx, "nobody")
	err = tel.Observe(telemetry.Sources{
		Stats: func() pipeline.Snapshot {
			return pipeline.Snapshot{DeadLettered: map[string]int64{"invalid": 1}, Dropped: map[string]int64{"page": 1}}
		},
		Ready:   func() (bool, string) { return true, "" },
		Breaker: func() sink.BreakerState { return sink.BreakerClosed },
		Lanes: func() []pipeline.LaneState {
			return []pipeline.LaneState{{Account: "brand-a", Lane: "orders", Open: true, Done: 3}, {Account: "brand-a", Lane: "cancels", Held: 2}}
		},
		Kafka: &kafka.Client{Addr: kafka.TCP(b.Addr()), Timeout: 5 * time.Second}, Topic: "events", Group: "g",
	})
	if err != nil {
		t.Fatal(err)
	}
	return scrape(t, serveMetrics(t, tel.MetricsHandler()))
}

func TestEveryMetricIsDocumentedAndOnTheDashboard(t *testing.T) {
	doc, dash := read(t, readme), read(t, dashboard)
	f := everyFamily(t)
	n := 0
	for name := range f {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		n++
		if !strings.Contains(doc, "| `"+name+"` |") {
			t.Errorf("metric %s has no row in the README's metric table", name)
		}
		if name != "target_info" && !strings.Contains(dash, name) {
			t.Errorf("metric %s is on no panel of %s", name, dashboard)
		}
	}
	if n < 18 {
		t.Errorf("only %d metrics scraped; some instruments were not fed: %v", n, names(f))
	}
}

func names(f families) []string {
	var out []string
	for name := range f {
		out = append(out, name)
	}
	return out
}

func TestEveryAlertHasARunbookLine(t *testing.T) {
	doc := read(t, readme)
	names := regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(read(t, alerts), -1)
	if len(names) < 5 {
		t.Fatalf("%d alerts found in %s", len(names), alerts)
	}
	for _, m := range names {
		if !strings.Contains(doc, "| `"+m[1]+"` |") {
			t.Errorf("alert %s has no runbook line in the README", m[1])
		}
	}
}

// TestDashboardQueriesParse hands every panel query to promtool as a
// recording rule, with Grafana's variables filled in. `make test` installs
// promtool first; without it the test is skipped.
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (make test installs it)")
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(read(t, dashboard)), &d); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("$__rate_interval", "5m", "$group", ".*", "$instance", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			n++
			q, _ := json.Marshal(fill.Replace(tg.Expr))
			fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", n, q)
		}
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("a dashboard query does not parse: %v\n%s", err, out)
	}
}
