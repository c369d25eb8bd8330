package mapping

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/big"
	"math/bits"
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
	b := make([]byte, 0, 256)
	b = appendField(b, o.CartID)
	b = appendField(b, o.CurrencyCode)
	for _, a := range [...]json.Number{o.Shipping, o.Tax, o.Discount} {
		b = appendCanonicalField(b, string(a))
	}
	b = appendField(b, o.DiscountCode)
	// Each item's encoding, then the encodings sorted: items in any order
	// encode alike.
	items := make([]byte, 0, 32*len(o.Items))
	ends := make([]int, len(o.Items))
	for i, it := range o.Items {
		items = appendField(items, it.SKU)
		items = appendCanonicalField(items, string(it.Quantity))
		items = appendCanonicalField(items, string(it.Price))
		ends[i] = len(items)
	}
	item := func(i int) []byte {
		if i == 0 {
			return items[:ends[0]]
		}
		return items[ends[i-1]:ends[i]]
	}
	order := make([]int, len(o.Items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return bytes.Compare(item(x), item(y)) })
	b = binary.AppendUvarint(b, uint64(len(order)))
	for _, i := range order {
		b = binary.AppendUvarint(b, uint64(len(item(i))))
		b = append(b, item(i)...)
	}
	sum := sha256.Sum256(b)
	return fingerprintVersion + hex.EncodeToString(sum[:16])
}

