package mapping

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// fingerprintVersion starts every fingerprint. A change to what Fingerprint
// covers, or to how it encodes it, takes a new version, so that a fingerprint
// recorded by an earlier version reads as unknown, never as different.
const fingerprintVersion = "v1:"

// Fingerprint returns a digest of what Refersion is told about the order
// itself: cart_id, currency_code, shipping, tax, discount, discount_code, and
// each item's sku, quantity and unit price. Two orders with equal
// fingerprints are the same order as far as crediting it goes.
//
// It leaves out what may differ between two readings of the same event: the
// customer and its IP address (enrichment, from an identity store that
// changes), auto_credit_affiliate_id (click attribution may come from that
// store too), and Source; and what does not change the conversion: order_id
// (the key the fingerprint is kept under), item names and the subscription
// fields.
//
// Amounts compare by value ("5.5" and "5.50" and "55e-1" are equal; an
// absent shipping, tax or discount equals 0), and the order of the items does
// not matter. The result is short printable text starting with a version
// (see FingerprintsDiffer); it holds no personal data.
func Fingerprint(o Order) string {
	var b []byte
	for _, f := range [...]string{o.CartID, o.CurrencyCode, canonicalAmount(string(o.Shipping)), canonicalAmount(string(o.Tax)),
		canonicalAmount(string(o.Discount)), o.DiscountCode} {
		b = appendField(b, f)
	}
	items := make([]string, len(o.Items))
	for i, it := range o.Items {
		var ib []byte
		for _, f := range [...]string{it.SKU, canonicalAmount(string(it.Quantity)), canonicalAmount(string(it.Price))} {
			ib = appendField(ib, f)
		}
		items[i] = string(ib)
	}
	slices.Sort(items)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = appendField(b, it)
	}
	sum := sha256.Sum256(b)
	return fingerprintVersion + hex.EncodeToString(sum[:16])
}

// appendField appends s to b, prefixed with its length, so that no two
// sequences of fields encode alike.
func appendField(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// FingerprintsDiffer reports whether recorded, a fingerprint kept when an
// order was delivered, and now, the Fingerprint of an order with the same
// order_id, tell different content. A recorded fingerprint that is empty
// (kept by a version that recorded none) or of another version of
// Fingerprint is unknown: it differs from nothing.
func FingerprintsDiffer(recorded, now string) bool {
	if !strings.HasPrefix(recorded, fingerprintVersion) || !strings.HasPrefix(now, fingerprintVersion) {
		return false
	}
	return recorded != now
}

// Summary describes the order for a log line, without personal data: its
// total and currency and how many units it holds, as in
// "total 104.50 USD, 3 items". The total is the items' unit prices times
// their quantities, plus shipping and tax, less the discount, exact, with
// at least two decimals. An amount that is not a plain number, or too large
// to add up exactly, makes the total "?".
func Summary(o Order) string {
	total := "?"
	if t, ok := orderTotal(o); ok {
		total = t
	}
	units := new(big.Int)
	for _, it := range o.Items {
		q, ok := quantity(it.Quantity)
		if !ok {
			q = big.NewInt(1) // as Refersion reads an absent quantity
		}
		units.Add(units, q)
	}
	var s strings.Builder
	s.WriteString("total " + total)
	if o.CurrencyCode != "" {
		s.WriteString(" " + o.CurrencyCode)
	}
	s.WriteString(", " + units.String())
	if units.Cmp(big.NewInt(1)) == 0 {
		s.WriteString(" item")
	} else {
		s.WriteString(" items")
	}
	return s.String()
}

// maxTotalExponent bounds the decimal exponent of an amount Summary adds
// up, so that a number such as 1e-300, valid in JSON, cannot make it build
// huge integers.
const maxTotalExponent = 64

// orderTotal is the order's total as decimal text; ok is false when an
// amount is not a plain number or is outside ±10^maxTotalExponent's reach.
func orderTotal(o Order) (string, bool) {
	type term struct {
		d    decimalValue
		mult *big.Int
	}
	var terms []term
	for _, a := range [...]string{string(o.Shipping), string(o.Tax)} {
		d, ok := parseDecimal(a)
		if !ok {
			return "", false
		}
		terms = append(terms, term{d, big.NewInt(1)})
	}
	d, ok := parseDecimal(string(o.Discount))
	if !ok {
		return "", false
	}
	terms = append(terms, term{d, big.NewInt(-1)})
	for _, it := range o.Items {
		d, ok := parseDecimal(string(it.Price))
		if !ok {
			return "", false
		}
		q, ok := quantity(it.Quantity)
		if !ok {
			return "", false
		}
		terms = append(terms, term{d, q})
	}
	exp := 0 // the least exponent of the terms: the sum's unit is 10^exp
	for _, t := range terms {
		if t.d.exp < -maxTotalExponent || t.d.exp > maxTotalExponent || len(t.d.digits) > 2*maxTotalExponent {
			return "", false
		}
		exp = min(exp, t.d.exp)
	}
	sum := new(big.Int)
	ten := big.NewInt(10)
	for _, t := range terms {
		v, _ := new(big.Int).SetString(t.d.digits, 10)
		if t.d.negative {
			v.Neg(v)
		}
		v.Mul(v, new(big.Int).Exp(ten, big.NewInt(int64(t.d.exp-exp)), nil))
		sum.Add(sum, v.Mul(v, t.mult))
	}
	r := new(big.Rat).SetFrac(sum, new(big.Int).Exp(ten, big.NewInt(int64(-exp)), nil))
	return r.FloatString(max(2, -exp)), true
}

// quantity reads a quantity as the mapping writes it: plain digits, from 1
// to the largest int64.
func quantity(n json.Number) (*big.Int, bool) {
	s := string(n)
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return nil, false
	}
	q, err := strconv.ParseInt(s, 10, 64)
	if err != nil || q < 1 {
		return nil, false
	}
	return big.NewInt(q), true
}

// decimalValue is a JSON number as digits × 10^exp, digits without leading
// zeros ("0" for zero, never negative then).
type decimalValue struct {
	negative bool
	digits   string
	exp      int
}

// parseDecimal reads the JSON number text s; an empty s is 0.
func parseDecimal(s string) (decimalValue, bool) {
	if s == "" {
		return decimalValue{digits: "0"}, true
	}
	if !isJSONNumber(s) {
		return decimalValue{}, false
	}
	var d decimalValue
	if s[0] == '-' {
		d.negative, s = true, s[1:]
	}
	mant, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	if hasExp {
		e, err := strconv.Atoi(strings.TrimPrefix(expText, "+"))
		if err != nil || e < -1<<40 || e > 1<<40 {
			return decimalValue{}, false
		}
		d.exp = e
	}
	whole, frac, _ := strings.Cut(mant, ".")
	d.exp -= len(frac)
	d.digits = strings.TrimLeft(whole+frac, "0")
	if d.digits == "" {
		return decimalValue{digits: "0"}, true
	}
	return d, true
}

// canonicalAmount is the text of amount s by value: digits without leading
// or trailing zeros and an exponent ("55e-1" for "5.50", "0" for 0 or an
// empty s). Text that is not a JSON number is kept as it is, marked, so that
// it equals only itself.
func canonicalAmount(s string) string {
	d, ok := parseDecimal(s)
	if !ok {
		return "?" + s
	}
	if d.digits == "0" {
		return "0"
	}
	trimmed := strings.TrimRight(d.digits, "0")
	d.exp += len(d.digits) - len(trimmed)
	sign := ""
	if d.negative {
		sign = "-"
	}
	return sign + trimmed + "e" + strconv.Itoa(d.exp)
}
