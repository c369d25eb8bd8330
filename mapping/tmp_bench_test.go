package mapping

import (
	"bytes"
	"context"
	"os"
	"testing"
)

func BenchmarkTmpStream(b *testing.B) {
	data, _ := os.ReadFile("/tmp/eg20k.ndjson")
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	m := MustNew(Options{})
	ids := NewMemoryIdentities()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		line := lines[i%len(lines)]
		m.Split(line, func(_ int, ev []byte, c Class) bool {
			n++
			switch c.Kind {
			case KindOrder:
				o, err := m.Map(ev)
				if err == nil {
					_ = Enrich(ctx, &o, ids)
				}
			case KindIdentify, KindAlias, KindDelete:
				u, err := ParseIdentity(ev, c.Kind)
				if err == nil {
					_ = Apply(ctx, ids, u)
				}
			}
			return true
		})
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkTmpClassify(b *testing.B) {
	data, _ := os.ReadFile("/tmp/eg20k.ndjson")
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	m := MustNew(Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = m.Classify(lines[i%len(lines)])
	}
}
