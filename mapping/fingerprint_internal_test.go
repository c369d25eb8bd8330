package mapping

import (
	"encoding/json"
	"testing"
)

// The int64 path of a total and the big-integer one agree wherever the
// int64 one answers.
func FuzzTotalPathsAgree(f *testing.F) {
	for _, s := range [][3]string{{"5.50", "9.99", "2"}, {"-0.125", "1e2", "3"}, {"0.000000000000000001", "0", "1"},
		{"922337203685477580.7", "0", "1"}, {"1E-2", "-5", "9223372036854775807"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, price, shipping, units string) {
		var terms []term
		for _, a := range []string{shipping, price} {
			d, ok := parseDecimal(a)
			if !ok {
				return
			}
			terms = append(terms, term{d, 1})
		}
		q, ok := quantity(json.Number(units))
		if !ok {
			return
		}
		terms[1].mult = q
		small, ok := appendSmallTotal(nil, terms)
		if !ok {
			return
		}
		if big := appendBigTotal(nil, terms); string(big) != "?" && string(small) != string(big) {
			t.Fatalf("int64 total %s, big total %s", small, big)
		}
	})
}
