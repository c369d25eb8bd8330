package storefront

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

// withStores is a mixed workload with refunds, clicks and stores.
func withStores(n int, seed int64, stores int) Options {
	o := mixed(n, seed)
	o.Refunds, o.Clicks, o.Stores = 0.3, 0.1, stores
	return o
}

// TestOneStoreIsTheStreamAsBefore: with one store (0 or 1) the bytes are
// those the generator wrote before stores existed; the hash pins them.
func TestOneStoreIsTheStreamAsBefore(t *testing.T) {
	const before = "115ed0adb0baa1909512b9dbc442caacd64c6f2b1fc49df90eb7844e78d63df4"
	for _, stores := range []int{0, 1} {
		out, c := gen(t, withStores(3000, 7, stores))
		if sum := sha256.Sum256(out); hex.EncodeToString(sum[:]) != before {
			t.Errorf("stores %d: the stream changed", stores)
		}
		if bytes.Contains(out, []byte(`"groupId"`)) || bytes.Contains(out, []byte(`"store"`)) || c.SharedOrderIDs != 0 {
			t.Errorf("stores %d: store fields or shared ids in a one-store stream", stores)
		}
	}
}

// storeEvent is the part of an event the store tests look at.
type storeEvent struct {
	Type    string `json:"type"`
	Event   string `json:"event"`
	Context struct {
		GroupID string `json:"groupId"`
	} `json:"context"`
	Properties map[string]json.RawMessage `json:"properties"`
}

// TestEveryEventCarriesItsStore checks a three-store stream: it is
// deterministic; every event names its store in context.groupId and every
// track in properties.store too, as Event.Store says; an order_id is
// unique within a store, a few are shared by two stores, exactly as counted;
// a refund names its order's store; the stores' counts add up.
func TestEveryEventCarriesItsStore(t *testing.T) {
	o := withStores(30000, 5, 3)
	a, ca := gen(t, o)
	b, cb := gen(t, o)
	if !bytes.Equal(a, b) || ca != cb {
		t.Fatal("same options gave different output")
	}
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	idStores := map[string]map[string]bool{} // order_id → stores of its valid orders
	var sum StoreCounts
	for l, ok := g.Next(); ok; l, ok = g.Next() {
		raws := eventsOf(t, l)
		for i, raw := range raws {
			var e storeEvent
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			want := l.Events[i]
			if e.Context.GroupID == "" || e.Context.GroupID != want.Store || !strings.HasPrefix(want.Store, "store-") || want.Store > "store-3" {
				t.Fatalf("%s: context.groupId %q, Event.Store %q", want.MessageID, e.Context.GroupID, want.Store)
			}
			if e.Type == "track" && text(e.Properties["store"]) != want.Store {
				t.Fatalf("%s: properties.store %s, want %q", want.MessageID, e.Properties["store"], want.Store)
			}
			if e.Type != "track" && e.Properties["store"] != nil {
				t.Fatalf("%s: properties.store on a %s", want.MessageID, e.Type)
			}
			switch {
			case want.Kind == OrderValid:
				if idStores[want.OrderID][want.Store] {
					t.Fatalf("order_id %s twice in %s", want.OrderID, want.Store)
				}
				if idStores[want.OrderID] == nil {
					idStores[want.OrderID] = map[string]bool{}
				}
				idStores[want.OrderID][want.Store] = true
			case e.Event == "Order Cancelled" || e.Event == "Order Refunded":
				if !idStores[want.OrderID][want.Store] {
					t.Fatalf("%s: a refund of %s in %s, which has no such order", want.MessageID, want.OrderID, want.Store)
				}
			}
		}
	}
	shared := 0
	for _, stores := range idStores {
		shared += len(stores) - 1
	}
	c := g.Counts()
	if shared == 0 || shared != c.SharedOrderIDs {
		t.Fatalf("%d orders reuse another store's order_id, counted %d", shared, c.SharedOrderIDs)
	}
	sc := g.StoreCounts()
	if len(sc) != 3 {
		t.Fatalf("store counts %v", sc)
	}
	for name, s := range sc {
		if s.OrderValid == 0 || s.Events == 0 {
			t.Errorf("%s: %+v", name, s)
		}
		sum.Events += s.Events
		sum.OrderValid += s.OrderValid
		sum.OrderInvalid += s.OrderInvalid
		sum.SharedOrderIDs += s.SharedOrderIDs
		sum.Cancellations += s.Cancellations
		sum.ProductRefunds += s.ProductRefunds
		sum.AmountRefunds += s.AmountRefunds
	}
	if want := (StoreCounts{Events: c.Events(), OrderValid: c.OrderValid, OrderInvalid: c.OrderInvalid, SharedOrderIDs: c.SharedOrderIDs,
		Cancellations: c.Cancellations, ProductRefunds: c.ProductRefunds, AmountRefunds: c.AmountRefunds}); sum != want {
		t.Fatalf("the stores add up to %+v, the stream has %+v", sum, want)
	}
	t.Logf("%d shared order ids of %d valid orders; %v", shared, c.OrderValid, sc)
}

