package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func orderMsg(id string) kafka.Message {
	return kafka.Message{Value: []byte(`{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"` + id + `","currency":"USD","products":[{"sku":"A","price":1}]}}`)}
}

// tuned builds a pipeline against r's broker posting to endpoint, with the
// production sink defaults but for fast retries, and cfg's poison and
// rejection bounds.
func (r *rig) tuned(t *testing.T, group, endpoint string, tune func(*pipeline.Config)) *pipeline.Pipeline {
	t.Helper()
	k, _ := sink.ParseKeys(sandbox.DefaultKeys)
	s, err := sink.New(sink.Config{Endpoint: endpoint, Keys: k, RequestTimeout: 5 * time.Second,
		Retry:   sink.RetryConfig{MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxElapsed: time.Second},
		Breaker: sink.BreakerConfig{Failures: 5, OpenTimeout: 50 * time.Millisecond},
	}, memory.NewSent(memory.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cfg := pipeline.Config{Brokers: []string{r.broker.Addr()}, Topic: topic, GroupID: group,
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RedoBackoff: 5 * time.Millisecond, RedoBackoffMax: 20 * time.Millisecond}
	tune(&cfg)
	p, err := pipeline.New(cfg, mapping.MustNew(mapping.Options{}), s, memory.NewIdentities(memory.Options{}), r.dlq())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *rig) write(t *testing.T, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(r.broker.Addr()), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// One order that Refersion answers 500 to, every time, while it accepts the
// others: the others keep flowing (nothing pauses), and once the order has
// been redone past its bounds it is dead-lettered as undelivered.
func TestAPoisonOrderIsDeadLetteredAndTheOthersFlow(t *testing.T) {
	r := newRig(t, 2, sandbox.Options{Keys: sandbox.DefaultKeys, FailOrders: []string{"poison"}})
	r.write(t, orderMsg("poison"))
	p := r.tuned(t, "g-poison", r.sandbox.Endpoint(), func(c *pipeline.Config) {
		c.PoisonAttempts, c.PoisonAfter = 5, 200*time.Millisecond
	})
	var paused []string
	start(t, p)
	// The stream goes on: an order every few milliseconds, as a storefront's.
	sent := 0
	waitFor(t, 30*time.Second, "the poison order dead-lettered while the others flow", func() bool {
		if ready, why := p.Ready(); !ready && strings.HasPrefix(why, "paused") {
			paused = append(paused, why)
		}
		sent++
		r.write(t, orderMsg(fmt.Sprintf("ok-%d", sent)))
		return p.Stats().DeadLettered[deadletter.ReasonUndelivered] == 1
	})
	waitFor(t, 30*time.Second, "every other order delivered", func() bool { return p.Stats().Delivered == int64(sent) })
	if len(paused) > 0 {
		t.Errorf("the poison order paused the stream: %v", paused)
	}
	var found bool
	for _, d := range r.deadLetters() {
		if d.Reason == deadletter.ReasonUndelivered && d.OrderID == "poison" && d.Status == 500 && d.Attempts >= 5 {
			found = true
		}
	}
	if !found {
		t.Errorf("no undelivered dead letter for the poison order: %+v", r.deadLetters())
	}
}

// A wrong webhook path (404) or a redirect rejects every order: after
// RejectionLimit in a row the relay stops (not ready, says why) instead of
// dead-lettering the whole stream.
func TestEveryOrderRejectedMeansTheDestinationIsWrong(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
	}{{"wrong path", http.StatusNotFound}, {"redirect", http.StatusMovedPermanently}} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Location", "https://example.invalid/elsewhere")
				http.Error(w, "not here", c.status)
			}))
			t.Cleanup(srv.Close)
			r := newRig(t, 1, sandbox.Options{Keys: sandbox.DefaultKeys})
			var msgs []kafka.Message
			for i := range 40 {
				msgs = append(msgs, orderMsg("o-"+strings.Repeat("x", i+1)))
			}
			r.write(t, msgs...)
			p := r.tuned(t, "g-wrong", srv.URL+"/wrong", func(c *pipeline.Config) { c.RejectionLimit = 10 })
			start(t, p)
			waitFor(t, 30*time.Second, "the relay to stop", func() bool {
				ready, why := p.Ready()
				return !ready && strings.Contains(why, "check REFERSION_URL")
			})
			_, why := p.Ready()
			if !strings.Contains(why, "HTTP "+http.StatusText(c.status)[:0]) || !strings.Contains(why, "rejected 10 orders in a row") {
				t.Errorf("reason %q", why)
			}
			if n := p.Stats().DeadLettered[deadletter.ReasonRejected]; n >= 10 {
				t.Errorf("%d orders dead-lettered, want fewer than the limit of 10", n)
			}
		})
	}
}
