package telemetry_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/storefront"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

const (
	topic, dlqTopic, group = "events", "events.refersion-dlq", "g-metrics"
	partitions             = 3
)

// stream writes a generated storefront stream to the broker's topic and
// returns its counts and how many Kafka messages it took.
func stream(t *testing.T, b *broker.Broker) (storefront.Counts, int) {
	t.Helper()
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Orders, o.Invalid, o.Aliases, o.Batch, o.Users = 3000, 5, 0.1, 0.2, 0.01, 0.1, 100
	g, err := storefront.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	for l, ok := g.Next(); ok; l, ok = g.Next() {
		msgs = append(msgs, kafka.Message{Key: []byte(l.Events[0].AnonymousID), Value: bytes.Clone(l.Data)})
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	return g.Counts(), len(msgs)
}

func TestMetricsAfterAStreamEqualItsCounts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	world := harness.StartWorld(t, harness.Options{Partitions: partitions})
	b, sb := world.Broker, world.Sandbox
	counts, messages := stream(t, b)
	events := counts.Page + counts.TrackOther + counts.Identify + counts.OrderValid + counts.OrderInvalid + counts.Alias

	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceVersion: "v-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	observe, err := tel.AttemptObserver(sb.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := sink.ParseKeys(sandbox.DefaultKeys)
	s, err := sink.New(sink.Config{Endpoint: sb.Endpoint(), Keys: keys}, memory.NewSent(memory.Options{}), sink.WithAttemptObserver(observe))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	store := memory.NewIdentities(memory.Options{})
	ids, err := tel.CountIdentities(store)
	if err != nil {
		t.Fatal(err)
	}
	dlq := deadletter.NewKafka([]string{b.Addr()}, dlqTopic, nil)
	defer dlq.Close()
	p, err := pipeline.New(pipeline.Config{
		Brokers: []string{b.Addr()}, Topic: topic, GroupID: group,
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RebalanceTimeout: 6 * time.Second, DrainTimeout: 5 * time.Second,
	}, mapping.MustNew(mapping.Options{}), s, ids, dlq)
	if err != nil {
		t.Fatal(err)
	}
	err = tel.Observe(telemetry.Sources{Stats: p.Stats, Ready: p.Ready, Breaker: s.BreakerState,
		Kafka: &kafka.Client{Addr: kafka.TCP(b.Addr()), Timeout: 5 * time.Second}, Topic: topic, Group: group,
		LagEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	url := serveMetrics(t, tel.MetricsHandler())

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() { stop(); <-done }()

	// The stream is done when the group has committed everything: lag 0.
	var f families
	deadline := time.Now().Add(60 * time.Second)
	for {
		f = scrape(t, url)
		lag, ok := f.sum("refersion_relay_consumer_lag", nil)
		consumed, _ := f.sum("refersion_relay_events_consumed_total", nil)
		if ok && lag == 0 && len(f.series("refersion_relay_consumer_lag")) == partitions && int(consumed) == events {
			// One collection may read the counters before it probes the
			// lag; a scrape after lag 0 was seen reads them complete.
			f = scrape(t, url)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream not done after 60s: lag %v, events %v of %d", lag, consumed, events)
		}
		time.Sleep(20 * time.Millisecond)
	}

	type L = map[string]string
	for _, c := range []struct {
		name   string
		labels L
		want   int
	}{
		{"messaging_client_consumed_messages_total", L{"messaging_system": "kafka", "messaging_destination_name": topic, "messaging_consumer_group_name": group}, messages},
		{"refersion_relay_events_consumed_total", nil, events},
		{"refersion_relay_events_consumed_total", L{"refersion_event_type": "order", "refersion_outcome": "processed"}, counts.OrderValid + counts.OrderInvalid},
		{"refersion_relay_events_consumed_total", L{"refersion_event_type": "identify", "refersion_outcome": "applied"}, counts.Identify},
		{"refersion_relay_events_consumed_total", L{"refersion_event_type": "alias", "refersion_outcome": "applied"}, counts.Alias},
		{"refersion_relay_events_consumed_total", L{"refersion_event_type": "page", "refersion_outcome": "dropped"}, counts.Page},
		{"refersion_relay_events_consumed_total", L{"refersion_event_type": "track", "refersion_outcome": "dropped"}, counts.TrackOther},
		{"refersion_relay_events_consumed_total", L{"refersion_outcome": "dead_lettered"}, 0},
		{"refersion_relay_orders_total", L{"refersion_outcome": "delivered"}, counts.OrderValid},
		{"refersion_relay_orders_total", L{"refersion_outcome": "invalid"}, counts.OrderInvalid},
		{"refersion_relay_orders_total", L{"refersion_outcome": "skipped"}, 0},
		{"refersion_relay_orders_total", L{"refersion_outcome": "rejected"}, 0},
		{"refersion_relay_dead_letter_writes_total", nil, counts.OrderInvalid},
		{"refersion_relay_dead_letter_writes_total", L{"refersion_reason": "invalid"}, counts.OrderInvalid},
		{"refersion_relay_dead_letter_write_failures_total", nil, 0},
		{"refersion_relay_delivery_attempts_total", nil, counts.OrderValid},
		{"refersion_relay_delivery_attempts_total", L{"refersion_outcome": "delivered"}, counts.OrderValid},
		{"http_client_request_duration_seconds", L{"http_request_method": "POST", "server_address": "127.0.0.1"}, counts.OrderValid},
		{"refersion_relay_orders_redone_total", nil, 0},
		{"refersion_relay_commit_failures_total", nil, 0},
		{"refersion_relay_fetch_errors_total", nil, 0},
		{"refersion_relay_identity_errors_total", nil, 0},
		{"refersion_relay_identity_lookups_total", L{"refersion_outcome": "error"}, 0},
		{"refersion_relay_identity_store_size", nil, store.Len()},
		{"refersion_relay_breaker_state", L{"refersion_breaker_state": "closed"}, 1},
		{"refersion_relay_breaker_state", nil, 1},
		{"refersion_relay_in_flight", nil, 0},
		{"refersion_relay_ready", nil, 1},
		{"target_info", L{"service_name": "refersion-relay", "service_version": "v-test"}, 1},
	} {
		got, ok := f.sum(c.name, c.labels)
		if !ok || got != float64(c.want) {
			t.Errorf("%s%v = %v (present %v), want %d", c.name, c.labels, got, ok, c.want)
		}
	}
	hits, _ := f.sum("refersion_relay_identity_lookups_total", map[string]string{"refersion_outcome": "hit"})
	misses, _ := f.sum("refersion_relay_identity_lookups_total", map[string]string{"refersion_outcome": "miss"})
	if hits == 0 || misses == 0 {
		t.Errorf("identity lookups: %v hits, %v misses; want both, from a stream of returning and new visitors", hits, misses)
	}
	if counts.OrderValid == 0 || counts.OrderInvalid == 0 || counts.Alias == 0 {
		t.Fatalf("the stream lacks a kind of event: %+v", counts)
	}
}
