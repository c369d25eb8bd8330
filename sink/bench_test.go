package sink_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
)

// BenchmarkSend measures delivered orders per second through the whole chain
// (memory sent store, retry, breaker, HTTP) to a sandbox on loopback, with a
// fixed number of orders in flight. With added latency L and N in flight,
// Little's law bounds the rate at N/L; "%bound" reports the share reached.
// With latency, the first requests are spread over one L, as arrivals are in
// steady state, rather than all sent at the same instant. "conns" counts the
// TCP connections the sandbox accepted: keep-alive keeps it near N.
//
//	go test -run '^$' -bench BenchmarkSend -benchtime 5s ./sink/
func BenchmarkSend(b *testing.B) {
	for _, c := range []struct {
		name     string
		inFlight int
		latency  time.Duration
	}{
		{"inflight=1", 1, 0},
		{"inflight=8", 8, 0},
		{"inflight=64", 64, 0},
		{"latency=50ms/inflight=64", 64, 50 * time.Millisecond},
		{"latency=50ms/inflight=256", 256, 50 * time.Millisecond},
	} {
		b.Run(c.name, func(b *testing.B) {
			sb := startSandbox(b, sandbox.Options{Latency: c.latency})
			s := newSink(b, fastConfig(sb.Endpoint()))
			template := sinktest.Order("")
			prefix := strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			began := time.Now()
			for g := range c.inFlight {
				wg.Go(func() {
					if c.latency > 0 { // spread the first requests over one latency
						<-time.After(c.latency * time.Duration(g) / time.Duration(c.inFlight))
					}
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						o := template
						o.OrderID = prefix + strconv.FormatInt(i, 10)
						if err := s.Send(context.Background(), o); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(began)
			b.StopTimer()
			st := sb.Stats()
			if st.Accepted != b.N || st.Duplicates != 0 {
				b.Fatalf("stats %+v after %d orders", st, b.N)
			}
			b.ReportMetric(float64(st.Connections), "conns")
			rate := float64(b.N) / elapsed.Seconds()
			b.ReportMetric(rate, "orders/s")
			if c.latency > 0 {
				b.ReportMetric(100*rate*c.latency.Seconds()/float64(c.inFlight), "%bound")
			}
		})
	}
}
