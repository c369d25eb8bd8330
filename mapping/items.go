package mapping

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/buger/jsonparser"
)

// mapItems maps properties.products and works out discount_code: properties.coupon,
// else the distinct products[].coupon joined by commas in first-seen order.
func mapItems(products, coupon raw, ps *problems) ([]Item, string) {
	code, reason := idText(coupon)
	if reason != "" {
		ps.add("properties.coupon", reason)
	}
	switch {
	case products.absent():
		ps.add("properties.products", "missing: an order needs at least one item")
		return nil, code
	case products.t != jsonparser.Array:
		ps.add("properties.products", "must be an array of items, got "+products.t.String())
		return nil, code
	}
	var items []Item
	var coupons []string
	i := 0
	_, err := jsonparser.ArrayEach(products.b, func(value []byte, vt jsonparser.ValueType, _ int, err error) {
		field := "properties.products[" + strconv.Itoa(i) + "]"
		i++
		if err != nil || vt != jsonparser.Object {
			ps.add(field, "must be an object with sku, price and quantity")
			return
		}
		it, c := mapItem(field, value, ps, true)
		items = append(items, it)
		if c != "" && !contains(coupons, c) {
			coupons = append(coupons, c)
		}
	})
	if err != nil {
		ps.add("properties.products", "is not a readable array: "+err.Error())
	}
	if i == 0 && err == nil {
		ps.add("properties.products", "is empty: an order needs at least one item")
	}
	if code == "" && len(coupons) > 0 {
		code = strings.Join(coupons, ",")
	}
	return items, code
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// mapItem maps one product object. It returns the item and its coupon. A
// refund's product may leave its price out (needPrice false): Price is then
// empty.
func mapItem(field string, obj []byte, ps *problems, needPrice bool) (Item, string) {
	var sku, productID, id, name, price, quantity, coupon raw
	_ = jsonparser.ObjectEach(obj, func(key, value []byte, vt jsonparser.ValueType, _ int) error {
		r := raw{value, vt}
		switch string(key) {
		case "sku":
			sku = r
		case "product_id":
			productID = r
		case "id":
			id = r
		case "name":
			name = r
		case "price":
			price = r
		case "quantity":
			quantity = r
		case "coupon":
			coupon = r
		}
		return nil
	})

	var it Item
	skuField, skuRaw := field+".sku", sku
	for _, alt := range []struct {
		f string
		r raw
	}{{".product_id", productID}, {".id", id}} {
		if !skuRaw.absent() {
			break
		}
		skuField, skuRaw = field+alt.f, alt.r
	}
	s, reason := keyText(skuRaw)
	switch {
	case reason != "":
		ps.add(skuField, reason)
	case strings.TrimSpace(s) == "":
		ps.add(field+".sku", "missing: set sku (or product_id, or id) on every item")
	default:
		it.SKU = s
	}
	if !name.absent() {
		n, reason := idText(name)
		if name.t == jsonparser.String {
			// A name is for people: broken bytes are replaced, not refused.
			n, _ = jsonparser.ParseString(name.b)
			n, reason = strings.ToValidUTF8(n, "\uFFFD"), ""
		}
		if reason != "" {
			ps.add(field+".name", reason)
		}
		it.Name = n
	}

	if price.absent() {
		if needPrice {
			ps.add(field+".price", "missing: every item needs its unit price")
		}
	} else if v, neg, reason := money(price); reason != "" {
		ps.add(field+".price", reason)
	} else if neg {
		ps.add(field+".price", v+" is negative; a unit price must be 0 or more")
	} else {
		it.Price = json.Number(v)
	}

	it.Quantity = "1"
	if !quantity.absent() {
		var q, reason string
		switch quantity.t {
		case jsonparser.Number:
			q, reason = wholeNumber(string(quantity.b), false)
		case jsonparser.String:
			s, _ := jsonparser.ParseString(quantity.b)
			q, reason = wholeNumber(s, true)
		default:
			reason = "must be a whole number, got " + quantity.t.String()
		}
		if reason != "" {
			ps.add(field+".quantity", reason)
		}
		it.Quantity = json.Number(q)
	}
	c, _ := idText(coupon)
	return it, strings.TrimSpace(c)
}

// mapExtras passes is_subscription, subscription_id and auto_credit_affiliate_id through.
func mapExtras(o *Order, p *orderProps, ps *problems) {
	if !p.isSubscription.absent() {
		b, ok := subscriptionFlag(p.isSubscription)
		if ok {
			o.IsSubscription = &b
		} else {
			got := string(p.isSubscription.b)
			if p.isSubscription.t == jsonparser.String {
				got = strconv.Quote(trimmed(p.isSubscription.b))
			}
			ps.add("properties.is_subscription", "must be true or false, got "+got)
		}
	}
	o.SubscriptionID = passThrough("properties.subscription_id", p.subscription, ps)
	o.AutoCreditAffiliateID = passThrough("properties.auto_credit_affiliate_id", p.autoCredit, ps)
}

func subscriptionFlag(r raw) (bool, bool) {
	s := string(r.b)
	if r.t == jsonparser.String {
		s = strings.ToLower(strings.TrimSpace(trimmed(r.b)))
	}
	switch s {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// passThrough keeps a string or number member as the JSON it was.
func passThrough(field string, r raw, ps *problems) json.RawMessage {
	switch r.t {
	case jsonparser.NotExist, jsonparser.Null:
		return nil
	case jsonparser.Number:
		if isJSONNumber(string(r.b)) {
			return bytes.Clone(r.b) // its own bytes: the event's are the fetch's, reused
		}
	case jsonparser.String:
		s, err := jsonparser.ParseString(r.b)
		if err == nil {
			b, _ := json.Marshal(s)
			return b
		}
	}
	ps.add(field, "must be a string or a number, got "+r.t.String())
	return nil
}
