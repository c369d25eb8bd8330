package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strconv"

	"github.com/buger/jsonparser"
)

// Cancel is what an Order Refunded or Order Cancelled event asks of
// Refersion: which order, and which of its items (none named: everything
// still uncancelled, unless Amount says a part of the order only).
type Cancel struct {
	Kind    Kind   // KindRefund or KindCancel
	ID      string // the event's messageId, else a hash of its bytes: the same event cancels once
	OrderID string
	// Items are the lines the event names: sku, quantity (1 when absent)
	// and the unit price when the event gives one.
	Items []Item
	// Amount is a refund's total (or revenue) when it names no items, as
	// decimal text; "" when absent.
	Amount string
	Source Source
}

// MapCancel reads a refund or cancellation event (as classified by k). An
// event that cannot be used returns an *InvalidError listing every problem.
func (m *Mapper) MapCancel(ev []byte, k Kind) (Cancel, error) {
	c := Cancel{Kind: k}
	var ps problems
	var props, products raw
	it := newMembers(ev)
	for it.next() {
		r := raw{it.val, it.vt}
		switch string(it.key) {
		case "messageId":
			c.Source.MessageID, _ = idText(r)
		case "userId":
			c.Source.UserID, _ = idText(r)
		case "anonymousId":
			c.Source.AnonymousID, _ = idText(r)
		case "properties":
			props = r
		}
	}
	if it.err {
		ps.add("", "not well-formed JSON (truncated, or broken quoting or brackets)")
	}
	c.Source.At, _ = eventTime(ev)
	c.ID = c.Source.MessageID
	if c.ID == "" {
		sum := sha256.Sum256(ev)
		c.ID = "sha256:" + hex.EncodeToString(sum[:16])
	}
	if props.t != jsonparser.Object {
		ps.add("properties", "missing or not an object: a refund's order_id lives in properties")
		return c, &InvalidError{MessageID: c.Source.MessageID, Problems: ps}
	}
	var orderID, orderIDv1, total, revenue raw
	_ = jsonparser.ObjectEach(props.b, func(key, value []byte, vt jsonparser.ValueType, _ int) error {
		r := raw{value, vt}
		switch string(key) {
		case "order_id":
			orderID = r
		case "orderId":
			orderIDv1 = r
		case "products":
			products = r
		case "total":
			total = r
		case "revenue":
			revenue = r
		}
		return nil
	})
	field, r := "properties.order_id", orderID
	if r.absent() && !orderIDv1.absent() {
		field, r = "properties.orderId", orderIDv1
	}
	switch s, reason := keyText(r); {
	case reason != "":
		ps.add(field, reason)
	case s == "":
		ps.add(field, "missing: a refund or cancellation names the order it undoes")
	default:
		c.OrderID = s
	}
	if k == KindRefund && !products.absent() {
		if products.t != jsonparser.Array {
			ps.add("properties.products", "must be an array of the refunded items, got "+products.t.String())
		} else {
			i := 0
			_, _ = jsonparser.ArrayEach(products.b, func(value []byte, vt jsonparser.ValueType, _ int, err error) {
				field := "properties.products[" + strconv.Itoa(i) + "]"
				i++
				if err != nil || vt != jsonparser.Object {
					ps.add(field, "must be an object with sku and quantity")
					return
				}
				item, _ := mapItem(field, value, &ps, false)
				c.Items = append(c.Items, item)
			})
		}
	}
	if k == KindRefund && len(c.Items) == 0 {
		for _, a := range []struct {
			field string
			r     raw
		}{{"properties.total", total}, {"properties.revenue", revenue}} {
			if a.r.absent() {
				continue
			}
			v, neg, reason := money(a.r)
			switch {
			case reason != "":
				ps.add(a.field, reason)
			case neg:
				ps.add(a.field, v+" is negative; a refund's amount is 0 or more")
			default:
				c.Amount = v
			}
			break
		}
	}
	if len(ps) > 0 {
		return c, &InvalidError{MessageID: c.Source.MessageID, OrderID: c.OrderID, Problems: ps}
	}
	return c, nil
}

