package pipeline_test

import (
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

// BenchmarkPipeline runs 200,000 generated events through an in-process
// broker, the pipeline and the sandbox. One op is the whole stream; run it
// with -benchtime=1x.
func BenchmarkPipeline(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		t := &testing.T{}
		r := newRig(t, 4, sandbox.Options{Keys: sandbox.DefaultKeys})
		r.produce(200000, 1)
		p := r.buildWith("bench", sandbox.DefaultKeys, memory.NewSent(memory.Options{}), r.dlq(), nil, time.Second)
		b.StartTimer()
		stop := start(t, p)
		waitFor(b, time.Minute, "the first message", func() bool { return p.Stats().Messages > 0 })
		began := time.Now()
		waitFor(b, time.Minute, "every event handled", func() bool {
			s := p.Stats()
			return s.Events == int64(r.want.events) && s.InFlight == 0 && s.Delivered+s.DeadLetteredTotal() == s.Orders
		})
		elapsed := time.Since(began)
		r.waitDone("bench", p)
		b.StopTimer()
		_ = stop()
		b.ReportMetric(float64(r.want.events)/elapsed.Seconds(), "events/s")
	}
}
