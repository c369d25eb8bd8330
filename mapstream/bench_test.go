package mapstream_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/mapstream"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/storefront"
)

// BenchmarkRun is the map command's work, NDJSON in to NDJSON out, over the
// generated storefront stream.
func BenchmarkRun(b *testing.B) {
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Batch = 100000, 1, 0.1
	var in bytes.Buffer
	c, err := storefront.Generate(&in, o)
	if err != nil {
		b.Fatal(err)
	}
	events := c.Events()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		proc, err := processor.New(mapping.MustNew(mapping.Options{}), memory.NewIdentities(memory.Options{}), processor.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := mapstream.Run(context.Background(), bytes.NewReader(in.Bytes()), io.Discard, proc, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}
