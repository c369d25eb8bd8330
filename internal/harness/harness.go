// Package harness runs the refersion-relay binary as separate processes
// against an in-process broker and sandbox, for the end-to-end tests, the
// chaos suite and the benchmarks. Everything listens on loopback.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/demo"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/storefront"
)

// Topic names of a World.
const (
	Topic    = "events"
	DLQTopic = "events.refersion-dlq"
	Group    = "relay"
)

// Build compiles the relay into dir, as `make build` does (no cgo: a
// static binary, as the image's), and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "refersion-relay")
	_, here, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/refersion-relay")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Dir = filepath.Join(filepath.Dir(here), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building refersion-relay: %v\n%s", err, out)
	}
	return bin, nil
}

// World is a broker, a sandbox and what was produced to the source topic.
type World struct {
	Broker  *broker.Broker
	Sandbox *sandbox.Server
	// Valid holds the order_ids of the valid orders produced.
	Valid map[string]bool
	// Invalid counts the invalid order events produced; Bad the other
	// messages produced to be dead-lettered (malformed, oversized, ...).
	Invalid, Bad     int
	Events, Messages int
	closers          []func()
}

// NewWorld starts a broker (4 partitions, messages up to 4 MiB) and a sandbox
// with sb's faults and DefaultKeys. Close stops both.
func NewWorld(sb sandbox.Options) (*World, error) {
	sb.Keys = sandbox.DefaultKeys
	return NewWorldWith(Options{Partitions: 4, MaxMessageBytes: 4 << 20, Sandbox: sb})
}

// Options shape a World. Zero fields take the broker's and sandbox's
// defaults (1 partition, the broker's 1 MiB message limit).
type Options struct {
	Partitions      int // of Topic; DLQTopic has 1
	MaxMessageBytes int
	Sandbox         sandbox.Options
}

// NewWorldWith starts a broker with Topic and DLQTopic and a sandbox, on
// loopback. It is the one rig of broker and sandbox the tests share.
func NewWorldWith(o Options) (*World, error) {
	ctx, cancel := context.WithCancel(context.Background())
	b, err := broker.Start(ctx, broker.Options{MaxMessageBytes: o.MaxMessageBytes,
		Topics: []broker.Topic{{Name: Topic, Partitions: max(o.Partitions, 1)}, {Name: DLQTopic, Partitions: 1}}})
	if err != nil {
		cancel()
		return nil, err
	}
	s := sandbox.New(o.Sandbox)
	if err := s.Start(); err != nil {
		b.Close()
		cancel()
		return nil, err
	}
	w := &World{Broker: b, Sandbox: s, Valid: map[string]bool{}}
	w.closers = append(w.closers, func() { s.Close() }, b.Close, cancel)
	return w, nil
}

// StartWorld is NewWorldWith for a test: it fails tb on error and closes the
// world when tb ends.
func StartWorld(tb testing.TB, o Options) *World {
	tb.Helper()
	w, err := NewWorldWith(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(w.Close)
	return w
}

// Close stops the sandbox and the broker.
func (w *World) Close() {
	for _, c := range w.closers {
		c()
	}
}

// Produce writes a generated stream of n events (10% batch envelopes).
func (w *World) Produce(n int, seed int64) error {
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Batch = n, seed, 0.1
	_, err := w.ProduceWith(o)
	return err
}

// ProduceWith writes the stream o generates and returns the generator (its
// Counts and, with refunds, Survivors).
func (w *World) ProduceWith(o storefront.Options) (*storefront.Generator, error) {
	g, err := storefront.New(o)
	if err != nil {
		return nil, err
	}
	return g, w.produce(g)
}

func (w *World) produce(g *storefront.Generator) error {
	var msgs []kafka.Message
	for {
		l, ok := g.Next()
		if !ok {
			break
		}
		msgs = append(msgs, kafka.Message{Key: []byte(l.Events[0].AnonymousID), Value: bytes.Clone(l.Data)})
		for _, e := range l.Events {
			w.Events++
			switch e.Kind {
			case storefront.OrderValid:
				w.Valid[e.OrderID] = true
			case storefront.OrderInvalid:
				w.Invalid++
			}
		}
	}
	w.Messages += len(msgs)
	return w.write(msgs...)
}

// ProduceBad writes messages that must each be dead-lettered.
func (w *World) ProduceBad(values ...[]byte) error {
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Value: v}
	}
	w.Bad += len(values)
	w.Events += len(values)
	w.Messages += len(values)
	for _, m := range msgs { // one batch each: an oversized one must not fail the others
		if err := w.write(m); err != nil {
			return err
		}
	}
	return nil
}

