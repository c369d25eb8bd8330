package storefront

import "strconv"

// currencies as storefronts send them; "usd" is valid (the mapping
// upper-cases it).
var currencies = []string{"USD", "USD", "USD", "EUR", "GBP", "CAD", "usd"}

// Shares of the valid variations an order may carry, each independent.
const (
	shareServer      = 0.30 // sent by a server library
	shareCtxTraits   = 0.10 // customer in context.traits
	shareV1          = 0.03 // "Completed Order", orderId, products[].id
	shareCheckoutID  = 0.04 // checkout_id instead of cart_id
	shareNumericCart = 0.02 // cart_id as a JSON number
	shareNumericID   = 0.03 // order_id as a JSON number
	shareStringPrice = 0.03 // per product: price "19.99"
	shareNoQuantity  = 0.02 // per product: quantity absent (means 1)
	shareOnlyPID     = 0.02 // per product: product_id but no sku
	shareDiscount    = 1.0 / 3
	shareItemCoupon  = 0.05 // coupons on products instead of the order
	shareSubscribe   = 0.02 // is_subscription, subscription_id
)

// numericSeeds is how many seeds get distinct numeric order ids: seed mod
// numericSeeds, times 1e9, plus the event number, stays below 2^53.
const numericSeeds = 9000000

// order writes an Order Completed event. An invalid one carries exactly one
// Defect, drawn uniformly; everything else about it is valid.
func (g *Generator) order(invalid bool) Event {
	var d Defect
	if invalid {
		d = Defects[g.r.intn(len(Defects))]
	}
	bo := baseOpts{server: g.r.chance(shareServer), traits: g.r.chance(shareCtxTraits)}
	v1 := g.r.chance(shareV1)
	e, u := g.base("track", bo)
	w := &g.w
	seq := strconv.Itoa(g.seq)
	if v1 {
		w.kstr("event", "Completed Order")
	} else {
		w.kstr("event", "Order Completed")
	}
	w.key("properties")
	w.begin('{')

	if d != MissingCartID {
		token := strconv.Itoa(u) + "-" + seq + "-" + pad(g.r.intn(1000000), 6)
		switch n := g.r.float(); {
		case n < shareCheckoutID:
			e.CartID = "chk-" + token
			w.kstr("checkout_id", e.CartID)
		case n < shareCheckoutID+shareNumericCart:
			e.CartID = strconv.Itoa(1000000 + g.seq)
			w.kraw("cart_id", e.CartID)
		default:
			e.CartID = "cart-" + token
			w.kstr("cart_id", e.CartID)
		}
	}
	if d != MissingOrderID {
		key := "order_id"
		if v1 {
			key = "orderId"
		}
		numeric := g.r.chance(shareNumericID)
		if ref, ok := g.shared(invalid); ok {
			e.OrderID = ref.key
			w.kraw(key, ref.json)
			g.lastOrderJSON = ref.json
		} else if numeric {
			e.OrderID = strconv.FormatUint(uint64(g.o.Seed)%numericSeeds*1e9+uint64(g.seq), 10)
			w.kraw(key, e.OrderID)
			g.lastOrderJSON = e.OrderID
		} else {
			e.OrderID = "ord-" + strconv.FormatInt(g.o.Seed, 10) + "-" + seq
			w.kstr(key, e.OrderID)
			g.lastOrderJSON = strconv.Quote(e.OrderID)
		}
	}
	switch d {
	case MissingCurrency:
	case UnknownCurrency:
		w.kstr("currency", "XYZ")
	default:
		w.kstr("currency", currencies[g.r.intn(len(currencies))])
	}

	items := g.items(d, v1)
	var total int64
	for _, it := range items {
		total += it.p.cents * int64(max(it.qty, 1))
	}
	w.kcents("total", total)
	w.kcents("revenue", total)
	w.kcents("shipping", 499)
	w.kcents("tax", total*7/100)
	itemCoupons := false
	if g.r.chance(shareDiscount) {
		if g.r.chance(shareItemCoupon) {
			itemCoupons = true
		} else {
			disc := int64(225)
			if g.r.intn(10) == 0 {
				disc = -disc // some sources send discounts negative
			}
			w.kcents("discount", disc)
			w.kstr("coupon", "HOLIDAY1")
		}
	}
	if g.r.chance(shareSubscribe) {
		w.kraw("is_subscription", "true")
		w.kstr("subscription_id", "sub-"+seq)
	}
	g.writeItems(items, itemCoupons)
	g.storeProp()
	w.end('}')
	w.end('}')

	e.Kind, e.Defect = OrderValid, d
	if invalid {
		e.Kind = OrderInvalid
	} else {
		g.lastOrders[g.curStore] = orderRef{key: e.OrderID, json: g.lastOrderJSON}
		g.noteOrder(e, items)
	}
	return e
}

// shared is sharedID for a valid order; an invalid one never shares.
func (g *Generator) shared(invalid bool) (orderRef, bool) {
	if invalid {
		return orderRef{}, false
	}
	return g.sharedID()
}

// item is one product line of an order.
type item struct {
	p     product
	qty   int    // -1: absent
	price string // JSON text
	ids   idSet
}

// idSet is which identifier fields a product line carries.
type idSet uint8

const (
	idsSKUAndPID idSet = iota // sku and product_id
	idsPID                    // product_id only
	idsV1                     // id only
	idsNone                   // none: the MissingSKU defect
)

// items draws 1-4 product lines; an item-level defect lands on one of them.
func (g *Generator) items(d Defect, v1 bool) []item {
	if d == EmptyProducts {
		return nil
	}
	k := 1 + g.r.intn(4)
	bad := g.r.intn(k)
	items := g.itemBuf[:0]
	for i := range k {
		it := item{p: products[g.r.intn(len(products))], qty: 1 + g.r.intn(3)}
		if g.r.chance(shareNoQuantity) {
			it.qty = -1
		}
		var a [24]byte
		if g.r.chance(shareStringPrice) {
			it.price = string(append(appendCents(append(a[:0], '"'), it.p.cents), '"'))
		} else {
			it.price = string(appendCents(a[:0], it.p.cents))
		}
		switch {
		case v1:
			it.ids = idsV1
		case g.r.chance(shareOnlyPID):
			it.ids = idsPID
		}
		if i == bad {
			switch d {
			case PriceDollar:
				it.price = `"$5.50"`
			case PriceComma:
				it.price = `"5,50"`
			case NegativePrice:
				it.price = "-5.5"
			case ZeroQuantity:
				it.qty = 0
			case MissingSKU:
				it.ids = idsNone
			}
		}
		items = append(items, it)
	}
	g.itemBuf = items
	return items
}

// writeItems writes properties.products.
func (g *Generator) writeItems(items []item, coupons bool) {
	w := &g.w
	w.key("products")
	w.begin('[')
	for i, it := range items {
		w.begin('{')
		switch it.ids {
		case idsSKUAndPID:
			w.kstr("product_id", "pid-"+it.p.sku)
			w.kstr("sku", it.p.sku)
		case idsPID:
			w.kstr("product_id", "pid-"+it.p.sku)
		case idsV1:
			w.kstr("id", it.p.sku)
		}
		w.kstr("name", it.p.name)
		w.kraw("price", it.price)
		if it.qty >= 0 {
			w.kint("quantity", it.qty)
		}
		w.kstr("category", "Apparel")
		if coupons {
			w.kstr("coupon", [...]string{"ITEM5", "BUNDLE"}[i%2])
		}
		w.end('}')
	}
	w.end(']')
}
