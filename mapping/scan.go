package mapping

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/buger/jsonparser"
)

// members walks the top-level members of one JSON object without decoding
// nested values: strings are found with a vectorised byte search and nested
// objects and arrays are skipped by bracket depth. It checks structure
// (terminated strings, balanced brackets, separators) but not the contents of
// nested values. It never allocates.
//
// Usage:
//
//	it := newMembers(data)
//	for it.next() { use(it.key, it.val, it.vt) }
//	if it.err { malformed }
type members struct {
	data []byte
	i    int
	key  []byte // raw key, still escaped
	val  []byte // strings: contents without quotes, still escaped; others: raw text
	vt   jsonparser.ValueType
	err  bool // the object is not well formed; set when next returns false
	// trailing lets data go on after the object (the next value of a
	// message); end is then the index just past the object, once next has
	// returned false without err.
	trailing bool
	end      int
}

func newMembers(data []byte) members {
	m := members{data: data}
	m.i = skipWS(data, 0)
	if m.i >= len(data) || data[m.i] != '{' {
		m.err, m.i = true, -1
		return m
	}
	m.i++
	j := skipWS(data, m.i)
	if j < len(data) && data[j] == '}' {
		m.i, m.end = -1, j+1 // empty object
	}
	return m
}

// next advances to the next member. It returns false at the end of the
// object or on a structural error (then err is true).
func (m *members) next() bool {
	d := m.data
	if m.i < 0 {
		return false
	}
	i := skipWS(d, m.i)
	if i >= len(d) || d[i] != '"' {
		return m.fail()
	}
	end := stringEnd(d, i+1)
	if end < 0 {
		return m.fail()
	}
	m.key = d[i+1 : end]
	i = skipWS(d, end+1)
	if i >= len(d) || d[i] != ':' {
		return m.fail()
	}
	i = skipWS(d, i+1)
	if i >= len(d) {
		return m.fail()
	}
	var after int
	m.val, m.vt, after = scanValue(d, i)
	if after < 0 {
		return m.fail()
	}
	after = skipWS(d, after)
	switch {
	case after < len(d) && d[after] == ',':
		m.i = after + 1
	case after < len(d) && d[after] == '}':
		if !m.trailing && skipWS(d, after+1) != len(d) {
			return m.fail() // trailing data after the object
		}
		m.i, m.end = -1, after+1
	default:
		return m.fail()
	}
	return true
}

func (m *members) fail() bool {
	m.err, m.i = true, -1
	return false
}

// scanValue reads the JSON value starting at d[i] (not white space). It
// returns the value (strings: contents without quotes, still escaped), its
// type, and the index just past it; after is -1 when the value is malformed.
func scanValue(d []byte, i int) (val []byte, vt jsonparser.ValueType, after int) {
	switch c := d[i]; {
	case c == '"':
		end := stringEnd(d, i+1)
		if end < 0 {
			return nil, jsonparser.Unknown, -1
		}
		return d[i+1 : end], jsonparser.String, end + 1
	case c == '{' || c == '[':
		end := blockEnd(d, i)
		if end < 0 {
			return nil, jsonparser.Unknown, -1
		}
		if c == '[' {
			return d[i:end], jsonparser.Array, end
		}
		return d[i:end], jsonparser.Object, end
	case c == 't' || c == 'f' || c == 'n':
		end := i
		for end < len(d) && d[end] >= 'a' && d[end] <= 'z' {
			end++
		}
		switch string(d[i:end]) {
		case "true", "false":
			return d[i:end], jsonparser.Boolean, end
		case "null":
			return d[i:end], jsonparser.Null, end
		}
	case c == '-' || isDigit(c):
		end := i + 1
		for end < len(d) && (isDigit(d[end]) || d[end] == '.' || d[end] == 'e' || d[end] == 'E' || d[end] == '+' || d[end] == '-') {
			end++
		}
		return d[i:end], jsonparser.Number, end
	}
	return nil, jsonparser.Unknown, -1
}

// elements walks the elements of one JSON array like members walks an object.
type elements struct {
	data []byte
	i    int
	val  []byte
	vt   jsonparser.ValueType
	err  bool
}

func newElements(data []byte) elements {
	e := elements{data: data}
	e.i = skipWS(data, 0)
	if e.i >= len(data) || data[e.i] != '[' {
		e.err, e.i = true, -1
		return e
	}
	e.i = skipWS(data, e.i+1)
	if e.i < len(data) && data[e.i] == ']' {
		e.i = -1
	}
	return e
}

// next advances to the next element; false at the end or on error (err set).
func (e *elements) next() bool {
	d := e.data
	if e.i < 0 {
		return false
	}
	i := skipWS(d, e.i)
	if i >= len(d) {
		e.err, e.i = true, -1
		return false
	}
	var after int
	e.val, e.vt, after = scanValue(d, i)
	if after >= 0 {
		after = skipWS(d, after)
	}
	switch {
	case after < 0 || after >= len(d):
		e.err, e.i = true, -1
		return false
	case d[after] == ',':
		e.i = after + 1
	case d[after] == ']':
		e.i = -1
	default:
		e.err, e.i = true, -1
		return false
	}
	return true
}

// keyIs reports whether the current raw key equals k, unescaping if needed.
func (m *members) keyIs(k string) bool {
	if string(m.key) == k {
		return true
	}
	return bytes.IndexByte(m.key, '\\') >= 0 && string(unescape(m.key)) == k
}

func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\n' || d[i] == '\t' || d[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index of the quote closing the string whose contents
// start at i, or -1.
func stringEnd(d []byte, i int) int {
	for {
		i = nextQuoteOrEscape(d, i)
		if i < 0 || d[i] == '"' {
			return i
		}
		i += 2 // a backslash and the byte it escapes
	}
}

const (
	ones        = 0x0101010101010101
	highs       = 0x8080808080808080
	quotes      = ones * '"'
	backslashes = ones * '\\'
)

// nextQuoteOrEscape returns the index of the first '"' or '\\' at or after i,
// or -1. It tests eight bytes at a time: strings are most of an event.
func nextQuoteOrEscape(d []byte, i int) int {
	for ; i+8 <= len(d); i += 8 {
		x := binary.LittleEndian.Uint64(d[i:])
		// The lowest high bit set marks the first byte equal to the pattern;
		// higher ones may be false positives, so only the lowest is used.
		q, b := x^quotes, x^backslashes
		if m := ((q - ones) &^ q & highs) | ((b - ones) &^ b & highs); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(d); i++ {
		if d[i] == '"' || d[i] == '\\' {
			return i
		}
	}
	return -1
}

// blockEnd returns the index just past the object or array opening at d[i], or -1.
func blockEnd(d []byte, i int) int { return blockEndFrom(d, i, 0) }

// blockEndFrom is blockEnd from d[i], depth brackets deep already.
func blockEndFrom(d []byte, i, depth int) int {
	for i < len(d) {
		switch d[i] {
		case '"':
			e := stringEnd(d, i+1)
			if e < 0 {
				return -1
			}
			i = e
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return -1
}
