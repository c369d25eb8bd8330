package pipeline_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

// A dead letter bigger than the broker takes (an invalid order with 20,000
// bad products, a malformed message just under 1 MiB) is bounded and
// written; nothing pauses and the orders after it are delivered.
func TestOversizedDeadLettersDoNotStopTheStream(t *testing.T) {
	r := newRig(t, 1, sandbox.Options{Keys: sandbox.DefaultKeys}) // the broker's default limit: 1 MiB
	bad := `{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"big","currency":"USD","products":[` +
		strings.TrimSuffix(strings.Repeat(`{"sku":"A","price":"x"},`, 20000), ",") + `]}}`
	junk := append([]byte(`{"type":"page","x":"`), bytes.Repeat([]byte("z"), 1000000)...) // not closed: malformed
	msgs := []kafka.Message{{Value: []byte(bad)}, {Value: junk}}
	for _, id := range []string{"after-1", "after-2"} {
		msgs = append(msgs, kafka.Message{Value: []byte(`{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"` + id + `","currency":"USD","products":[{"sku":"A","price":1}]}}`)})
	}
	w := &kafka.Writer{Addr: kafka.TCP(r.broker.Addr()), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	for _, m := range msgs {
		if err := w.WriteMessages(context.Background(), m); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	w.Close()
	r.want.validIDs = map[string]bool{"after-1": true, "after-2": true}
	p, _ := r.pipeline("g-oversized", sandbox.DefaultKeys, memory.NewSent(memory.Options{}))
	start(t, p)
	r.waitDone("g-oversized", p)
	r.checkExactlyOnce()
	dls := r.deadLetters()
	if len(dls) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dls))
	}
	for _, d := range dls {
		if d.ValueBytes == 0 && d.Reason == deadletter.ReasonMalformed {
			t.Errorf("the near-1 MiB malformed message was not cut: %d bytes", len(d.Value))
		}
		if d.Reason == deadletter.ReasonInvalid && len(d.Problems) != deadletter.DefaultMaxProblems {
			t.Errorf("invalid order kept %d problems, want %d with a summary", len(d.Problems), deadletter.DefaultMaxProblems)
		}
	}
	if s := p.Stats(); s.DeadLetterFailures > 2 || s.Settled() != s.Events {
		t.Errorf("stats %+v: a refused record is written in a bounded form at once", s)
	}
}
