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
// 20,000 events/s) and reports the time from an order's produce to its
// acceptance by the sandbox, at the median and the 99th percentile.
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
		sent := produceSteadily(b, w, 100000, 20000)
		waitFor(b, 5*time.Minute, "every order", func() bool { return arrivals.count() >= len(sent) }, r)
		b.StopTimer()
		var lat []time.Duration
		for id, t0 := range sent {
			if t1, ok := arrivals.get(id); ok {
				lat = append(lat, t1.Sub(t0))
			}
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		_ = r.Stop(30 * time.Second)
		w.Close()
	}
}

// produceSteadily writes n generated events at about rate events/s in 50 ms
// slices and returns when each valid order was produced.
func produceSteadily(b *testing.B, w *harness.World, n, rate int) map[string]time.Time {
	o := storefront.DefaultOptions()
	o.N = n
	g, err := storefront.New(o)
	if err != nil {
		b.Fatal(err)
	}
	kw := &kafka.Writer{Addr: kafka.TCP(w.Broker.Addr()), Topic: harness.Topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer kw.Close()
	sent := map[string]time.Time{}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	perSlice := rate / 20
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
		for _, id := range ids {
			sent[id] = t0
		}
		<-tick.C
	}
	return sent
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
