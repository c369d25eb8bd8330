package storefront

import "strconv"

// rng is SplitMix64: tiny, fast and, unlike math/rand's methods, fixed here
// forever, so a seed gives the same stream on every Go version.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); n > 0. The modulo bias is negligible for
// the small n used here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// chance is true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// jw appends JSON to b. Commas are placed automatically: call key before an
// object member's value, begin/end around objects and arrays.
type jw struct {
	b        []byte
	comma    bool   // the current container already holds a value
	afterKey bool   // the next value belongs to the key just written
	stack    []bool // comma of the enclosing containers
}

func (w *jw) pre() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.comma = true
}

func (w *jw) key(k string) {
	w.pre()
	w.b = appendString(w.b, k)
	w.b = append(w.b, ':')
	w.afterKey = true
}

func (w *jw) begin(c byte) {
	w.pre()
	w.b = append(w.b, c)
	w.stack = append(w.stack, w.comma)
	w.comma = false
}

func (w *jw) end(c byte) {
	w.b = append(w.b, c)
	w.comma = w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
}

func (w *jw) str(s string)             { w.pre(); w.b = appendString(w.b, s) }
func (w *jw) raw(s string)             { w.pre(); w.b = append(w.b, s...) }
func (w *jw) int(i int64)              { w.pre(); w.b = strconv.AppendInt(w.b, i, 10) }
func (w *jw) cents(c int64)            { w.pre(); w.b = appendCents(w.b, c) }
func (w *jw) kstr(k, v string)         { w.key(k); w.str(v) }
func (w *jw) kint(k string, v int)     { w.key(k); w.int(int64(v)) }
func (w *jw) kcents(k string, c int64) { w.key(k); w.cents(c) }
func (w *jw) kraw(k, v string)         { w.key(k); w.raw(v) }

// appendString appends s as a JSON string. Everything except '"', '\\' and
// control characters is copied as is (s is valid UTF-8 here).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendCents appends an amount in cents as the shortest decimal: 4900 as
// 49, 2150 as 21.5, 1999 as 19.99 (what a JSON encoder makes of the float).
func appendCents(b []byte, c int64) []byte {
	if c < 0 {
		b = append(b, '-')
		c = -c
	}
	b = strconv.AppendInt(b, c/100, 10)
	switch f := c % 100; {
	case f == 0:
	case f%10 == 0:
		b = append(b, '.', byte('0'+f/10))
	default:
		b = append(b, '.', byte('0'+f/10), byte('0'+f%10))
	}
	return b
}
