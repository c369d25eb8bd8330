package storefront

import (
	"strconv"
	"time"
)

// product is a catalogue entry; prices are in cents.
type product struct {
	sku, name string
	cents     int64
}

var products = []product{
	{"TSHIRT-SMALL-RED", "T-Shirt Red (Small)", 1999},
	{"TSHIRT-LARGE-BLUE", "T-Shirt Blue (Large)", 2150},
	{"PANTS-LARGE-BLACK", "Pants Black (Large)", 4900},
	{"MUG-01", "Coffee Mug", 825},
	{"SOCKS-3PK", "Socks, 3 pack", 1200},
	{"HAT-WOOL", "Wool Hat \"Classic\"", 2495},
	{"GIFT-CARD-50", "Gift Card $50", 5000},
	{"MUG-CAFE", "Café Mug ☕", 1450},
	{"STICKER-1", "Sticker", 110},
}

func (g *Generator) page() Event {
	var bo baseOpts
	if g.o.Clicks > 0 && g.r.chance(g.o.Clicks) {
		bo.rfsn = strconv.Itoa(100000+g.r.intn(50)) + "." + strconv.FormatUint(uint64(g.r.intn(1<<20)), 36)
		g.counts.Clicks++
		if g.r.chance(0.1) {
			bo.ago = 40 * 24 * time.Hour
			g.counts.ClicksOld++
		}
	}
	e, _ := g.base("page", bo)
	w := &g.w
	pg := pages[g.curPage]
	w.kstr("name", pg.title)
	w.key("properties")
	w.begin('{')
	w.kstr("path", pg.path)
	w.kstr("title", pg.title)
	w.kstr("url", "https://shop.example.com"+pg.path)
	w.end('}')
	w.end('}')
	e.Kind = Page
	return e
}

// track is any track but an order: product tracks carry a product, the
// order tracks (Order Updated, Order Refunded) the id of an earlier order of
// the same store.
func (g *Generator) track() Event {
	e, u := g.base("track", baseOpts{})
	w := &g.w
	name := tracks[g.r.intn(len(tracks))]
	if name == "Order Refunded" && g.o.Refunds > 0 {
		w.kstr("event", "Order Refund Requested")
	} else {
		w.kstr("event", name)
	}
	w.key("properties")
	w.begin('{')
	if name == "Signed In" {
		w.kstr("username", "user_"+strconv.Itoa(u))
	} else {
		p := products[g.r.intn(len(products))]
		w.kstr("product_id", "pid-"+p.sku)
		w.kstr("sku", p.sku)
		w.kstr("name", p.name)
		w.kcents("price", p.cents)
		switch name {
		case "Product Added":
			w.kint("quantity", 1+g.r.intn(3))
			w.kstr("cart_id", "cart-"+strconv.Itoa(u)+"-"+pad(g.r.intn(1000000), 6))
		case "Order Updated", "Order Refunded":
			if last := g.lastOrders[g.curStore].key; last != "" {
				w.kstr("order_id", last)
				w.kstr("currency", "USD")
			}
		}
	}
	g.storeProp()
	w.end('}')
	w.end('}')
	e.Kind = TrackOther
	return e
}

// identify sends the user's traits, named in one of the three spellings
// seen in the wild (firstName, first_name, or a lone name).
func (g *Generator) identify() Event {
	e, u := g.base("identify", baseOpts{})
	w := &g.w
	p := personOf(u)
	w.key("traits")
	w.begin('{')
	w.kstr("email", p.email)
	switch g.r.intn(3) {
	case 0:
		w.kstr("firstName", p.first)
		w.kstr("lastName", p.last)
	case 1:
		w.kstr("first_name", p.first)
		w.kstr("last_name", p.last)
	default:
		w.kstr("name", p.first+" "+p.last)
	}
	w.kstr("plan", "premium")
	w.kint("logins", g.r.intn(50))
	if g.r.intn(4) == 0 {
		w.kraw("address", `{"street":"6th St","city":"San Francisco","state":"CA","postalCode":"94103","country":"USA"}`)
	}
	w.end('}')
	w.end('}')
	e.Kind = Identify
	return e
}

// alias links the visitor's anonymousId (as previousId) to the userId.
func (g *Generator) alias() Event {
	e, _ := g.base("alias", baseOpts{alias: true})
	g.w.end('}')
	e.Kind = Alias
	return e
}
