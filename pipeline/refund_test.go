package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/replay"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func ev(s string) kafka.Message { return kafka.Message{Key: []byte("k"), Value: []byte(s)} }

// Refunds and cancellations through the running pipeline: each cancels
// exactly what it should in Refersion (the sandbox's net units per order
// and sku), a refund before its order is dead-lettered and, replayed once
// the order is through, cancels once.
func TestRefundsFollowEveryOrderToItsEnd(t *testing.T) {
	r := newRig(t, 1, sandbox.Options{Keys: sandbox.DefaultKeys})
	order := func(id string) kafka.Message {
		return ev(`{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"` + id + `","currency":"USD","products":[{"sku":"A","price":10,"quantity":3},{"sku":"B","price":4}]}}`)
	}
	refund := func(msgID, id, products string) kafka.Message {
		return ev(`{"type":"track","event":"Order Refunded","messageId":"` + msgID + `","properties":{"order_id":"` + id + `"` + products + `}}`)
	}
	r.write(t,
		refund("r0", "late", ""), // before its order
		order("o-1"),
		refund("r1", "o-1", `,"products":[{"sku":"A","quantity":1}]`),
		refund("r1", "o-1", `,"products":[{"sku":"A","quantity":1}]`), // the same refund again
		refund("r2", "o-1", `,"products":[{"sku":"A","quantity":9}]`), // over-refund: clamped to the 2 left
		refund("r3", "o-1", `,"total":"3"`),                           // amount only
		ev(`{"type":"track","event":"Order Cancelled","messageId":"c1","properties":{"order_id":"o-1"}}`),
	)
	k, _ := sink.ParseKeys(sandbox.DefaultKeys)
	sent, ledger := memory.NewSent(memory.Options{}), memory.NewLedger(memory.Options{})
	cfg := sink.Config{Endpoint: r.sandbox.Endpoint(), Keys: k, Retry: sink.RetryConfig{MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond}}
	orders, err := sink.New(cfg, sent, sink.WithLedger(ledger))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Endpoint = r.sandbox.APIURL()
	cancels, err := sink.NewCanceller(cfg, sent, ledger)
	if err != nil {
		t.Fatal(err)
	}
	m := mapping.MustNew(mapping.Options{RefundEvents: mapping.DefaultRefundEvents, CancelEvents: mapping.DefaultCancelEvents})
	ids := memory.NewIdentities(memory.Options{})
	dlq := r.dlq()
	p, err := pipeline.New(pipeline.Config{Brokers: []string{r.broker.Addr()}, Topic: topic, GroupID: "g-refunds",
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RedoBackoff: 5 * time.Millisecond, RedoBackoffMax: 20 * time.Millisecond, Cancels: cancels}, m, orders, ids, dlq)
	if err != nil {
		t.Fatal(err)
	}
	start(t, p)
	settled := func(n int64) func() bool {
		return func() bool { s := p.Stats(); return s.Events == n && s.Settled() == s.Events }
	}
	waitFor(t, 30*time.Second, "every event settled", settled(7))
	r.write(t, order("late")) // the order of the first refund, after it
	waitFor(t, 30*time.Second, "the late order settled", settled(8))
	s := p.Stats()
	if s.Cancels["cancelled"] != 2 || s.Cancels["clamped"] != 1 || s.Cancels["already_done"] != 1 ||
		s.DeadLettered[deadletter.ReasonRefundBeforeOrder] != 1 || s.DeadLettered[deadletter.ReasonAmountOnly] != 1 {
		t.Errorf("outcomes: cancels %v, dead letters %v", s.Cancels, s.DeadLettered)
	}
	if a, b := r.sandbox.Net("o-1", "A"), r.sandbox.Net("o-1", "B"); a != 0 || b != 0 {
		t.Errorf("o-1 nets A %d B %d in Refersion, want 0 and 0 (refunded, then cancelled)", a, b)
	}
	if a := r.sandbox.Net("late", "A"); a != 3 {
		t.Errorf("the late order nets A %d before the replay, want 3", a)
	}

	// Replay the dead letters now that the late order is through: its
	// refund cancels everything, once; the amount-only refund stays.
	src, err := replay.OpenKafka(context.Background(), replay.KafkaOptions{Brokers: []string{r.broker.Addr()}, Topic: dlqTopic, DeadLetters: true})
	if err != nil {
		t.Fatal(err)
	}
	rp := &replay.Replayer{Mapper: m, Sink: orders, Sent: sent, Identities: ids, Cancels: cancels}
	sum, err := rp.Run(context.Background(), src, replay.Filter{Reasons: []string{deadletter.ReasonRefundBeforeOrder}}, nil)
	if err != nil || sum.Delivered != 1 {
		t.Fatalf("replay: %+v %v", sum, err)
	}
	if a, b := r.sandbox.Net("late", "A"), r.sandbox.Net("late", "B"); a != 0 || b != 0 {
		t.Errorf("after the replay the late order nets A %d B %d, want 0 and 0", a, b)
	}
	again, _ := replay.OpenKafka(context.Background(), replay.KafkaOptions{Brokers: []string{r.broker.Addr()}, Topic: dlqTopic, DeadLetters: true})
	if sum, err := rp.Run(context.Background(), again, replay.Filter{Reasons: []string{deadletter.ReasonRefundBeforeOrder}}, nil); err != nil || sum.Skipped != 1 {
		t.Errorf("a second replay: %+v %v, want the refund skipped", sum, err)
	}
}
