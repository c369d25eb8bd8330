package mapping

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/storefront"
)

// sameAsMarshal fails unless o.AppendJSON gives what json.Marshal(o) does:
// the same bytes, or an error from both.
func sameAsMarshal(t *testing.T, o Order) {
	t.Helper()
	want, werr := json.Marshal(o)
	got, gerr := o.AppendJSON([]byte("prefix"))
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("AppendJSON error %v, json.Marshal error %v, for %#v", gerr, werr, o)
	}
	if werr != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) || string(got[len("prefix"):]) != string(want) {
		t.Fatalf("AppendJSON:   %s\njson.Marshal: %s", got, want)
	}
}

func TestAppendJSONIsMarshal(t *testing.T) {
	yes, no := true, false
	var all strings.Builder
	for c := range 0x80 {
		all.WriteByte(byte(c))
	}
	awkward := all.String() + "\u2028\u2029\u00e9\u20ac😀\xff\xfe\xc3\xe2\x80 tail <b>&amp;</b>"
	full := Order{
		CartID: "cart-1", OrderID: "o-1", CurrencyCode: "USD", Shipping: "5.00", Tax: "1.25", Discount: "0",
		DiscountCode: "SAVE<10>", IsSubscription: &yes, SubscriptionID: json.RawMessage(`123`),
		AutoCreditAffiliateID: json.RawMessage(`"aff-1"`),
		Customer:              &Customer{FirstName: "Ann", LastName: "O'Brien", Email: "ann@example.com", IPAddress: "192.0.2.1"},
		Items:                 []Item{{SKU: "A", Name: "T-Shirt", Price: "19.99", Quantity: "2"}, {SKU: "B", Price: "1e3", Quantity: "1"}},
	}
	cases := map[string]func(o *Order){
		"full":                       func(*Order) {},
		"minimal, no items":          func(o *Order) { *o = Order{} },
		"empty items":                func(o *Order) { o.Items = []Item{} },
		"empty customer":             func(o *Order) { o.Customer = &Customer{} },
		"customer with only an ip":   func(o *Order) { o.Customer = &Customer{IPAddress: "::1"} },
		"not a subscription":         func(o *Order) { o.IsSubscription = &no },
		"awkward strings":            func(o *Order) { o.CartID, o.Items[0].Name, o.Customer.LastName = awkward, awkward, awkward },
		"empty price and quantity":   func(o *Order) { o.Items[0].Price, o.Items[0].Quantity = "", "" },
		"invalid price":              func(o *Order) { o.Items[1].Price = "1." },
		"invalid shipping":           func(o *Order) { o.Shipping = "01" },
		"invalid quantity":           func(o *Order) { o.Items[0].Quantity = "two" },
		"raw with spaces":            func(o *Order) { o.SubscriptionID = json.RawMessage(" { \"a\" : [1, 2] } ") },
		"raw with html":              func(o *Order) { o.AutoCreditAffiliateID = json.RawMessage(`"<aff>&\u2028"`) },
		"raw not utf-8":              func(o *Order) { o.AutoCreditAffiliateID = json.RawMessage("\"\xff\"") },
		"raw invalid":                func(o *Order) { o.SubscriptionID = json.RawMessage(`{"a":`) },
		"raw a string of the mapper": func(o *Order) { o.SubscriptionID, _ = json.Marshal("sub_<1>") },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			o := full
			o.Customer = new(*full.Customer)
			o.Items = append([]Item(nil), full.Items...)
			change(&o)
			sameAsMarshal(t, o)
		})
	}
}

// Every order of a generated stream encodes as json.Marshal encodes it.
func TestAppendJSONOnAGeneratedStream(t *testing.T) {
	o := storefront.DefaultOptions()
	o.N = 20000
	var buf bytes.Buffer
	if _, err := storefront.Generate(&buf, o); err != nil {
		t.Fatal(err)
	}
	m := MustNew(Options{})
	orders := 0
	for _, line := range splitLines(buf.Bytes()) {
		m.Split(line, func(_ int, ev []byte, c Class) bool {
			if c.Kind == KindOrder {
				if o, err := m.Map(ev); err == nil {
					o.Customer = &Customer{FirstName: "Ann", Email: "ann@example.com", IPAddress: "192.0.2.1"}
					sameAsMarshal(t, o)
					orders++
				}
			}
			return true
		})
	}
	if orders < 100 {
		t.Fatalf("only %d orders in the stream", orders)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("cart", "name <&>", "ann@example.com", "19.99", "2", []byte(`123`))
	f.Add("\xff\u2028", "\x00\x1f\"\\", "", "", "1e-3", []byte(` "x" `))
	f.Fuzz(func(t *testing.T, id, name, email, price, qty string, raw []byte) {
		sameAsMarshal(t, Order{
			CartID: id, OrderID: id, CurrencyCode: "USD", Discount: json.Number(price), DiscountCode: name,
			SubscriptionID: raw, Customer: &Customer{LastName: name, Email: email},
			Items: []Item{{SKU: id, Name: name, Price: json.Number(price), Quantity: json.Number(qty)}},
		})
	})
}

// BenchmarkOrderJSON compares AppendJSON with json.Marshal on an order of
// the generated stream's kind (two items, a customer).
func BenchmarkOrderJSON(b *testing.B) {
	o := Order{CartID: "cart-1f3a", OrderID: "order-000000012345", CurrencyCode: "USD", Shipping: "5.00", Tax: "1.62",
		Customer: &Customer{FirstName: "Ann", LastName: "Smith", Email: "ann.smith.42@example.com", IPAddress: "203.0.113.7"},
		Items:    []Item{{SKU: "TSHIRT-M", Name: "T-Shirt", Price: "19.99", Quantity: "2"}, {SKU: "MUG", Name: "Mug", Price: "8.50", Quantity: "1"}}}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := o.AppendJSON(make([]byte, 0, 512)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(o); err != nil {
				b.Fatal(err)
			}
		}
	})
}
