package mapping

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unicode/utf8"
)

// FuzzMap feeds arbitrary messages through Split, Map, Enrich and the identity
// updates. It must never panic; every accepted order must marshal to valid JSON
// and satisfy the contract's required fields; every rejection must name a problem.
func FuzzMap(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/map/*.ndjson")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range splitLines(b) {
			f.Add(line)
		}
	}
	m := MustNew(Options{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		ids := newFakeIdentities()
		ctx := context.Background()
		m.Split(msg, func(_ int, ev []byte, c Class) bool {
			switch c.Kind {
			case KindOrder:
				o, err := m.Map(ev)
				var ie *InvalidError
				if errors.As(err, &ie) {
					if len(ie.Problems) == 0 {
						t.Fatalf("invalid order without problems: %q", ev)
					}
					if _, err := json.Marshal(ie); err != nil {
						t.Fatalf("invalid report does not marshal: %v", err)
					}
					return true
				}
				if err := Enrich(ctx, &o, ids); err != nil {
					t.Fatal(err)
				}
				checkOrder(t, o, ev)
			case KindIdentify, KindAlias, KindDelete:
				if u, err := ParseIdentity(ev, c.Kind); err == nil {
					_ = Apply(ctx, ids, u)
				}
			case KindMalformed:
				if c.Problem == "" {
					t.Fatalf("malformed without a problem: %q", ev)
				}
			}
			return true
		})
	})
}

func checkOrder(t *testing.T, o Order, ev []byte) {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil || !json.Valid(b) {
		t.Fatalf("accepted order does not marshal (%v): %q", err, ev)
	}
	if own, err := o.AppendJSON(nil); err != nil || string(own) != string(b) {
		t.Fatalf("AppendJSON = %s, %v; json.Marshal = %s; event %q", own, err, b, ev)
	}
	if n := utf8.RuneCountInString(o.CartID); o.CartID == "" || n > maxCartID {
		t.Fatalf("cart_id %q (%d chars) accepted: %q", o.CartID, n, ev)
	}
	if o.OrderID == "" {
		t.Fatalf("empty order_id accepted: %q", ev)
	}
	if !utf8.ValidString(o.CartID) || !utf8.ValidString(o.OrderID) {
		t.Fatalf("identifier with invalid UTF-8 accepted: %q", ev)
	}
	if c, ok := normalizeCurrency(o.CurrencyCode); !ok || c != o.CurrencyCode {
		t.Fatalf("currency %q accepted: %q", o.CurrencyCode, ev)
	}
	if len(o.Items) == 0 {
		t.Fatalf("order without items accepted: %q", ev)
	}
	for _, it := range o.Items {
		if it.SKU == "" || !utf8.ValidString(it.SKU) {
			t.Fatalf("item without sku accepted: %q", ev)
		}
		p, err := strconv.ParseFloat(string(it.Price), 64)
		if err != nil || p < 0 || !isJSONNumber(string(it.Price)) {
			t.Fatalf("price %q accepted: %q", it.Price, ev)
		}
		q, err := strconv.ParseInt(string(it.Quantity), 10, 64)
		if err != nil || q < 1 {
			t.Fatalf("quantity %q accepted: %q", it.Quantity, ev)
		}
	}
	for _, n := range []json.Number{o.Shipping, o.Tax, o.Discount} {
		if n == "" {
			continue
		}
		if v, err := strconv.ParseFloat(string(n), 64); err != nil || v < 0 || !isJSONNumber(string(n)) {
			t.Fatalf("amount %q accepted: %q", n, ev)
		}
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range b {
		if c == '\n' {
			if i > start {
				out = append(out, b[start:i])
			}
			start = i + 1
		}
	}
	if start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// fakeIdentities is a small identity store for the fuzz test (state/memory
// imports this package): traits by id, and links followed one step.
type fakeIdentities struct {
	traits map[string]Traits
	links  map[string]string // from → to
}

func newFakeIdentities() *fakeIdentities {
	return &fakeIdentities{traits: map[string]Traits{}, links: map[string]string{}}
}

func (f *fakeIdentities) Lookup(_ context.Context, id string) (Traits, bool, error) {
	t := f.traits[id].Fill(f.traits[f.links[id]])
	return t, !t.IsZero(), nil
}

func (f *fakeIdentities) Merge(_ context.Context, id string, t Traits) error {
	f.traits[id] = t.Fill(f.traits[id])
	return nil
}

func (f *fakeIdentities) Link(_ context.Context, from, to string) error {
	f.links[from] = to
	f.traits[to] = f.traits[to].Fill(f.traits[from])
	return nil
}

func (f *fakeIdentities) Forget(_ context.Context, id string) error {
	delete(f.traits, id)
	delete(f.links, id)
	for from, to := range f.links {
		if to == id {
			delete(f.traits, from)
			delete(f.links, from)
		}
	}
	return nil
}
