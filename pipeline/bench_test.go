package pipeline_test

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/storefront"
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

// BenchmarkDroppedEvents counts the allocations of the whole path of an event
// the relay drops (page views and tracks that are not orders, 10% of
// messages batch envelopes), from the fetch to the commit of its offset:
// 200,000 events through the pipeline, the broker in this process.
// Every allocation is recorded with its stack (MemProfileRate 1) and those
// made by the broker are left out: allocs/event is the relay's own. One op
// is the whole stream; run it with -benchtime=1x.
func BenchmarkDroppedEvents(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		t := &testing.T{}
		r := newRig(t, 4, sandbox.Options{Keys: sandbox.DefaultKeys})
		events := r.produceDropped(200000)
		p := r.buildWith("dropped", sandbox.DefaultKeys, memory.NewSent(memory.Options{}), r.dlq(), nil, 100*time.Millisecond)
		rate := runtime.MemProfileRate
		runtime.MemProfileRate = 1
		before := relayAllocs()
		b.StartTimer()
		began := time.Now()
		stop := start(t, p)
		waitFor(b, 5*time.Minute, "every event handled", func() bool { return p.Stats().Events == int64(events) })
		for c, end := r.committed("dropped"); c != end; c, end = r.committed("dropped") {
			time.Sleep(20 * time.Millisecond) // polling the broker: the commit has no event to wait on here
		}
		elapsed := time.Since(began)
		b.StopTimer()
		_ = stop()
		allocs := relayAllocs() - before
		runtime.MemProfileRate = rate
		if s := p.Stats(); s.Events != int64(events) || s.DroppedTotal() != int64(events) {
			b.Fatalf("%d events, %d dropped; want %d dropped", s.Events, s.DroppedTotal(), events)
		}
		b.ReportMetric(float64(allocs)/float64(events), "allocs/event")
		b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	}
}

// produceDropped writes a generated stream of about n events of which none
// is an order, an identity change or a cancel, and returns its events.
func (r *rig) produceDropped(n int) int {
	r.t.Helper()
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Batch, o.Orders, o.Identifies, o.Aliases = n, 1, 0.1, 0, 0, 0
	g, err := storefront.New(o)
	if err != nil {
		r.t.Fatal(err)
	}
	var msgs []kafka.Message
	events := 0
	for {
		l, ok := g.Next()
		if !ok {
			break
		}
		msgs = append(msgs, kafka.Message{Key: []byte(l.Events[0].AnonymousID), Value: bytes.Clone(l.Data)})
		events += len(l.Events)
	}
	w := &kafka.Writer{Addr: kafka.TCP(r.broker.Addr()), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		r.t.Fatal(err)
	}
	return events
}

// relayAllocs is the number of allocations recorded so far (after a GC, so
// that the profile is current), less those made by the in-process broker
// (a franz-go frame in their stack) and by this package's own polling.
func relayAllocs() int64 {
	runtime.GC()
	runtime.GC()
	recs := make([]runtime.MemProfileRecord, 4096)
	for {
		n, ok := runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:n]
			break
		}
		recs = make([]runtime.MemProfileRecord, n+1024)
	}
	var total int64
	for _, rec := range recs {
		excluded := false
		frames := runtime.CallersFrames(rec.Stack())
		for {
			f, more := frames.Next()
			if strings.Contains(f.Function, "franz-go") || strings.Contains(f.Function, "pipeline_test.") {
				excluded = true
				break
			}
			if !more {
				break
			}
		}
		if !excluded {
			total += rec.AllocObjects
		}
	}
	return total
}
