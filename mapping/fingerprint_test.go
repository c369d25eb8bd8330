package mapping_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// order is an order of 3 units totalling 104.50 USD:
// 2×40.00 + 1×20.00 + 9.99 shipping + 0.51 tax − 6.00 discount.
func order() mapping.Order {
	yes := true
	return mapping.Order{
		CartID: "cart-1", OrderID: "1001", CurrencyCode: "USD",
		Shipping: "9.99", Tax: "0.51", Discount: "6.00", DiscountCode: "SPRING",
		IsSubscription: &yes, SubscriptionID: json.RawMessage(`"sub-1"`), AutoCreditAffiliateID: json.RawMessage(`"42"`),
		Customer: &mapping.Customer{FirstName: "Ann", LastName: "Lee", Email: "ann@example.com", IPAddress: "192.0.2.7"},
		Items: []mapping.Item{
			{SKU: "A", Name: "Product A", Price: "40.00", Quantity: "2"},
			{SKU: "B", Name: "Product B", Price: "20.00", Quantity: "1"},
		},
		Source: mapping.Source{MessageID: "m-1", UserID: "u-1", AnonymousID: "a-1", At: 1},
	}
}

// What a replay may read differently (enrichment, source) and what does
// not change the conversion leave the fingerprint alone; so does writing
// the same amounts otherwise, or the items in another order.
func TestFingerprintIsTheSameForTheSameOrder(t *testing.T) {
	want := mapping.Fingerprint(order())
	if !strings.HasPrefix(want, "v1:") || len(want) != len("v1:")+32 {
		t.Fatalf("fingerprint %q: want v1: and 32 hex digits", want)
	}
	same := map[string]func(o *mapping.Order){
		"unchanged": func(*mapping.Order) {},
		"another customer": func(o *mapping.Order) {
			o.Customer = &mapping.Customer{Email: "bob@example.com", IPAddress: "198.51.100.1"}
		},
		"no customer":           func(o *mapping.Order) { o.Customer = nil },
		"another source":        func(o *mapping.Order) { o.Source = mapping.Source{MessageID: "m-2"} },
		"another affiliate":     func(o *mapping.Order) { o.AutoCreditAffiliateID = nil },
		"other item names":      func(o *mapping.Order) { o.Items[0].Name = "Renamed" },
		"no subscription":       func(o *mapping.Order) { o.IsSubscription, o.SubscriptionID = nil, nil },
		"another order_id":      func(o *mapping.Order) { o.OrderID = "1002" },
		"items in another turn": func(o *mapping.Order) { o.Items[0], o.Items[1] = o.Items[1], o.Items[0] },
		"amounts written otherwise": func(o *mapping.Order) {
			o.Shipping, o.Tax, o.Discount = "9.990", "51e-2", "6"
			o.Items[0].Price, o.Items[1].Price = "4E1", "20"
		},
	}
	for name, change := range same {
		o := order()
		o.Items = append([]mapping.Item(nil), o.Items...)
		change(&o)
		if got := mapping.Fingerprint(o); got != want || mapping.FingerprintsDiffer(want, got) {
			t.Errorf("%s: fingerprint %s, want %s", name, got, want)
		}
	}
	zero := order()
	zero.Tax = ""
	withZero := order()
	withZero.Tax = "0.00"
	if mapping.Fingerprint(zero) != mapping.Fingerprint(withZero) {
		t.Error("an absent tax differs from a tax of 0.00")
	}
}

// Every part of what Refersion credits changes the fingerprint.
func TestFingerprintDiffersForDifferentContent(t *testing.T) {
	base := mapping.Fingerprint(order())
	changes := map[string]func(o *mapping.Order){
		"cart_id":       func(o *mapping.Order) { o.CartID = "cart-2" },
		"currency":      func(o *mapping.Order) { o.CurrencyCode = "EUR" },
		"shipping":      func(o *mapping.Order) { o.Shipping = "10.00" },
		"tax":           func(o *mapping.Order) { o.Tax = "" },
		"discount":      func(o *mapping.Order) { o.Discount = "6.01" },
		"discount code": func(o *mapping.Order) { o.DiscountCode = "SUMMER" },
		"price":         func(o *mapping.Order) { o.Items[1].Price = "21.00" },
		"quantity":      func(o *mapping.Order) { o.Items[0].Quantity = "3" },
		"sku":           func(o *mapping.Order) { o.Items[0].SKU = "C" },
		"an item less":  func(o *mapping.Order) { o.Items = o.Items[:1] },
		"an item more": func(o *mapping.Order) {
			o.Items = append(o.Items, mapping.Item{SKU: "B", Price: "20.00", Quantity: "1"})
		},
		"quantities swapped between items": func(o *mapping.Order) {
			o.Items[0].Quantity, o.Items[1].Quantity = "1", "2"
		},
		"a field's text moved into the next": func(o *mapping.Order) { o.CartID, o.CurrencyCode = "cart-1U", "SD" },
	}
	seen := map[string]string{base: "the order"}
	for name, change := range changes {
		o := order()
		o.Items = append([]mapping.Item(nil), o.Items...)
		change(&o)
		got := mapping.Fingerprint(o)
		if !mapping.FingerprintsDiffer(base, got) {
			t.Errorf("%s changed: fingerprint unchanged %s", name, got)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("%s: same fingerprint as %s", name, other)
		}
		seen[got] = name
	}
}

