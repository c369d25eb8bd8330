package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state"
)

// runEnv starts a broker holding topics (others are created on first use,
// as by brokers that auto-create) and a sandbox, and points run at them.
func runEnv(t *testing.T, topic string, topics ...broker.Topic) (*broker.Broker, *sandbox.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := broker.Start(ctx, broker.Options{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	s := sandbox.New(sandbox.Options{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	configEnv(t, map[string]string{"KAFKA_BROKERS": b.Addr(), "KAFKA_TOPIC": topic, "REFERSION_URL": s.Endpoint(),
		"REFERSION_API_KEY": sandbox.DefaultKeys, "STATE_BACKEND": "memory"})
	t.Setenv("ADMIN_ADDR", "127.0.0.1:0")
	t.Setenv("LOG_FORMAT", "json")
	return b, s
}

// TestRunFailsWhenTheTopicDoesNotExist: a typo in KAFKA_TOPIC is an error
// naming it, and the broker, which creates topics on first use, is not made
// to create it.
func TestRunFailsWhenTheTopicDoesNotExist(t *testing.T) {
	b, _ := runEnv(t, "segment-evnets", broker.Topic{Name: "segment-events", Partitions: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmdRun(ctx, nil, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "KAFKA_TOPIC segment-evnets does not exist on "+b.Addr()) {
		t.Fatalf("run: %v", err)
	}
	md, err := (&kafka.Client{Addr: kafka.TCP(b.Addr())}).Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range md.Topics {
		if tp.Name == "segment-evnets" {
			t.Error("the check created the topic")
		}
	}
}

// TestRunSaysWhereOrdersGoAndWhenItDrains: the start line names the
// destination (host and path, no credentials) and the state backend; on
// SIGTERM (ctx ending) one line says the drain began, before the stop line.
func TestRunSaysWhereOrdersGoAndWhenItDrains(t *testing.T) {
	runEnv(t, "events", broker.Topic{Name: "events", Partitions: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- cmdRun(ctx, nil, nil, io.Discard, pw)
		pw.Close()
	}()
	lines := make(chan map[string]any)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	next := func(msg string) map[string]any {
		t.Helper()
		for m := range lines {
			if m["msg"] == msg {
				return m
			}
			if strings.HasPrefix(msg, "stopping") && m["msg"] == "refersion-relay stopped" {
				t.Fatalf("stopped without saying it drains first")
			}
		}
		t.Fatalf("no %q line (run: %v)", msg, <-done)
		return nil
	}
	started := next("refersion-relay started")
	if d := started["destination"]; !strings.HasPrefix(d.(string), "http://127.0.0.1:") || !strings.HasSuffix(d.(string), sandbox.PaidOrderPath) {
		t.Errorf("destination %v", d)
	}
	if started["state"] != "memory" {
		t.Errorf("state %v", started["state"])
	}
	cancel()
	drain := next("stopping: draining work in flight (up to 25s)")
	if drain["drain_timeout"] == nil {
		t.Errorf("drain line %v", drain)
	}
	next("refersion-relay stopped")
	go func() {
		for range lines { // the rest, so that run's writes never block
		}
	}()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
}

func TestDestinationAndStateHideCredentials(t *testing.T) {
	if got := destination("https://user:pw@inbound-webhooks.refersion.com/tracker/orders/paid?key=x"); got != "https://inbound-webhooks.refersion.com/tracker/orders/paid" {
		t.Errorf("destination %q", got)
	}
	configEnv(t, map[string]string{"STATE_BACKEND": "redis", "REDIS_URL": "redis://:pw@redis-0:6379/0"})
	cfg := loadConfig(t)
	if got := stateDescription(cfg.State); got != "redis redis-0:6379" {
		t.Errorf("state %q", got)
	}
}

func loadConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRequestsCarryTheVersion: the User-Agent is refersion-relay/VERSION.
func TestRequestsCarryTheVersion(t *testing.T) {
	agents := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case agents <- r.UserAgent():
		default:
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	configEnv(t, map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "KAFKA_TOPIC": "events", "REFERSION_URL": srv.URL + "/tracker/orders/paid",
		"REFERSION_API_KEY": "pub.sec", "STATE_BACKEND": "memory"})
	cfg, err := config.Load()
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	stores, err := state.Open(context.Background(), cfg.State)
	if err != nil {
		t.Fatal(err)
	}
	defer stores.Close()
	defer func(v string) { version = v }(version)
	version = "v1.2.3"
	d, err := buildDestinations(cfg, stores, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.one().Send(context.Background(), mapping.Order{CartID: "c", OrderID: "o-1", CurrencyCode: "USD", Items: []mapping.Item{{SKU: "A", Price: "1", Quantity: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if ua := <-agents; ua != "refersion-relay/v1.2.3" {
		t.Errorf("User-Agent %q", ua)
	}
}
