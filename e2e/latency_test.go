package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/storefront"
)

// BenchmarkDeliveryLatency feeds the running relay a steady stream (about
// 20,000 events/s, a write every 5 ms) and reports the time from an order's
// produce to its acceptance by the sandbox, at the median and the 99th
// percentile, past the first second; timed both from the start of the
// write that carried the order and from the broker's acknowledgment.
// Run with -benchtime=1x.
func BenchmarkDeliveryLatency(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		arrivals := &arrivalLog{at: map[string]time.Time{}}
		w, err := harness.NewWorld(sandbox.Options{Logger: slog.New(arrivals)})
		if err != nil {
			b.Fatal(err)
		}
		r := start(b, w)
		b.StartTimer()
		sent, orders := produceSteadily(b, w, 100000, 20000)
		waitFor(b, 5*time.Minute, "every order", func() bool { return arrivals.count() >= orders }, r)
		b.StopTimer()
		var fromWrite, fromAck []time.Duration
		for id, t := range sent {
			if t1, ok := arrivals.get(id); ok {
				fromWrite = append(fromWrite, t1.Sub(t.write))
				fromAck = append(fromAck, max(0, t1.Sub(t.acked)))
			}
		}
		for _, l := range []struct {
			lat  []time.Duration
			name string
		}{{fromWrite, ""}, {fromAck, "-acked"}} {
			sort.Slice(l.lat, func(i, j int) bool { return l.lat[i] < l.lat[j] })
			b.ReportMetric(float64(l.lat[len(l.lat)/2].Microseconds())/1000, "p50"+l.name+"-ms")
			b.ReportMetric(float64(l.lat[len(l.lat)*99/100].Microseconds())/1000, "p99"+l.name+"-ms")
		}
		_ = r.Stop(30 * time.Second)
		w.Close()
	}
}

// produced is when an order's write began and when the broker acknowledged
// it. The order is in Kafka from some moment between the two: the write
// includes the broker's own stalls (it shares this process and the two
// cores), which the relay can do nothing about.
type produced struct{ write, acked time.Time }

// produceSteadily writes n generated events at about rate events/s, in
// slices of 5 ms, and returns when each valid order was produced. Orders of the first second, while
// the relay joins its group and warms up, are not returned: they are
// delivered, but the figures are for the steady stream.
func produceSteadily(b *testing.B, w *harness.World, n, rate int) (sent map[string]produced, orders int) {
	const slice, warmUp = 5 * time.Millisecond, time.Second
	o := storefront.DefaultOptions()
	o.N = n
	g, err := storefront.New(o)
	if err != nil {
		b.Fatal(err)
	}
	kw := &kafka.Writer{Addr: kafka.TCP(w.Broker.Addr()), Topic: harness.Topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer kw.Close()
	sent = map[string]produced{}
	tick := time.NewTicker(slice)
	defer tick.Stop()
	perSlice := rate * int(slice) / int(time.Second)
	began := time.Now()
	for done := false; !done; {
		var msgs []kafka.Message
		var ids []string
		for len(msgs) < perSlice {
			l, ok := g.Next()
			if !ok {
				done = true
				break
			}
			msgs = append(msgs, kafka.Message{Key: []byte(l.Events[0].AnonymousID), Value: bytes.Clone(l.Data)})
			for _, e := range l.Events {
				if e.Kind == storefront.OrderValid {
					ids = append(ids, e.OrderID)
				}
			}
		}
		t0 := time.Now()
		if err := kw.WriteMessages(context.Background(), msgs...); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		orders += len(ids)
		if t0.Sub(began) >= warmUp {
			for _, id := range ids {
				sent[id] = produced{t0, acked}
			}
		}
		<-tick.C
	}
	return sent, orders
}

// arrivalLog is a slog.Handler that notes when the sandbox accepted each
// order_id.
type arrivalLog struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (a *arrivalLog) Enabled(context.Context, slog.Level) bool { return true }
func (a *arrivalLog) WithAttrs([]slog.Attr) slog.Handler       { return a }
func (a *arrivalLog) WithGroup(string) slog.Handler            { return a }
func (a *arrivalLog) Handle(_ context.Context, r slog.Record) error {
	now := time.Now()
	r.Attrs(func(at slog.Attr) bool {
		if at.Key == "order_id" {
			a.mu.Lock()
			if _, seen := a.at[at.Value.String()]; !seen {
				a.at[at.Value.String()] = now
			}
			a.mu.Unlock()
		}
		return true
	})
	return nil
}

func (a *arrivalLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at)
}

func (a *arrivalLog) get(id string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[id]
	return t, ok
}