func (w *World) write(msgs ...kafka.Message) error {
	kw := &kafka.Writer{Addr: kafka.TCP(w.Broker.Addr()), Topic: Topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, BatchBytes: 4 << 20, BatchSize: 1000}
	defer kw.Close()
	return kw.WriteMessages(context.Background(), msgs...)
}

// Env is the relay's environment for this world, on top of the process's.
func (w *World) Env(extra ...string) []string {
	return append(append(os.Environ(),
		"KAFKA_BROKERS="+w.Broker.Addr(), "KAFKA_TOPIC="+Topic, "KAFKA_GROUP_ID="+Group,
		"KAFKA_SESSION_TIMEOUT=6s", "KAFKA_HEARTBEAT_INTERVAL=300ms", "KAFKA_MAX_WAIT=100ms", "KAFKA_REBALANCE_TIMEOUT=10s",
		"KAFKA_COMMIT_INTERVAL=100ms",
		"REFERSION_URL="+w.Sandbox.Endpoint(), "REFERSION_API_KEY="+sandbox.DefaultKeys,
		"REFERSION_RETRY_INITIAL_BACKOFF=10ms", "REFERSION_RETRY_MAX_BACKOFF=500ms", "REFERSION_BREAKER_OPEN_TIMEOUT=500ms",
		"STATE_BACKEND=memory", "ADMIN_ADDR=127.0.0.1:0", "LOG_LEVEL=warn", "DRAIN_TIMEOUT=5s",
	), extra...)
}

// Accepted returns the sandbox's accepted order_ids with how often each came.
func (w *World) Accepted() (map[string]int, error) { return countOrders(w.Sandbox.Orders()) }

// AcceptedBy is Accepted for the orders sent with one public key (one
// account of a sandbox with several key pairs).
func (w *World) AcceptedBy(publicKey string) (map[string]int, error) {
	return countOrders(w.Sandbox.OrdersFor(publicKey))
}

// countOrders counts accepted payloads by order_id.
func countOrders(payloads []json.RawMessage) (map[string]int, error) {
	out := map[string]int{}
	for _, raw := range payloads {
		var o struct {
			OrderID string `json:"order_id"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		out[o.OrderID]++
	}
	return out, nil
}

// Lag is what the relay's group has not committed of the source topic, or
// -1 when the broker cannot say.
func (w *World) Lag() int64 { return demo.Lag(w.Broker.Addr(), Topic, Group) }

// DeadLetters reads the whole dead-letter topic.
func (w *World) DeadLetters(ctx context.Context) ([]deadletter.Record, error) {
	c := &kafka.Client{Addr: kafka.TCP(w.Broker.Addr()), Timeout: 5 * time.Second}
	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{DLQTopic: {kafka.LastOffsetOf(0)}}})
	if err != nil {
		return nil, err
	}
	end := lo.Topics[DLQTopic][0].LastOffset
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{w.Broker.Addr()}, Topic: DLQTopic, Partition: 0, MaxWait: 100 * time.Millisecond, MaxBytes: 8 << 20})
	defer rd.Close()
	var out []deadletter.Record
	for int64(len(out)) < end {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			return nil, err
		}
		d, err := deadletter.Parse(m)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ValidByStore regenerates o's stream and returns each store's valid
// order_ids (a stream of several stores; "" is the store of a one-store
// stream).
func ValidByStore(o storefront.Options) (map[string]map[string]bool, error) {
	g, err := storefront.New(o)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]bool{}
	for {
		l, ok := g.Next()
		if !ok {
			return out, nil
		}
		for _, e := range l.Events {
			if e.Kind == storefront.OrderValid {
				if out[e.Store] == nil {
					out[e.Store] = map[string]bool{}
				}
				out[e.Store][e.OrderID] = true
			}
		}
	}
}