// TestStoresChangeOnlyTheirFields: the events of a three-store stream are
// those of the one-store stream with the same seed, one for one (kind,
// messageId, people, cart), and the counts are the same.
func TestStoresChangeOnlyTheirFields(t *testing.T) {
	one, err := New(withStores(20000, 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	three, err := New(withStores(20000, 3, 3))
	if err != nil {
		t.Fatal(err)
	}
	renamed := map[string]string{} // one store's order_id → the shared one three stores gave it
	for {
		l1, ok1 := one.Next()
		l3, ok3 := three.Next()
		if ok1 != ok3 {
			t.Fatal("the streams have different lengths")
		}
		if !ok1 {
			break
		}
		if len(l1.Events) != len(l3.Events) {
			t.Fatalf("line %d: %d and %d events", one.Counts().Lines, len(l1.Events), len(l3.Events))
		}
		for i, e := range l3.Events {
			want := l1.Events[i]
			if e.Kind == OrderValid && e.OrderID != want.OrderID {
				renamed[want.OrderID] = e.OrderID
			}
			if e.OrderID == renamed[want.OrderID] {
				e.OrderID = want.OrderID // a shared id, or a refund of its order
			}
			e.Store = ""
			if e != want {
				t.Fatalf("one store %+v, three %+v", want, l3.Events[i])
			}
		}
	}
	c1, c3 := one.Counts(), three.Counts()
	if len(renamed) == 0 || len(renamed) != c3.SharedOrderIDs {
		t.Fatalf("%d orders got another store's order_id, counted %d", len(renamed), c3.SharedOrderIDs)
	}
	c3.SharedOrderIDs = 0
	if c1 != c3 {
		t.Fatalf("one store %+v, three %+v", c1, c3)
	}
}

// TestSurvivorsByStore recomputes what each store's orders keep after its
// refunds from the stream itself, and compares with SurvivorsByStore and
// Survivors.
func TestSurvivorsByStore(t *testing.T) {
	o := withStores(30000, 11, 3)
	o.Shared = 0.05
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]map[string]int{}
	for l, ok := g.Next(); ok; l, ok = g.Next() {
		for i, raw := range eventsOf(t, l) {
			ev := l.Events[i]
			var e storeEvent
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			if want[ev.Store] == nil {
				want[ev.Store] = map[string]map[string]int{}
			}
			orders := want[ev.Store]
			switch {
			case ev.Kind == OrderValid:
				var items []map[string]json.RawMessage
				if err := json.Unmarshal(e.Properties["products"], &items); err != nil {
					t.Fatal(err)
				}
				lines := map[string]int{}
				for _, it := range items {
					q := 1
					if it["quantity"] != nil {
						if err := json.Unmarshal(it["quantity"], &q); err != nil {
							t.Fatal(err)
						}
					}
					lines[first(it, "sku", "product_id", "id")] += q
				}
				orders[ev.OrderID] = lines
			case e.Event == "Order Cancelled":
				for sku := range orders[ev.OrderID] {
					orders[ev.OrderID][sku] = 0
				}
			case e.Event == "Order Refunded" && e.Properties["products"] != nil:
				var items []map[string]json.RawMessage
				if err := json.Unmarshal(e.Properties["products"], &items); err != nil {
					t.Fatal(err)
				}
				if sku := text(items[0]["sku"]); orders[ev.OrderID][sku] > 0 {
					orders[ev.OrderID][sku]--
				}
			}
		}
	}
	got := g.SurvivorsByStore()
	if len(got) != 3 {
		t.Fatalf("survivors of %d stores", len(got))
	}
	for store, orders := range got {
		for id, lines := range orders {
			if !maps.Equal(lines, want[store][id]) {
				t.Fatalf("%s %s: survivors %v, the stream says %v", store, id, lines, want[store][id])
			}
		}
		if len(orders) != len(want[store]) {
			t.Fatalf("%s: %d orders, the stream has %d", store, len(orders), len(want[store]))
		}
	}
	all := g.Survivors()
	for id, lines := range all {
		for sku, n := range lines {
			sum := 0
			for store := range got {
				sum += got[store][id][sku]
			}
			if n != sum {
				t.Fatalf("%s %s: Survivors %d, the stores' sum %d", id, sku, n, sum)
			}
		}
	}
	if g.Counts().SharedOrderIDs == 0 {
		t.Fatal("no shared order ids")
	}
}

func TestStoreOptionErrors(t *testing.T) {
	for name, f := range map[string]func(*Options){
		"negative stores": func(o *Options) { o.Stores = -1 },
		"shared > 1":      func(o *Options) { o.Shared = 2 },
	} {
		o := DefaultOptions()
		f(&o)
		if _, err := New(o); err == nil || !strings.HasPrefix(err.Error(), "storefront: ") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

// eventsOf returns the raw events of a line, in order.
func eventsOf(t testing.TB, l Line) []json.RawMessage {
	t.Helper()
	if !l.Batch {
		return []json.RawMessage{l.Data}
	}
	var env struct{ Batch []json.RawMessage }
	if err := json.Unmarshal(l.Data, &env); err != nil {
		t.Fatal(err)
	}
	return env.Batch
}
