package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
)

// BenchmarkEndToEnd runs the relay binary over a generated stream of 200,000
// events (broker and sandbox in this process) and reports events/s,
// orders/s, CPU seconds per million events and the relay's peak RSS.
// Run with -benchtime=1x: one op is the whole stream.
func BenchmarkEndToEnd(b *testing.B) {
	for _, c := range []struct {
		latency time.Duration
		state   string
	}{{0, "memory"}, {0, "disk"}, {50 * time.Millisecond, "memory"}} {
		b.Run("latency="+c.latency.String()+"/state="+c.state, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				endToEnd(b, c.latency, c.state)
			}
		})
	}
}

func endToEnd(b *testing.B, latency time.Duration, state string) {
	b.StopTimer()
	w := newWorld(b, 200000, sandbox.Options{Latency: latency})
	b.StartTimer()
	r := start(b, w, "KAFKA_COMMIT_INTERVAL=1s", "STATE_BACKEND="+state, "STATE_DIR="+b.TempDir())
	// Throughput is timed from the first delivery (process start and the
	// group join excluded) to the last; the final commit (up to
	// KAFKA_COMMIT_INTERVAL later) is waited for but not timed.
	waitFor(b, time.Minute, "the first order", func() bool { return len(w.Sandbox.Orders()) > 0 }, r)
	began := time.Now()
	waitFor(b, 10*time.Minute, "every order", func() bool { return len(w.Sandbox.Orders()) >= len(w.Valid) }, r)
	elapsed := time.Since(began)
	waitFor(b, time.Minute, "the final commit", func() bool { return w.Lag() == 0 }, r)
	rss := r.PeakRSS()
	if err := r.Stop(30 * time.Second); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(w.Events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(len(w.Valid))/elapsed.Seconds(), "orders/s")
	b.ReportMetric(r.CPU().Seconds()/float64(w.Events)*1e6, "cpu-s/Mevents")
	b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
}

// BenchmarkBareConsumer reads the same kind of topic with a bare kafka-go
// consumer-group Reader (FetchMessage, one commit at the end): the ceiling
// the relay is compared with. Timed from the first message, as the relay is.
func BenchmarkBareConsumer(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := newWorld(b, 200000, sandbox.Options{})
		b.StartTimer()
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{w.Broker.Addr()}, Topic: harness.Topic, GroupID: "bare",
			MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond})
		var began time.Time
		var last kafka.Message
		for n := 0; n < w.Messages; n++ {
			m, err := rd.FetchMessage(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				began = time.Now()
			}
			last = m
		}
		if err := rd.CommitMessages(context.Background(), last); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(began)
		rd.Close()
		b.ReportMetric(float64(w.Events)/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(w.Messages)/elapsed.Seconds(), "msgs/s")
	}
}
