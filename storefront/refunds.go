package storefront

import "strconv"

// refund is a refund or cancellation to write once the stream reaches due.
type refund struct {
	due     int    // the event number at which it is written
	kind    int    // 0 cancellation, 1 by product, 2 amount only
	store   int    // the order's store
	orderID string // JSON text of the order_id, as the order wrote it
	key     string // the order's order_id as the relay reads it
	anon    string
	sku     string // by product: the refunded line's sku as the relay reads it
	cents   int64  // amount only: less than the order's items
}

// noteOrder records a valid order's lines, and schedules its refund.
func (g *Generator) noteOrder(e Event, items []item) {
	if g.o.Refunds <= 0 {
		return
	}
	if g.net == nil {
		g.net = map[string]map[string]map[string]int{}
	}
	orders := g.net[e.Store]
	if orders == nil {
		orders = map[string]map[string]int{}
		g.net[e.Store] = orders
	}
	lines := map[string]int{}
	var first string
	var cents int64
	for _, it := range items {
		sku := it.p.sku
		switch it.ids {
		case idsPID:
			sku = "pid-" + it.p.sku
		}
		q := it.qty
		if q < 0 {
			q = 1
		}
		if first == "" {
			first = sku
		}
		lines[sku] += q
		cents += it.p.cents * int64(q)
	}
	orders[e.OrderID] = lines
	if first == "" || !g.r.chance(g.o.Refunds) {
		return
	}
	g.pending = append(g.pending, refund{due: g.seq + 3 + g.r.intn(20), kind: g.r.intn(3), store: g.curStore, orderID: g.lastOrderJSON,
		key: e.OrderID, anon: e.AnonymousID, sku: first, cents: max(1, cents/3)})
}

// refund writes the first pending refund and applies it to the survivors.
func (g *Generator) refund() Event {
	rf := g.pending[0]
	g.pending = g.pending[1:]
	g.seq++
	g.curStore = rf.store
	w := &g.w
	e := Event{MessageID: "msg-" + pad(g.seq, 12), AnonymousID: rf.anon, OrderID: rf.key, Kind: TrackOther, Store: g.storeName()}
	w.begin('{')
	w.kstr("type", "track")
	w.kstr("messageId", e.MessageID)
	w.kstr("timestamp", string(g.timestamp(g.seq, 0)))
	w.kstr("anonymousId", rf.anon)
	w.key("context")
	w.begin('{')
	if e.Store != "" {
		w.kstr("groupId", e.Store)
	}
	w.kraw("library", `{"name":"analytics-node","version":"2.1.0"}`)
	w.end('}')
	switch rf.kind {
	case 0:
		w.kstr("event", "Order Cancelled")
		g.counts.Cancellations++
	default:
		w.kstr("event", "Order Refunded")
	}
	w.key("properties")
	w.begin('{')
	w.kraw("order_id", rf.orderID)
	lines := g.net[e.Store][rf.key]
	switch rf.kind {
	case 0:
		for sku := range lines {
			lines[sku] = 0
		}
	case 1:
		w.key("products")
		w.begin('[')
		w.begin('{')
		w.kstr("sku", rf.sku)
		w.kint("quantity", 1)
		w.end('}')
		w.end(']')
		if lines[rf.sku] > 0 {
			lines[rf.sku]--
		}
		g.counts.ProductRefunds++
	case 2:
		w.kraw("total", strconv.FormatInt(rf.cents/100, 10)+"."+pad(int(rf.cents%100), 2))
		g.counts.AmountRefunds++ // cannot be said per item: nothing cancelled
	}
	g.storeRefund(rf.kind)
	g.storeProp()
	w.end('}')
	w.end('}')
	return e
}