// Line is one delivered order line as the ledger keeps it.
type Line struct {
	SKU      string      `json:"sku"`
	Quantity int64       `json:"quantity"`
	Price    json.Number `json:"price"`
}

// CancelItem is one line of Refersion's cancel request.
type CancelItem struct {
	SKU      string      `json:"sku"`
	Quantity int64       `json:"quantity"`
	Price    json.Number `json:"price"`
}

// CancelRequest is the body POSTed to Refersion's /v2/conversion/cancel.
type CancelRequest struct {
	OrderID string       `json:"order_id"`
	Items   []CancelItem `json:"items"`
}

// Plan is what a Cancel comes to against what was sent of its order.
type Plan struct {
	Request CancelRequest
	// Clamped is how many units the event asked for beyond what was sent
	// and not yet cancelled (cancelled never exceeds sent).
	Clamped int64
	// AmountOnly: a refund of an amount less than the order's items, with
	// no items named, cannot be said per item.
	AmountOnly bool
}

// Empty reports whether the plan cancels nothing.
func (p Plan) Empty() bool { return len(p.Request.Items) == 0 }

// LinesOf returns the ledger lines of an order as delivered.
func LinesOf(o Order) []Line {
	out := make([]Line, 0, len(o.Items))
	for _, it := range o.Items {
		q, _ := strconv.ParseInt(string(it.Quantity), 10, 64)
		out = append(out, Line{SKU: it.SKU, Quantity: q, Price: it.Price})
	}
	return out
}

// PlanCancel works out the cancel request for c against the order's lines
// as delivered (sent) and the quantities cancelled so far per sku:
//
//   - items named: each is cancelled up to what remains of its sku; its
//     price is the event's, else the delivered line's; the excess is clamped
//   - no items, and no amount or an amount covering the order's items:
//     every remaining unit is cancelled (a full refund, a cancellation)
//   - no items, an amount less than the order's items: AmountOnly
func PlanCancel(c Cancel, sent []Line, cancelled map[string]int64) Plan {
	p := Plan{Request: CancelRequest{OrderID: c.OrderID}}
	remaining := map[string]int64{}
	price := map[string]json.Number{}
	var order []string
	for _, l := range sent {
		if _, ok := remaining[l.SKU]; !ok {
			order = append(order, l.SKU)
			price[l.SKU] = l.Price
		}
		remaining[l.SKU] += l.Quantity
	}
	for sku := range remaining {
		remaining[sku] = max(0, remaining[sku]-cancelled[sku])
	}
	if len(c.Items) > 0 {
		for _, it := range c.Items {
			q, _ := strconv.ParseInt(string(it.Quantity), 10, 64)
			take := min(q, remaining[it.SKU])
			p.Clamped += q - take
			if take == 0 {
				continue
			}
			remaining[it.SKU] -= take
			pr := it.Price
			if pr == "" {
				pr = price[it.SKU]
			}
			p.Request.Items = append(p.Request.Items, CancelItem{SKU: it.SKU, Quantity: take, Price: pr})
		}
		return p
	}
	if c.Amount != "" && less(c.Amount, subtotal(sent)) {
		p.AmountOnly = true
		return p
	}
	for _, sku := range order {
		if q := remaining[sku]; q > 0 {
			p.Request.Items = append(p.Request.Items, CancelItem{SKU: sku, Quantity: q, Price: price[sku]})
		}
	}
	return p
}

// subtotal is the sum of price × quantity of lines, exactly.
func subtotal(lines []Line) *big.Rat {
	var sum big.Rat
	for _, l := range lines {
		var p big.Rat
		if _, ok := p.SetString(string(l.Price)); ok {
			sum.Add(&sum, p.Mul(&p, new(big.Rat).SetInt64(l.Quantity)))
		}
	}
	return &sum
}

// less reports whether the decimal a is less than b.
func less(a string, b *big.Rat) bool {
	var x big.Rat
	if _, ok := x.SetString(a); !ok {
		return false
	}
	return x.Cmp(b) < 0
}