// appendField appends s to b, prefixed with its length, so that no two
// sequences of fields encode alike.
func appendField(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendCanonicalField appends amount s to b as a field, by value: its
// significant digits and their exponent ("55e-1" for "5.50", "0" for 0 or
// an empty s). Text that is not a JSON number is kept as it is, marked, so
// that it equals only itself.
func appendCanonicalField(b []byte, s string) []byte {
	var buf [48]byte
	c := buf[:0]
	d, ok := parseDecimal(s)
	lo, hi, exp := d.significant()
	switch {
	case !ok:
		c = append(append(c, '?'), s...)
	case lo == hi:
		c = append(c, '0')
	default:
		if d.negative {
			c = append(c, '-')
		}
		for i := lo; i < hi; i++ {
			c = append(c, d.at(i))
		}
		c = strconv.AppendInt(append(c, 'e'), int64(exp), 10)
	}
	return append(binary.AppendUvarint(b, uint64(len(c))), c...)
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
	b := make([]byte, 0, 48)
	b = append(b, "total "...)
	b = appendTotal(b, o)
	if o.CurrencyCode != "" {
		b = append(append(b, ' '), o.CurrencyCode...)
	}
	var units int64
	var many *big.Int // the units when they pass an int64
	for _, it := range o.Items {
		q, ok := quantity(it.Quantity)
		if !ok {
			q = 1 // as Refersion reads an absent quantity
		}
		switch {
		case many != nil:
			many.Add(many, big.NewInt(q))
		case units > math.MaxInt64-q:
			many = new(big.Int).Add(big.NewInt(units), big.NewInt(q))
		default:
			units += q
		}
	}
	b = append(b, ", "...)
	if many != nil {
		b = many.Append(b, 10)
	} else {
		b = strconv.AppendInt(b, units, 10)
	}
	if units == 1 && many == nil {
		b = append(b, " item"...)
	} else {
		b = append(b, " items"...)
	}
	return string(b)
}

// term is one amount of an order's total: value × mult.
type term struct {
	value decimalValue
	mult  int64
}

// appendTotal appends the order's total as decimal text, or "?" when an
// amount is not a plain number or is beyond maxTotalExponent.
func appendTotal(b []byte, o Order) []byte {
	terms := make([]term, 0, 3+len(o.Items))
	for _, a := range [...]struct {
		text json.Number
		mult int64
	}{{o.Shipping, 1}, {o.Tax, 1}, {o.Discount, -1}} {
		d, ok := parseDecimal(string(a.text))
		if !ok {
			return append(b, '?')
		}
		terms = append(terms, term{d, a.mult})
	}
	for _, it := range o.Items {
		d, ok := parseDecimal(string(it.Price))
		q, qok := quantity(it.Quantity)
		if !ok || !qok {
			return append(b, '?')
		}
		terms = append(terms, term{d, q})
	}
	if t, ok := appendSmallTotal(b, terms); ok {
		return t
	}
	return appendBigTotal(b, terms)
}

// pow10 holds the powers of ten an int64 holds.
var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// appendSmallTotal adds terms up in int64, as every order of plausible
// amounts can be; ok is false when they do not fit.
func appendSmallTotal(b []byte, terms []term) ([]byte, bool) {
	scale := 2 // the total's decimals
	for _, t := range terms {
		lo, hi, exp := t.value.significant()
		if hi-lo > 18 {
			return b, false
		}
		if lo < hi {
			scale = max(scale, -exp)
		}
	}
	if scale > 18 {
		return b, false
	}
	var sum int64
	for _, t := range terms {
		lo, hi, exp := t.value.significant()
		if lo == hi {
			continue
		}
		shift := exp + scale
		if shift < 0 || hi-lo+shift > 18 {
			return b, false
		}
		var v int64
		for i := lo; i < hi; i++ {
			v = v*10 + int64(t.value.at(i)-'0')
		}
		v *= pow10[shift] // < 10^18
		mult := t.mult
		if t.value.negative {
			mult = -mult
		}
		neg := mult < 0
		hiProd, loProd := bits.Mul64(uint64(v), uint64(max(mult, -mult)))
		if hiProd != 0 || loProd > math.MaxInt64 {
			return b, false
		}
		v = int64(loProd)
		if neg {
			v = -v
		}
		if v > 0 && sum > math.MaxInt64-v || v < 0 && sum < math.MinInt64+1-v {
			return b, false
		}
		sum += v
	}
	abs := uint64(sum)
	if sum < 0 {
		b = append(b, '-')
		abs = uint64(-sum)
	}
	unit := uint64(pow10[scale])
	b = strconv.AppendUint(b, abs/unit, 10)
	frac := strconv.FormatUint(abs%unit, 10)
	b = append(b, '.')
	for range scale - len(frac) {
		b = append(b, '0')
	}
	return append(b, frac...), true
}

// maxTotalExponent bounds the decimal exponent of an amount Summary adds
// up, so that a number such as 1e-300, valid in JSON, cannot make it build
// huge integers.
const maxTotalExponent = 64

// appendBigTotal adds terms up in big integers, for amounts beyond an
// int64 and within maxTotalExponent.
func appendBigTotal(b []byte, terms []term) []byte {
	least := 0 // the least exponent of the terms: the sum's unit is 10^least
	for _, t := range terms {
		lo, hi, exp := t.value.significant()
		if lo == hi {
			continue
		}
		if exp < -maxTotalExponent || exp > maxTotalExponent || hi-lo > 2*maxTotalExponent {
			return append(b, '?')
		}
		least = min(least, exp)
	}
	sum := new(big.Int)
	ten := big.NewInt(10)
	for _, t := range terms {
		lo, hi, exp := t.value.significant()
		if lo == hi {
			continue
		}
		v := new(big.Int)
		for i := lo; i < hi; i++ {
			v.Mul(v, ten).Add(v, big.NewInt(int64(t.value.at(i)-'0')))
		}
		if t.value.negative {
			v.Neg(v)
		}
		v.Mul(v, new(big.Int).Exp(ten, big.NewInt(int64(exp-least)), nil))
		sum.Add(sum, v.Mul(v, big.NewInt(t.mult)))
	}
	r := new(big.Rat).SetFrac(sum, new(big.Int).Exp(ten, big.NewInt(int64(-least)), nil))
	return append(b, r.FloatString(max(2, -least))...)
}

// quantity reads a quantity as the mapping writes it: plain digits, from 1
// to the largest int64.
func quantity(n json.Number) (int64, bool) {
	s := string(n)
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	q, err := strconv.ParseInt(s, 10, 64)
	return q, err == nil && q >= 1
}

// decimalValue is a JSON number as written: sign, the digits before and
// after the point, and the exponent.
type decimalValue struct {
	negative    bool
	whole, frac string
	exp         int
}

// parseDecimal reads the JSON number text s; an empty s is 0.
func parseDecimal(s string) (decimalValue, bool) {
	var d decimalValue
	if s == "" {
		return d, true
	}
	if !isJSONNumber(s) {
		return d, false
	}
	if s[0] == '-' {
		d.negative, s = true, s[1:]
	}
	mant := s
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e < -1<<40 || e > 1<<40 {
			return decimalValue{}, false
		}
		mant, d.exp = s[:i], e
	}
	d.whole, d.frac, _ = strings.Cut(mant, ".")
	return d, true
}

// at is the i-th digit of whole and frac together.
func (d decimalValue) at(i int) byte {
	if i < len(d.whole) {
		return d.whole[i]
	}
	return d.frac[i-len(d.whole)]
}

// significant returns the significant digits of d, as the range [lo, hi)
// of at, and the exponent of the last one: d is ±digits × 10^exp. lo == hi
// when d is zero.
func (d decimalValue) significant() (lo, hi, exp int) {
	n := len(d.whole) + len(d.frac)
	for lo < n && d.at(lo) == '0' {
		lo++
	}
	hi = n
	for hi > lo && d.at(hi-1) == '0' {
		hi--
	}
	return lo, hi, d.exp - len(d.frac) + (n - hi)
}
