package mapping

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// AppendJSON appends the JSON encoding of o to b: byte for byte what
// json.Marshal(o) gives (the same fields in the same order, the same
// escaping, HTML characters included), without reflection, in one
// allocation or none when b has room. Like json.Marshal it fails on a
// money field or quantity that is not a JSON number and on a raw field
// (subscription_id, auto_credit_affiliate_id) that is not valid JSON.
func (o *Order) AppendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"cart_id":`...)
	b = appendJSONString(b, o.CartID)
	b = append(b, `,"order_id":`...)
	b = appendJSONString(b, o.OrderID)
	b = append(b, `,"currency_code":`...)
	b = appendJSONString(b, o.CurrencyCode)
	for _, f := range [...]struct {
		key string
		n   json.Number
	}{{`,"shipping":`, o.Shipping}, {`,"tax":`, o.Tax}, {`,"discount":`, o.Discount}} {
		if f.n != "" {
			if b, err = appendJSONNumber(append(b, f.key...), f.n); err != nil {
				return nil, err
			}
		}
	}
	if o.DiscountCode != "" {
		b = appendJSONString(append(b, `,"discount_code":`...), o.DiscountCode)
	}
	if o.IsSubscription != nil {
		if *o.IsSubscription {
			b = append(b, `,"is_subscription":true`...)
		} else {
			b = append(b, `,"is_subscription":false`...)
		}
	}
	for _, f := range [...]struct {
		key string
		raw json.RawMessage
	}{{`,"subscription_id":`, o.SubscriptionID}, {`,"auto_credit_affiliate_id":`, o.AutoCreditAffiliateID}} {
		if len(f.raw) > 0 {
			if b, err = appendJSONRaw(append(b, f.key...), f.raw); err != nil {
				return nil, err
			}
		}
	}
	if c := o.Customer; c != nil {
		b = append(b, `,"customer":{`...)
		sep := ""
		for _, f := range [...]struct{ key, v string }{
			{`"first_name":`, c.FirstName}, {`"last_name":`, c.LastName}, {`"email":`, c.Email}, {`"ip_address":`, c.IPAddress},
		} {
			if f.v != "" {
				b = appendJSONString(append(append(b, sep...), f.key...), f.v)
				sep = ","
			}
		}
		b = append(b, '}')
	}
	if o.Items == nil {
		return append(b, `,"items":null}`...), nil
	}
	b = append(b, `,"items":[`...)
	for i := range o.Items {
		it := &o.Items[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(append(b, `{"sku":`...), it.SKU)
		if it.Name != "" {
			b = appendJSONString(append(b, `,"name":`...), it.Name)
		}
		if b, err = appendJSONNumber(append(b, `,"price":`...), it.Price); err != nil {
			return nil, err
		}
		if b, err = appendJSONNumber(append(b, `,"quantity":`...), it.Quantity); err != nil {
			return nil, err
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// appendJSONNumber appends n as encoding/json does: "" as 0, anything but a
// JSON number an error.
func appendJSONNumber(b []byte, n json.Number) ([]byte, error) {
	if n == "" {
		return append(b, '0'), nil
	}
	if !isJSONNumber(string(n)) {
		return nil, fmt.Errorf("json: invalid number literal %q", string(n))
	}
	return append(b, n...), nil
}

// appendJSONRaw appends raw as encoding/json does: as it is when it is
// valid, compact JSON with nothing to escape (what the mapping makes), else
// compacted and escaped by encoding/json itself.
func appendJSONRaw(b []byte, raw json.RawMessage) ([]byte, error) {
	if plainJSON(raw) && json.Valid(raw) {
		return append(b, raw...), nil
	}
	enc, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// plainJSON reports whether raw has no byte that encoding/json would
// change when it compacts and escapes it: no whitespace, no HTML
// character, nothing outside ASCII.
func plainJSON(raw []byte) bool {
	for _, c := range raw {
		if c <= ' ' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendJSONString appends s quoted as encoding/json quotes a string with
// HTML escaping on (its default): <, > and & as \u003c, \u003e, \u0026,
// U+2028 and U+2029 escaped, invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}
