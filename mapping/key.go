package mapping

import (
	"math/big"
	"strconv"
	"strings"

	"github.com/buger/jsonparser"
)

// keyText reads an identifier that keys an order (order_id, cart_id, sku):
// idText's rules, and besides, a number is written in its one exact decimal
// form (1.5e3, 1500.0 and 1500 are all "1500"), so the same order is one
// order however the source wrote it; and control characters are refused,
// since they never belong in an id and are invisible in Refersion.
func keyText(r raw) (string, string) {
	s, reason := idText(r)
	if reason != "" {
		return "", reason
	}
	if r.t == jsonparser.Number {
		return exactDecimal(s)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return "", "contains the control character " + strconv.QuoteRune(c) + "; ids must be printable"
		}
	}
	return s, ""
}

// maxExponent bounds the exponent of a numeric id: 1e400 is no id, and
// writing it out in full would cost memory.
const maxExponent = 64

// exactDecimal writes a JSON number in plain decimal, exactly: no exponent,
// no trailing fraction zeros, no "-0".
func exactDecimal(text string) (string, string) {
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(text[i+1:], "+"))
		if err != nil || e > maxExponent || e < -maxExponent {
			return "", text + " is out of range for an id"
		}
	} else if !strings.Contains(text, ".") {
		if text == "-0" {
			return "0", ""
		}
		return text, "" // plain digits: already exact
	}
	var q big.Rat
	if _, ok := q.SetString(text); !ok {
		return "", text + " is not a number"
	}
	if q.IsInt() {
		return q.Num().String(), ""
	}
	for digits := 1; digits <= 2*maxExponent+20; digits++ { // a decimal has a finite expansion
		s := q.FloatString(digits)
		var back big.Rat
		if _, ok := back.SetString(s); ok && back.Cmp(&q) == 0 {
			return s, ""
		}
	}
	return "", text + " is out of range for an id"
}
