package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/mapstream"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/replay"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func order(id, user string) string {
	return `{"type":"track","event":"Order Completed","userId":"` + user + `","messageId":"m-` + id + `","properties":{"cart_id":"c","order_id":"` + id + `","currency":"USD","products":[{"sku":"S","price":1.25}]}}`
}

// driverInputs are messages (one Kafka message, one line of a file) with
// edge cases every driver must agree on.
var driverInputs = []string{
	order("o-1", "u0"),
	`{"type":"identify","traits":{"email":"nobody@example.com"}}`,                                                 // identify without an id
	`{"type":"page"}{"type":"identify","userId":"u1","traits":{"email":"u1@example.com"}}`,                        // two events in one message
	order("o-2", "u1") + "\n" + order("o-3", "u1"),                                                                // NDJSON in one message
	order("o-4", "u0") + ` trailing junk`,                                                                         // junk after a value
	`{"batch":[{"type":"alias","previousId":"u1","userId":"u2"},` + order("o-5", "u2") + `,{"type":"screen"},7]}`, // batch envelope
	`{"type":"track","event":"Order Completed","messageId":"m-bad","properties":{"order_id":"o-6"}}`,              // invalid order
	`not json at all`,
	`{"type":"delete","userId":"u0"}`,
	`{"type":"track","event":"Product Viewed"}`,
}

// wantOutcomes is what the inputs come to, in any driver: one entry per event.
var wantOutcomes = []string{
	"dropped", "dropped", "dropped",
	"identity", "identity", "identity",
	"identity/invalid",
	"invalid/invalid o-6",
	"malformed", "malformed", "malformed",
	"order o-1", "order o-2 u1@example.com", "order o-3 u1@example.com", "order o-4", "order o-5 u1@example.com",
}

func describeOrder(o mapping.Order) string {
	s := "order " + o.OrderID
	if o.Customer != nil && o.Customer.Email != "" {
		s += " " + o.Customer.Email
	}
	return s
}

// TestRunReplayAndMapAgree feeds the same messages to the three drivers of
// the processor — the pipeline (run), replay from a file, and map — and
// expects the same outcome for every event.
func TestRunReplayAndMapAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the in-process broker")
	}
	slices.Sort(wantOutcomes)
	t.Run("map", func(t *testing.T) { check(t, mapOutcomes(t)) })
	t.Run("replay", func(t *testing.T) { check(t, replayOutcomes(t)) })
	t.Run("run", func(t *testing.T) { check(t, runOutcomes(t)) })
}

func check(t *testing.T, got []string) {
	t.Helper()
	slices.Sort(got)
	if !slices.Equal(got, wantOutcomes) {
		t.Errorf("outcomes\n got %q\nwant %q", got, wantOutcomes)
	}
}

