package mapping

import (
	"strconv"
	"strings"
)

// isJSONNumber reports whether s is exactly a JSON number literal
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?).
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// decimal checks the text of a money amount (already JSON-number shaped or
// a numeric string) and returns it unchanged apart from surrounding spaces
// in strings and a sign on zero. ok is false with a reason otherwise.
func decimal(text string, fromString bool) (out string, negative bool, reason string) {
	if fromString {
		t := strings.TrimSpace(text)
		if !isJSONNumber(t) {
			return "", false, strconv.Quote(text) + " is not a plain number (write 5.50, without currency symbols, thousands separators or a decimal comma)"
		}
		text = t
	} else if !isJSONNumber(text) {
		return "", false, text + " is not a number"
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return "", false, text + " is out of range"
	}
	if f == 0 && text[0] == '-' {
		text = text[1:]
	}
	return text, f < 0, ""
}

// wholeNumber checks a quantity: a whole number ≥ 1 that fits in 64 bits.
// "2.0" is accepted as 2; the result is plain digits.
func wholeNumber(text string, fromString bool) (string, string) {
	if fromString {
		text = strings.TrimSpace(text)
	}
	if !isJSONNumber(text) {
		return "", strconv.Quote(text) + " is not a whole number"
	}
	if dot := strings.IndexByte(text, '.'); dot >= 0 && strings.Trim(text[dot+1:], "0") == "" {
		text = text[:dot]
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		if strings.ContainsAny(text, ".eE") {
			return "", text + " is not a whole number"
		}
		return "", text + " is too large"
	}
	if n < 1 {
		return "", text + " is less than 1 (every item needs a quantity of at least 1)"
	}
	return strconv.FormatInt(n, 10), ""
}