// A fingerprint recorded by a version that kept none, or by another
// version of Fingerprint, is unknown: it differs from nothing.
func TestUnknownFingerprintDiffersFromNothing(t *testing.T) {
	now := mapping.Fingerprint(order())
	for _, recorded := range []string{"", "v0:0123456789abcdef0123456789abcdef", "v2:" + now[3:], "garbage"} {
		if mapping.FingerprintsDiffer(recorded, now) {
			t.Errorf("FingerprintsDiffer(%q, now) = true", recorded)
		}
	}
	if mapping.FingerprintsDiffer(now, "") {
		t.Error("an empty current fingerprint differs")
	}
	if !mapping.FingerprintsDiffer("v1:0123456789abcdef0123456789abcdef", now) {
		t.Error("two v1 fingerprints of different content do not differ")
	}
}

func TestSummaryGivesTotalCurrencyAndUnits(t *testing.T) {
	cases := []struct {
		name   string
		change func(o *mapping.Order)
		want   string
	}{
		{"the order", func(*mapping.Order) {}, "total 104.50 USD, 3 items"},
		{"one unit, no extras", func(o *mapping.Order) {
			o.Shipping, o.Tax, o.Discount, o.Items = "", "", "", o.Items[1:]
		}, "total 20.00 USD, 1 item"},
		{"fractions of a cent are kept", func(o *mapping.Order) {
			o.Shipping, o.Tax, o.Discount = "", "", ""
			o.Items = []mapping.Item{{SKU: "A", Price: "0.125", Quantity: "3"}}
		}, "total 0.375 USD, 3 items"},
		{"exponents", func(o *mapping.Order) {
			o.Shipping, o.Tax, o.Discount = "1e1", "", "5E-1"
			o.Items = []mapping.Item{{SKU: "A", Price: "1.5e2", Quantity: "1"}}
		}, "total 159.50 USD, 1 item"},
		{"money as exact decimals, not floats", func(o *mapping.Order) {
			o.Shipping, o.Tax, o.Discount = "0.1", "0.2", ""
			o.Items = []mapping.Item{{SKU: "A", Price: "19.99", Quantity: "3"}}
		}, "total 60.27 USD, 3 items"},
		{"a discount past the items", func(o *mapping.Order) {
			o.Shipping, o.Tax, o.Discount = "", "", "50"
			o.Items = o.Items[1:]
		}, "total -30.00 USD, 1 item"},
		{"amounts past an int64", func(o *mapping.Order) {
			o.Shipping, o.Tax, o.Discount = "", "", "0.25"
			o.Items = []mapping.Item{{SKU: "A", Price: "12345678901234567890.5", Quantity: "1"}}
		}, "total 12345678901234567890.25 USD, 1 item"},
		{"a product past an int64", func(o *mapping.Order) {
			o.Shipping, o.Tax, o.Discount = "", "", ""
			o.Items = []mapping.Item{{SKU: "A", Price: "9000000000", Quantity: "9000000000"}}
		}, "total 81000000000000000000.00 USD, 9000000000 items"},
		{"units past an int64", func(o *mapping.Order) {
			o.Shipping, o.Tax, o.Discount = "", "", ""
			o.Items = []mapping.Item{{SKU: "A", Price: "0", Quantity: "9223372036854775807"}, {SKU: "B", Price: "0", Quantity: "2"}}
		}, "total 0.00 USD, 9223372036854775809 items"},
		{"an amount too small to add up", func(o *mapping.Order) { o.Items[0].Price = "1e-300" }, "total ? USD, 3 items"},
		{"an amount that is no number", func(o *mapping.Order) { o.Tax = "$1" }, "total ? USD, 3 items"},
		{"a huge exponent", func(o *mapping.Order) { o.Tax = "1e99999999999999999999" }, "total ? USD, 3 items"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := order()
			o.Items = append([]mapping.Item(nil), o.Items...)
			c.change(&o)
			if got := mapping.Summary(o); got != c.want {
				t.Fatalf("Summary = %q, want %q", got, c.want)
			}
		})
	}
}

// Neither the fingerprint nor the summary carries the customer: both go to
// stores, logs and dead-letter records.
func TestFingerprintAndSummaryHoldNoCustomerData(t *testing.T) {
	o := order()
	for _, s := range []string{mapping.Fingerprint(o), mapping.Summary(o)} {
		for _, personal := range []string{"ann", "Ann", "Lee", "192.0.2.7", "u-1", "a-1"} {
			if strings.Contains(s, personal) {
				t.Errorf("%q holds %q", s, personal)
			}
		}
	}
}

// Amounts as the mapping writes them, numbers of any size: the fingerprint
// and summary never fail or take long.
func FuzzFingerprint(f *testing.F) {
	for _, s := range []string{"5.50", "0", "1e-300", "-0", "1E+400", "12345678901234567890.123", "x"} {
		f.Add(s, s, "2")
	}
	f.Add("0", "0", "A")
	f.Add("1", "", "-1")
	f.Add("0", "0", "1"+strings.Repeat("0", 400))
	f.Fuzz(func(t *testing.T, price, shipping, quantity string) {
		o := mapping.Order{CartID: "c", OrderID: "1", CurrencyCode: "USD", Shipping: json.Number(shipping),
			Items: []mapping.Item{{SKU: "A", Price: json.Number(price), Quantity: json.Number(quantity)}}}
		if fp := mapping.Fingerprint(o); !strings.HasPrefix(fp, "v1:") {
			t.Fatalf("fingerprint %q", fp)
		}
		if s := mapping.Summary(o); !strings.HasPrefix(s, "total ") || len(s) > 400 {
			t.Fatalf("summary %q", s)
		}
	})
}
