package storefront

import (
	"bytes"
	"io"
	"testing"
)

// gen returns the whole stream for o and its counts.
func gen(t testing.TB, o Options) ([]byte, Counts) {
	t.Helper()
	var buf bytes.Buffer
	c, err := Generate(&buf, o)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), c
}

// mixed is a workload with every kind of event and line in quantity.
func mixed(n int, seed int64) Options {
	o := DefaultOptions()
	o.N, o.Seed = n, seed
	o.Orders, o.Invalid, o.Aliases, o.Batch = 0.1, 0.3, 0.01, 0.3
	return o
}

// BenchmarkGenerate measures generation speed; one op is one event.
func BenchmarkGenerate(b *testing.B) {
	for _, c := range []struct {
		name string
		o    Options
	}{{"default", DefaultOptions()}, {"mixed", mixed(0, 1)}} {
		b.Run(c.name, func(b *testing.B) {
			o := c.o
			o.N = b.N
			g, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			var bytes int64
			b.ReportAllocs()
			b.ResetTimer()
			for l, ok := g.Next(); ok; l, ok = g.Next() {
				bytes += int64(len(l.Data) + 1)
			}
			b.StopTimer()
			b.SetBytes(bytes / int64(b.N))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkGenerateWriter is Generate into io.Discard, batching included.
func BenchmarkGenerateWriter(b *testing.B) {
	o := mixed(0, 1)
	o.N = b.N
	b.ReportAllocs()
	if _, err := Generate(io.Discard, o); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkProducerCopy is what a Kafka producer pays: generating and
// copying each line, since Line.Data is reused.
func BenchmarkProducerCopy(b *testing.B) {
	o := DefaultOptions()
	o.N = b.N
	g, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var keep [][]byte
	for l, ok := g.Next(); ok; l, ok = g.Next() {
		keep = append(keep, bytes.Clone(l.Data))
		if len(keep) == 1000 {
			keep = keep[:0]
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
