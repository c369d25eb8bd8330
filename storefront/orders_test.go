package storefront

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// iso is enough of ISO 4217 for the generated currencies.
var iso = map[string]bool{"USD": true, "EUR": true, "GBP": true, "CAD": true, "JPY": true}

var (
	plainNumber = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	wholeNumber = regexp.MustCompile(`^[1-9][0-9]*$`)
)

// text reads a JSON string or number as the mapping contract does; "" if
// absent, empty or another type.
func text(raw json.RawMessage) string {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if len(raw) == 0 || d.Decode(&v) != nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// first is the text of the first of keys present in m.
func first(m map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		if s := text(m[k]); s != "" {
			return s
		}
	}
	return ""
}

// orderDefects applies the mapping contract's validity rules (CONTRACT §3),
// written independently of the generator, and names what is wrong.
func orderDefects(t testing.TB, p map[string]json.RawMessage) []Defect {
	var ds []Defect
	if c := first(p, "cart_id", "checkout_id"); c == "" || len(c) > 255 {
		ds = append(ds, MissingCartID)
	}
	if first(p, "order_id", "orderId") == "" {
		ds = append(ds, MissingOrderID)
	}
	switch c := text(p["currency"]); {
	case p["currency"] == nil:
		ds = append(ds, MissingCurrency)
	case !iso[strings.ToUpper(strings.TrimSpace(c))]:
		ds = append(ds, UnknownCurrency)
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(p["products"], &items); err != nil || len(items) == 0 {
		return append(ds, EmptyProducts)
	}
	for _, it := range items {
		if first(it, "sku", "product_id", "id") == "" {
			ds = append(ds, MissingSKU)
		}
		switch price := text(it["price"]); {
		case strings.HasPrefix(price, "$"):
			ds = append(ds, PriceDollar)
		case strings.Contains(price, ","):
			ds = append(ds, PriceComma)
		case strings.HasPrefix(price, "-"):
			ds = append(ds, NegativePrice)
		case !plainNumber.MatchString(price):
			t.Fatalf("unexpected price %s", it["price"])
		}
		if q, ok := it["quantity"]; ok && !wholeNumber.Match(q) {
			ds = append(ds, ZeroQuantity)
		}
	}
	return ds
}

// TestOrders checks every order: valid ones have no defect, invalid ones
// exactly the one the generator reports; ids are what Event says and unique.
func TestOrders(t *testing.T) {
	g, err := New(mixed(20000, 11))
	if err != nil {
		t.Fatal(err)
	}
	orderIDs := map[string]bool{}
	defects := map[Defect]int{}
	variants := map[string]int{}
	for l, ok := g.Next(); ok; l, ok = g.Next() {
		for i, e := range parseLine(t, l) {
			want := l.Events[i]
			if want.Kind != OrderValid && want.Kind != OrderInvalid {
				continue
			}
			ds := orderDefects(t, e.Properties)
			if want.Kind == OrderValid && len(ds) != 0 || want.Kind == OrderInvalid && !slices.Equal(ds, []Defect{want.Defect}) {
				t.Fatalf("%s (%v, defect %q): found %v\n%s", e.MessageID, want.Kind, want.Defect, ds, l.Data)
			}
			defects[want.Defect]++
			if id := first(e.Properties, "order_id", "orderId"); id != want.OrderID {
				t.Fatalf("%s: order id %q, Event says %q", e.MessageID, id, want.OrderID)
			} else if id != "" && orderIDs[id] {
				t.Fatalf("order id %s twice", id)
			} else {
				orderIDs[id] = true
			}
			if c := first(e.Properties, "cart_id", "checkout_id"); c != want.CartID {
				t.Fatalf("%s: cart id %q, Event says %q", e.MessageID, c, want.CartID)
			}
			countVariants(variants, e)
		}
	}
	for _, d := range Defects {
		if defects[d] == 0 {
			t.Errorf("defect %s never generated", d)
		}
	}
	for _, v := range []string{"v1", "checkout_id", "numeric order_id", "numeric cart_id", "string price", "no quantity", "usd", "context.traits"} {
		if variants[v] == 0 {
			t.Errorf("variant %q never generated", v)
		}
	}
	t.Logf("defects %v; variants %v", defects, variants)
}

func countVariants(v map[string]int, e event) {
	p := e.Properties
	if e.Event == "Completed Order" {
		v["v1"]++
	}
	if p["checkout_id"] != nil {
		v["checkout_id"]++
	}
	if id := first(p, "order_id", "orderId"); id != "" && !strings.HasPrefix(id, "ord-") {
		v["numeric order_id"]++
	}
	if len(p["cart_id"]) > 0 && p["cart_id"][0] != '"' {
		v["numeric cart_id"]++
	}
	if string(p["currency"]) == `"usd"` {
		v["usd"]++
	}
	var items []map[string]json.RawMessage
	json.Unmarshal(p["products"], &items)
	for _, it := range items {
		if it["quantity"] == nil {
			v["no quantity"]++
		}
		if pr := it["price"]; len(pr) > 2 && pr[0] == '"' && plainNumber.Match(pr[1:len(pr)-1]) {
			v["string price"]++
		}
	}
	if e.Context.Traits["email"] != nil {
		v["context.traits"]++
	}
}

// TestOrderIDsAcrossSeeds checks that streams of different seeds never
// share an order id, so they can feed one pipeline.
func TestOrderIDsAcrossSeeds(t *testing.T) {
	seen := map[string]int64{}
	for _, seed := range []int64{1, 2, 3, 1000001} {
		o := DefaultOptions()
		o.N, o.Seed, o.Orders = 20000, seed, 0.2
		g, _ := New(o)
		for l, ok := g.Next(); ok; l, ok = g.Next() {
			for _, e := range l.Events {
				if e.OrderID == "" {
					continue
				}
				if s, dup := seen[e.OrderID]; dup {
					t.Fatalf("order id %s in seeds %d and %d", e.OrderID, s, seed)
				}
				seen[e.OrderID] = seed
			}
		}
	}
}
