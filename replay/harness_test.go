package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/replay"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/storefront"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

const (
	topic    = harness.Topic
	dlqTopic = harness.DLQTopic
)

type rig struct {
	t      *testing.T
	broker *broker.Broker
	valid  map[string]bool
	// invalid counts the stream's invalid orders.
	invalid int
}

func newRig(t *testing.T) *rig {
	w := harness.StartWorld(t, harness.Options{Partitions: 2})
	return &rig{t: t, broker: w.Broker, valid: map[string]bool{}}
}

// produce writes a generated stream whose messages carry time at.
func (r *rig) produce(n int, seed int64, at time.Time) map[string]bool {
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Batch = n, seed, 0.1
	g, err := storefront.New(o)
	if err != nil {
		r.t.Fatal(err)
	}
	ids := map[string]bool{}
	var msgs []kafka.Message
	for {
		l, ok := g.Next()
		if !ok {
			break
		}
		msgs = append(msgs, kafka.Message{Key: []byte(l.Events[0].AnonymousID), Value: bytes.Clone(l.Data), Time: at})
		for _, e := range l.Events {
			switch e.Kind {
			case storefront.OrderValid:
				ids[e.OrderID], r.valid[e.OrderID] = true, true
			case storefront.OrderInvalid:
				r.invalid++
			}
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(r.broker.Addr()), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		r.t.Fatal(err)
	}
	return ids
}

func newSandbox(t *testing.T, o sandbox.Options) *sandbox.Server {
	o.Keys = sandbox.DefaultKeys
	s := sandbox.New(o)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newSink(t *testing.T, s *sandbox.Server, store store.Sent) *sink.Refersion {
	k, _ := sink.ParseKeys(sandbox.DefaultKeys)
	snk, err := sink.New(sink.Config{Endpoint: s.Endpoint(), Keys: k,
		Retry: sink.RetryConfig{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond, MaxElapsed: time.Second}},
		store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snk.Close)
	return snk
}

// deadLetterAll runs the pipeline against a sandbox that rejects every
// order, until the whole topic is committed.
func (r *rig) deadLetterAll() {
	s := newSandbox(r.t, sandbox.Options{RejectAll: true})
	dlq := deadletter.NewKafka([]string{r.broker.Addr()}, dlqTopic, nil)
	defer dlq.Close()
	p, err := pipeline.New(pipeline.Config{Brokers: []string{r.broker.Addr()}, Topic: topic, GroupID: "relay",
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond},
		mapping.MustNew(mapping.Options{}), newSink(r.t, s, memory.NewSent(memory.Options{})), memory.NewIdentities(memory.Options{}), dlq)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	c := &kafka.Client{Addr: kafka.TCP(r.broker.Addr()), Timeout: 5 * time.Second}
	waitFor(r.t, "the stream to be dead-lettered", func() bool {
		lag, err := telemetry.GroupLag(context.Background(), c, topic, "relay")
		if err != nil {
			return false
		}
		for _, l := range lag {
			if l != 0 {
				return false
			}
		}
		return true
	})
	cancel()
	if err := <-done; err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) replayer(s *sandbox.Server, store store.Sent) *replay.Replayer {
	dlq := deadletter.NewKafka([]string{r.broker.Addr()}, dlqTopic, nil)
	r.t.Cleanup(func() { dlq.Close() })
	return &replay.Replayer{Mapper: mapping.MustNew(mapping.Options{}), Sink: newSink(r.t, s, store), Sent: store,
		Identities: memory.NewIdentities(memory.Options{}), DeadLetters: dlq}
}

func (r *rig) dlqSource() replay.Source {
	src, err := replay.OpenKafka(context.Background(), replay.KafkaOptions{Brokers: []string{r.broker.Addr()}, Topic: dlqTopic, DeadLetters: true})
	if err != nil {
		r.t.Fatal(err)
	}
	return src
}

func accepted(t *testing.T, s *sandbox.Server) map[string]int {
	out := map[string]int{}
	for _, raw := range s.Orders() {
		var o struct {
			OrderID string `json:"order_id"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		out[o.OrderID]++
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