func newProc(t *testing.T) *processor.Processor {
	p, err := processor.New(mapping.MustNew(mapping.Options{}), memory.NewIdentities(memory.Options{}), processor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mapOutcomes(t *testing.T) []string {
	var out bytes.Buffer
	sum, err := mapstream.Run(context.Background(), strings.NewReader(strings.Join(lines(), "\n")), &out, newProc(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := fromLines(t, out.Bytes(), "order", "invalid")
	for range sum.Identify + sum.Alias + sum.Delete {
		got = append(got, "identity")
	}
	for _, n := range sum.Dropped {
		for range n {
			got = append(got, "dropped")
		}
	}
	if sum.Settled() != sum.Events || sum.Events != len(wantOutcomes) {
		t.Errorf("map summary: %d events, %d settled, want %d", sum.Events, sum.Settled(), len(wantOutcomes))
	}
	return got
}

func replayOutcomes(t *testing.T) []string {
	var out bytes.Buffer
	sent := memory.NewSent(memory.Options{})
	r := &replay.Replayer{Mapper: mapping.MustNew(mapping.Options{}), Sent: sent, Identities: memory.NewIdentities(memory.Options{}),
		DryRun: true, Out: &out}
	sum, err := r.Run(context.Background(), replay.NewFileSource(strings.NewReader(strings.Join(lines(), "\n")), -1), replay.Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := fromLines(t, out.Bytes(), "send", "invalid")
	for range sum.Identities {
		got = append(got, "identity")
	}
	for range sum.Ignored {
		got = append(got, "dropped")
	}
	if sum.Settled() != sum.Events || sum.Events != int64(len(wantOutcomes)) {
		t.Errorf("replay summary: %+v, want %d events settled", sum, len(wantOutcomes))
	}
	return got
}

// lines are the inputs as lines of a file: a message's own line breaks
// become spaces (a message of several values stays one line).
func lines() []string {
	var out []string
	for _, m := range driverInputs {
		out = append(out, strings.ReplaceAll(m, "\n", " "))
	}
	return out
}

// fromLines reads {"order"|"send": payload} and {"invalid": {...}} lines.
func fromLines(t *testing.T, b []byte, orderKey, invalidKey string) []string {
	var got []string
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var v map[string]json.RawMessage
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("output line %s: %v", line, err)
		}
		switch {
		case v[orderKey] != nil:
			var o mapping.Order
			if err := json.Unmarshal(v[orderKey], &o); err != nil {
				t.Fatal(err)
			}
			got = append(got, describeOrder(o))
		case v[invalidKey] != nil:
			var d struct {
				Reason  string `json:"reason"`
				OrderID string `json:"order_id"`
			}
			if err := json.Unmarshal(v[invalidKey], &d); err != nil {
				t.Fatal(err)
			}
			got = append(got, describeDeadLetter(d.Reason, d.OrderID))
		default:
			t.Errorf("unexpected line %s", line)
		}
	}
	return got
}

func describeDeadLetter(reason, orderID string) string {
	switch reason {
	case deadletter.ReasonMalformed:
		return "malformed"
	case deadletter.ReasonIdentity:
		return "identity/invalid"
	}
	return strings.TrimSpace(fmt.Sprintf("invalid/%s %s", reason, orderID))
}

func runOutcomes(t *testing.T) []string {
	w, err := harness.NewWorld(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	kw := &kafka.Writer{Addr: kafka.TCP(w.Broker.Addr()), Topic: harness.Topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	var msgs []kafka.Message
	for _, m := range driverInputs { // one key: one partition, in order
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(m)})
	}
	if err := kw.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	kw.Close()

	k, _ := sink.ParseKeys(sandbox.DefaultKeys)
	s, err := sink.New(sink.Config{Endpoint: w.Sandbox.Endpoint(), Keys: k}, memory.NewSent(memory.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	dlq := deadletter.NewKafka([]string{w.Broker.Addr()}, harness.DLQTopic, nil)
	defer dlq.Close()
	p, err := pipeline.New(pipeline.Config{Brokers: []string{w.Broker.Addr()}, Topic: harness.Topic, GroupID: "agree",
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second},
		mapping.MustNew(mapping.Options{}), s, memory.NewIdentities(memory.Options{}), dlq)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	settled := func() bool {
		st := p.Stats()
		return st.Events == int64(len(wantOutcomes)) && st.Settled() == st.Events
	}
	deadline := time.Now().Add(30 * time.Second)
	for !settled() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling a condition, not synchronising on time
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if !settled() {
		t.Fatalf("not every event settled: %+v", st)
	}
	var got []string
	for _, raw := range w.Sandbox.Orders() {
		var o mapping.Order
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		got = append(got, describeOrder(o))
	}
	dls, err := w.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dls {
		got = append(got, describeDeadLetter(d.Reason, d.OrderID))
	}
	for range st.Identify + st.Alias + st.Delete {
		got = append(got, "identity")
	}
	for range st.DroppedTotal() {
		got = append(got, "dropped")
	}
	return got
}
