package processor_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/storefront"
)

// BenchmarkProcess decides every event of the standard stream, as the
// pipeline does (drops settled without Handle unless Inspects says so), with
// click capture off and on.
func BenchmarkProcess(b *testing.B) {
	o := storefront.DefaultOptions()
	o.N, o.Batch = 50000, 0.1
	var buf bytes.Buffer
	if _, err := storefront.Generate(&buf, o); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	for _, capture := range []bool{false, true} {
		b.Run(map[bool]string{false: "capture=off", true: "capture=on"}[capture], func(b *testing.B) {
			p, err := processor.New(mapping.MustNew(mapping.Options{}), memory.NewIdentities(memory.Options{}), processor.Options{ClickCapture: capture})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			events := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.Each(lines[i%len(lines)], func(ev processor.Event) bool {
					events++
					if ev.Class.Kind == mapping.KindDropped && !p.Inspects(ev) {
						return true
					}
					_, _ = p.Handle(ctx, ev)
					return true
				})
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
