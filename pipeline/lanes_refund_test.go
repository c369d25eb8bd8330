package pipeline_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

// refundsPipeline delivers orders to the rig's webhook and cancels to its
// REST API, each its own destination with its own breaker.
func (r *rig) refundsPipeline(t *testing.T, group string) *pipeline.Pipeline {
	t.Helper()
	k, _ := sink.ParseKeys(sandbox.DefaultKeys)
	sent, ledger := memory.NewSent(memory.Options{}), memory.NewLedger(memory.Options{})
	cfg := sink.Config{Endpoint: r.sandbox.Endpoint(), Keys: k, RequestTimeout: 5 * time.Second,
		Retry:   sink.RetryConfig{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxElapsed: time.Second},
		Breaker: sink.BreakerConfig{Failures: 3, OpenTimeout: 50 * time.Millisecond}}
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
	p, err := pipeline.New(pipeline.Config{Brokers: []string{r.broker.Addr()}, Topic: topic, GroupID: group,
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
		DrainTimeout: 2 * time.Second, RedoBackoff: 5 * time.Millisecond, RedoBackoffMax: 50 * time.Millisecond,
		Cancels: cancels, DestinationHealthy: func() bool { return orders.BreakerState() == sink.BreakerClosed }},
		m, orders, memory.NewIdentities(memory.Options{}), r.dlq())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func refundOrder(id string) kafka.Message {
	return ev(`{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"` + id + `","currency":"USD","products":[{"sku":"A","price":10,"quantity":2}]}}`)
}

func cancelOrder(id string) kafka.Message {
	return ev(`{"type":"track","event":"Order Cancelled","messageId":"cancel-` + id + `","properties":{"order_id":"` + id + `"}}`)
}

// A webhook outage holds new orders only: cancels of orders delivered
// before it keep reaching the REST API; after it, the held orders are
// delivered once.
func TestAWebhookOutageNeverStopsCancels(t *testing.T) {
	r := newRig(t, 1, sandbox.Options{Keys: sandbox.DefaultKeys})
	p := r.refundsPipeline(t, "g-webhook-down")
	start(t, p)
	const n = 5
	for i := range n {
		r.write(t, refundOrder(fmt.Sprintf("o-%d", i)))
	}
	waitFor(t, 30*time.Second, "the first orders delivered", func() bool { return p.Stats().Delivered == n })
	r.sandbox.SetDown(true)
	for i := range n {
		r.write(t, refundOrder(fmt.Sprintf("n-%d", i)), cancelOrder(fmt.Sprintf("o-%d", i)))
	}
	waitFor(t, 30*time.Second, "the cancels settled during the webhook outage", func() bool {
		ready, why := p.Ready()
		return p.Stats().Cancels["cancelled"] == n && !ready && strings.Contains(why, "orders holding")
	})
	if d := p.Stats().Delivered; d != n {
		t.Fatalf("%d orders delivered while the webhook was down", d)
	}
	for i := range n {
		if net := r.sandbox.Net(fmt.Sprintf("o-%d", i), "A"); net != 0 {
			t.Errorf("o-%d nets %d units after its cancellation", i, net)
		}
	}
	r.sandbox.SetDown(false)
	waitFor(t, 30*time.Second, "the held orders delivered", func() bool {
		c, end := r.committed("g-webhook-down")
		return p.Stats().Delivered == 2*n && c == end
	})
	if dup := r.sandbox.Stats().Duplicates; dup != 0 {
		t.Errorf("%d orders accepted twice", dup)
	}
}

// An outage of the REST API holds cancels only: orders keep being delivered;
// after it, the held cancels settle once.
func TestAnAPIOutageNeverStopsOrders(t *testing.T) {
	r := newRig(t, 1, sandbox.Options{Keys: sandbox.DefaultKeys})
	r.sandbox.SetAPIDown(true)
	p := r.refundsPipeline(t, "g-api-down")
	start(t, p)
	const n = 5
	for i := range n {
		r.write(t, refundOrder(fmt.Sprintf("o-%d", i)), cancelOrder(fmt.Sprintf("o-%d", i)))
	}
	for i := range n {
		r.write(t, refundOrder(fmt.Sprintf("n-%d", i)))
	}
	waitFor(t, 30*time.Second, "every order delivered during the API outage", func() bool {
		ready, why := p.Ready()
		return p.Stats().Delivered == 2*n && !ready && strings.Contains(why, "cancels holding")
	})
	if c := p.Stats().Cancels["cancelled"]; c != 0 {
		t.Fatalf("%d cancels settled while the API was down", c)
	}
	r.sandbox.SetAPIDown(false)
	waitFor(t, 30*time.Second, "the held cancels settled", func() bool {
		c, end := r.committed("g-api-down")
		return p.Stats().Cancels["cancelled"] == n && c == end
	})
	for i := range n {
		if net := r.sandbox.Net(fmt.Sprintf("o-%d", i), "A"); net != 0 {
			t.Errorf("o-%d nets %d units after its cancellation", i, net)
		}
	}
}
