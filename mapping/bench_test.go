package mapping_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/storefront"
)

var (
	streamOnce  sync.Once
	streamLines [][]byte
	streamN     int
)

// benchStream is the standard workload with 10% batch envelopes.
func benchStream(b *testing.B) ([][]byte, int) {
	streamOnce.Do(func() {
		o := storefront.DefaultOptions()
		o.N, o.Batch = 100000, 0.1
		var buf bytes.Buffer
		c, err := storefront.Generate(&buf, o)
		if err != nil {
			b.Fatal(err)
		}
		streamLines = bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
		streamN = c.Events()
	})
	return streamLines, streamN
}

// BenchmarkStream classifies every event of the workload and maps, enriches
// or applies the ones that matter: the relay's per-event work without I/O.
// One op is one line; events/s counts events inside batch envelopes too.
func BenchmarkStream(b *testing.B) {
	lines, _ := benchStream(b)
	m := mapping.MustNew(mapping.Options{})
	ids := memory.NewIdentities(memory.Options{})
	ctx := context.Background()
	events := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Split(lines[i%len(lines)], func(_ int, ev []byte, c mapping.Class) bool {
			events++
			switch c.Kind {
			case mapping.KindOrder:
				if o, err := m.Map(ev); err == nil {
					_ = mapping.Enrich(ctx, &o, ids)
				}
			case mapping.KindIdentify, mapping.KindAlias, mapping.KindDelete:
				if u, err := mapping.ParseIdentity(ev, c.Kind); err == nil {
					_ = mapping.Apply(ctx, ids, u)
				}
			}
			return true
		})
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

// BenchmarkStreamDropped measures the dropped events alone (97% of a stream).
func BenchmarkStreamDropped(b *testing.B) {
	lines, _ := benchStream(b)
	m := mapping.MustNew(mapping.Options{})
	var dropped [][]byte
	for _, l := range lines {
		if c := m.Classify(l); c.Kind == mapping.KindDropped {
			dropped = append(dropped, l)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = m.Classify(dropped[i%len(dropped)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkStreamBaseline does the same work with encoding/json into
// map[string]any: the plain approach the scanner is measured against.
func BenchmarkStreamBaseline(b *testing.B) {
	lines, _ := benchStream(b)
	ids := memory.NewIdentities(memory.Options{})
	ctx := context.Background()
	events := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var msg map[string]any
		d := json.NewDecoder(bytes.NewReader(lines[i%len(lines)]))
		d.UseNumber()
		if d.Decode(&msg) != nil {
			continue
		}
		evs := []any{msg}
		if batch, ok := msg["batch"].([]any); ok {
			evs = batch
		}
		for _, e := range evs {
			events++
			ev, _ := e.(map[string]any)
			baselineEvent(ctx, ev, ids)
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

func baselineEvent(ctx context.Context, ev map[string]any, ids *memory.Identities) {
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	switch str(ev, "type") {
	case "identify":
		tr, _ := ev["traits"].(map[string]any)
		t := mapping.Traits{Email: str(tr, "email"), FirstName: str(tr, "firstName") + str(tr, "first_name"), LastName: str(tr, "lastName") + str(tr, "last_name")}
		if n := str(tr, "name"); n != "" && t.FirstName == "" {
			t.FirstName, t.LastName, _ = strings.Cut(n, " ")
		}
		id := str(ev, "userId")
		if id == "" {
			id = str(ev, "anonymousId")
		}
		_ = ids.Merge(ctx, id, t)
	case "track":
		if e := str(ev, "event"); e != "Order Completed" && e != "Completed Order" {
			return
		}
		p, _ := ev["properties"].(map[string]any)
		o := mapping.Order{CartID: str(p, "cart_id") + str(p, "checkout_id"), OrderID: str(p, "order_id"), CurrencyCode: strings.ToUpper(str(p, "currency"))}
		o.Shipping, _ = p["shipping"].(json.Number)
		o.Tax, _ = p["tax"].(json.Number)
		products, _ := p["products"].([]any)
		for _, x := range products {
			pm, _ := x.(map[string]any)
			price, _ := pm["price"].(json.Number)
			q, _ := pm["quantity"].(json.Number)
			o.Items = append(o.Items, mapping.Item{SKU: str(pm, "sku"), Name: str(pm, "name"), Price: price, Quantity: q})
		}
		if t, ok, _ := ids.Lookup(ctx, str(ev, "userId")); ok {
			o.Customer = &mapping.Customer{Email: t.Email, FirstName: t.FirstName, LastName: t.LastName}
		}
	}
}
