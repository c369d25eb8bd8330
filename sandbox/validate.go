package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// verdict is the sandbox's answer to one authenticated paid-order body.
type verdict struct {
	status  int
	body    any    // the JSON answer
	orderID string // set when status is 200
}

// paidOrder holds the members the sandbox checks, undecoded. A member that
// is absent stays nil; one that is null holds "null".
type paidOrder struct {
	CartID       json.RawMessage `json:"cart_id"`
	OrderID      json.RawMessage `json:"order_id"`
	CurrencyCode json.RawMessage `json:"currency_code"`
	Items        json.RawMessage `json:"items"`
	Shipping     json.RawMessage `json:"shipping"`
	Tax          json.RawMessage `json:"tax"`
	Discount     json.RawMessage `json:"discount"`
	Customer     json.RawMessage `json:"customer"`
}

type paidItem struct {
	SKU      json.RawMessage `json:"sku"`
	Price    json.RawMessage `json:"price"`
	Quantity json.RawMessage `json:"quantity"`
}

// accepted is the answer to a valid order.
type accepted struct {
	Status  string `json:"status"`
	OrderID string `json:"order_id"`
}

// validate checks a paid-order body the way Refersion's documents describe,
// independently of how this project builds payloads:
//
//	empty body                              404 {"error":"Bad request, no body"}
//	not a JSON object                       400 {"error":"Bad request, body is not a JSON object"}
//	cart_id/order_id/currency_code/items    400 {"error":"Missing required field X"} (absent, null or "")
//	malformed values or items               422 {"errors":["items[0].price must be a number >= 0", ...]}
//	anything else                           200 {"status":"success","order_id":"..."}
func validate(body []byte) verdict {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return verdict{status: http.StatusNotFound, body: errorBody("Bad request, no body")}
	}
	var order paidOrder
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &order) != nil {
		return verdict{status: http.StatusBadRequest, body: errorBody("Bad request, body is not a JSON object")}
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"cart_id", order.CartID}, {"order_id", order.OrderID}, {"currency_code", order.CurrencyCode}, {"items", order.Items}} {
		if isEmpty(f.raw) {
			return verdict{status: http.StatusBadRequest, body: errorBody("Missing required field " + f.name)}
		}
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	orderID, ok := asString(order.OrderID)
	if !ok {
		add("order_id must be a string")
	}
	if cart, ok := asString(order.CartID); !ok {
		add("cart_id must be a string")
	} else if utf8.RuneCountInString(cart) > 255 {
		add("cart_id must be at most 255 characters")
	}
	if cur, ok := asString(order.CurrencyCode); !ok || !isCurrency(cur) {
		add("currency_code must be a three-letter ISO 4217 code")
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"shipping", order.Shipping}, {"tax", order.Tax}, {"discount", order.Discount}} {
		if f.raw != nil && !isNull(f.raw) {
			if _, ok := asNumber(f.raw); !ok {
				add("%s must be a number", f.name)
			}
		}
	}
	if order.Customer != nil && !isNull(order.Customer) && order.Customer[0] != '{' {
		add("customer must be an object")
	}
	problems = append(problems, checkItems(order.Items)...)
	if len(problems) > 0 {
		return verdict{status: http.StatusUnprocessableEntity, body: map[string]any{"errors": problems}}
	}
	return verdict{status: http.StatusOK, orderID: orderID, body: accepted{Status: "success", OrderID: orderID}}
}

// checkItems returns a problem for every malformed item.
func checkItems(raw json.RawMessage) []string {
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return []string{"items must be an array"}
	}
	if len(items) == 0 {
		return []string{"items must not be empty"}
	}
	var problems []string
	for i, rawItem := range items {
		var item paidItem
		if rawItem[0] != '{' || json.Unmarshal(rawItem, &item) != nil {
			problems = append(problems, fmt.Sprintf("items[%d] must be an object", i))
			continue
		}
		if sku, ok := asString(item.SKU); !ok || sku == "" {
			problems = append(problems, fmt.Sprintf("items[%d].sku is required", i))
		}
		if price, ok := asNumber(item.Price); !ok || price < 0 {
			problems = append(problems, fmt.Sprintf("items[%d].price must be a number >= 0", i))
		}
		if q, ok := asNumber(item.Quantity); !ok || q < 1 || q != math.Trunc(q) {
			problems = append(problems, fmt.Sprintf("items[%d].quantity must be a whole number >= 1", i))
		}
	}
	return problems
}

func errorBody(msg string) map[string]string { return map[string]string{"error": msg} }

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// isEmpty reports whether a member is absent, null or "".
func isEmpty(raw json.RawMessage) bool {
	return raw == nil || isNull(raw) || string(raw) == `""`
}

// asString decodes a JSON string; anything else is not one.
func asString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// asNumber accepts only a JSON number, never a numeric string.
func asNumber(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return f, err == nil && !math.IsInf(f, 0)
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
