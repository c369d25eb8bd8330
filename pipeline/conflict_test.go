package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
)

// An order_id read again with the same content is skipped; read again with
// another total it is a conflict: dead-lettered with both versions' totals,
// never sent.
func TestAnOrderIDWithOtherContentIsAConflict(t *testing.T) {
	r := newRig(t, 1, sandbox.Options{Keys: sandbox.DefaultKeys})
	price := func(id, p string) kafka.Message {
		return kafka.Message{Value: []byte(`{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"` + id +
			`","currency":"USD","products":[{"sku":"A","price":` + p + `}]}}`)}
	}
	r.write(t, price("o-1", "10"), price("o-1", "10.00"), price("o-1", "12"))
	p := r.tuned(t, "g-conflict", r.sandbox.Endpoint(), func(*pipeline.Config) {})
	start(t, p)
	waitFor(t, 10*time.Second, "the three settled", func() bool {
		s := p.Stats()
		return s.Delivered == 1 && s.Skipped == 1 && s.DeadLettered[deadletter.ReasonConflict] == 1
	})
	if n := len(r.sandbox.Orders()); n != 1 {
		t.Errorf("sandbox accepted %d orders, want 1", n)
	}
	dls := r.deadLetters()
	if len(dls) != 1 || dls[0].Reason != deadletter.ReasonConflict || len(dls[0].Problems) != 1 ||
		!strings.Contains(dls[0].Problems[0].Reason, "10.00 USD") || !strings.Contains(dls[0].Problems[0].Reason, "12.00 USD") {
		t.Errorf("dead letters %+v; want one conflict naming both totals", dls)
	}
}
