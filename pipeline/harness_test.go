package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/storefront"
)

const (
	topic    = harness.Topic
	dlqTopic = harness.DLQTopic
)

// rig is a broker, a sandbox and a pipeline wired together over loopback.
type rig struct {
	t       *testing.T
	broker  *broker.Broker
	sandbox *sandbox.Server
	want    expected
}

// expected is what a generated stream must produce.
type expected struct {
	events, valid, invalid int
	validIDs               map[string]bool
	keys                   map[string]bool // of the messages produced
}

func newRig(t *testing.T, partitions int, sb sandbox.Options) *rig {
	t.Helper()
	return rigOf(t, harness.StartWorld(t, harness.Options{Partitions: partitions, Sandbox: sb}))
}

func rigOf(t *testing.T, w *harness.World) *rig {
	return &rig{t: t, broker: w.Broker, sandbox: w.Sandbox, want: expected{validIDs: map[string]bool{}, keys: map[string]bool{}}}
}

// produce writes a generated stream of n events to the source topic.
func (r *rig) produce(n int, seed int64) {
	r.t.Helper()
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Batch = n, seed, 0.1
	g, err := storefront.New(o)
	if err != nil {
		r.t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(r.broker.Addr()), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	var msgs []kafka.Message
	for {
		l, ok := g.Next()
		if !ok {
			break
		}
		key := []byte(l.Events[0].AnonymousID)
		r.want.keys[string(key)] = true
		msgs = append(msgs, kafka.Message{Key: key, Value: bytes.Clone(l.Data)})
		for _, e := range l.Events {
			r.want.events++
			switch e.Kind {
			case storefront.OrderValid:
				r.want.valid++
				r.want.validIDs[e.OrderID] = true
			case storefront.OrderInvalid:
				r.want.invalid++
			}
		}
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		r.t.Fatal(err)
	}
}

// pipeline builds a pipeline against the rig with fast test timings.
func (r *rig) pipeline(group string, keys string, store store.Sent) (*pipeline.Pipeline, *deadletter.Kafka) {
	r.t.Helper()
	dlq := deadletter.NewKafka([]string{r.broker.Addr()}, dlqTopic, nil)
	r.t.Cleanup(func() { dlq.Close() })
	return r.build(group, keys, store, dlq), dlq
}

// pipelineWith builds a pipeline with good keys, a fresh sent store and dlq.
func (r *rig) pipelineWith(group string, dlq deadletter.Writer) *pipeline.Pipeline {
	return r.build(group, sandbox.DefaultKeys, memory.NewSent(memory.Options{}), dlq)
}

func (r *rig) build(group, keys string, store store.Sent, dlq deadletter.Writer) *pipeline.Pipeline {
	return r.buildWith(group, keys, store, dlq, nil, 0)
}

// dlq returns a dead-letter writer to the rig's topic.
func (r *rig) dlq() *deadletter.Kafka {
	d := deadletter.NewKafka([]string{r.broker.Addr()}, dlqTopic, nil)
	r.t.Cleanup(func() { d.Close() })
	return d
}

func (r *rig) buildWith(group, keys string, store store.Sent, dlq deadletter.Writer, tp trace.TracerProvider, commitEvery time.Duration) *pipeline.Pipeline {
	r.t.Helper()
	k, err := sink.ParseKeys(keys)
	if err != nil {
		r.t.Fatal(err)
	}
	s, err := sink.New(sink.Config{
		Endpoint: r.sandbox.Endpoint(), Keys: k, RequestTimeout: 5 * time.Second,
		Retry:   sink.RetryConfig{MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxElapsed: time.Second},
		Breaker: sink.BreakerConfig{Failures: 5, OpenTimeout: 20 * time.Millisecond},
	}, store)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(s.Close)
	p, err := pipeline.New(pipeline.Config{
		Brokers: []string{r.broker.Addr()}, Topic: topic, GroupID: group,
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RebalanceTimeout: 6 * time.Second, DrainTimeout: 5 * time.Second,
		RedoBackoff: 5 * time.Millisecond, RedoBackoffMax: 50 * time.Millisecond,
		TracerProvider: tp, CommitInterval: commitEvery,
	}, mapping.MustNew(mapping.Options{}), s, memory.NewIdentities(memory.Options{}), dlq)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// start runs p until the test ends or stop is called; stop waits for Run to return.
func start(t *testing.T, p *pipeline.Pipeline) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls cond until it holds; it fails the test after limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		<-tick.C
	}
}

// committed returns the group's committed offsets summed over partitions and
// the topic's end offsets summed likewise.
func (r *rig) committed(group string) (committed, end int64) {
	c := &kafka.Client{Addr: kafka.TCP(r.broker.Addr()), Timeout: 5 * time.Second}
	ctx := context.Background()
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) == 0 {
		r.t.Fatalf("metadata: %v", err)
	}
	var parts []int
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		r.t.Fatalf("list offsets: %v", err)
	}
	for _, po := range lo.Topics[topic] {
		end += po.LastOffset
	}
	of, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		r.t.Fatalf("offset fetch: %v", err)
	}
	for _, po := range of.Topics[topic] {
		if po.CommittedOffset > 0 {
			committed += po.CommittedOffset
		}
	}
	return committed, end
}

// deadLetters reads the whole dead-letter topic.
func (r *rig) deadLetters() []deadletter.Record {
	r.t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(r.broker.Addr()), Timeout: 5 * time.Second}
	lo, err := c.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{dlqTopic: {kafka.LastOffsetOf(0)}}})
	if err != nil {
		r.t.Fatal(err)
	}
	end := lo.Topics[dlqTopic][0].LastOffset
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{r.broker.Addr()}, Topic: dlqTopic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	var out []deadletter.Record
	for int64(len(out)) < end {
		m, err := rd.FetchMessage(context.Background())
		if err != nil {
			r.t.Fatal(err)
		}
		d, err := deadletter.Parse(m)
		if err != nil {
			r.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// acceptedIDs returns the order_ids the sandbox accepted, with repeats.
func (r *rig) acceptedIDs() []string {
	var ids []string
	for _, raw := range r.sandbox.Orders() {
		var o struct {
			OrderID string `json:"order_id"`
		}
		if err := jsonUnmarshal(raw, &o); err != nil {
			r.t.Fatal(err)
		}
		ids = append(ids, o.OrderID)
	}
	sort.Strings(ids)
	return ids
}

func describe(s pipeline.Snapshot) string {
	return fmt.Sprintf("%+v", s)
}
