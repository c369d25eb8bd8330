package pipeline_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

// Bad input never crashes the pipeline and never disappears: each bad event
// is dead-lettered with its reason, and the good ones around it delivered.
func TestBadInputIsDeadLetteredAndTheStreamGoesOn(t *testing.T) {
	w := harness.StartWorld(t, harness.Options{Partitions: 1, MaxMessageBytes: 4 << 20, Sandbox: sandbox.Options{Keys: sandbox.DefaultKeys}})
	r := rigOf(t, w)

	order := func(id string) []byte {
		return []byte(`{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"` + id + `","currency":"USD","products":[{"sku":"A","price":1}]}}`)
	}
	deep := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
	oversized := append([]byte(`{"type":"track","event":"Order Completed","properties":{"pad":"`), bytes.Repeat([]byte("x"), 1500000)...)
	oversized = append(oversized, `"}}`...)
	msgs := [][]byte{
		order("good-1"),
		[]byte("not json"),
		[]byte(`{"type":"track","event":"Order Completed","properties":` + deep + `}`),
		[]byte(`{"type":"page","properties":` + deep + `}`),
		oversized,
		[]byte("{\"type\":\"track\",\"event\":\"Order Completed\",\"properties\":{\"cart_id\":\"\xff\",\"order_id\":\"bad-utf8\",\"currency\":\"USD\",\"products\":[{\"sku\":\"A\",\"price\":1}]}}"),
		[]byte(`{"type":"identify","traits":{"email":"nobody@example.com"}}`),
		[]byte(`{"batch":[` + string(order("good-2")) + `,"not an event"]}`),
		[]byte(`{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"trunc`),
		order("good-3"),
	}
	kw := &kafka.Writer{Addr: kafka.TCP(r.broker.Addr()), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchBytes: 4 << 20}
	for _, m := range msgs { // one at a time, so each stays its own batch
		if err := kw.WriteMessages(context.Background(), kafka.Message{Value: m}); err != nil {
			t.Fatalf("producing %.40q: %v", m, err)
		}
	}
	kw.Close()
	r.want.validIDs = map[string]bool{"good-1": true, "good-2": true, "good-3": true}

	p, _ := r.pipeline("g-bad", sandbox.DefaultKeys, memory.NewSent(memory.Options{}))
	start(t, p)
	r.waitDone("g-bad", p)
	r.checkExactlyOnce()
	reasons := map[string]int{}
	for _, d := range r.deadLetters() {
		reasons[d.Reason]++
		if len(d.Problems) == 0 || len(d.Value) > pipeline.MaxMessageBytes {
			t.Errorf("dead letter without a problem or too big (%d bytes): %+v", len(d.Value), d.Problems)
		}
		if strings.Contains(d.Problems[0].Reason, "over the") && len(d.Value) != 64<<10 {
			t.Errorf("oversized message kept %d bytes, want its first 64 KiB", len(d.Value))
		}
	}
	// malformed: not JSON, the oversized message, the batch element that is no
	// event, the truncated order (not well-formed JSON); invalid: the deeply
	// nested order, the broken cart_id; identity: the identify naming
	// nobody. The deeply nested page is a page: dropped.
	want := map[string]int{deadletter.ReasonMalformed: 4, deadletter.ReasonInvalid: 2, deadletter.ReasonIdentity: 1}
	for k, v := range want {
		if reasons[k] != v {
			t.Errorf("%d dead letters of reason %s, want %d (all: %v)", reasons[k], k, v, reasons)
		}
	}
}
