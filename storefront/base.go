package storefront

import (
	"strconv"
	"time"
)

// person is a user's identity; every event of user u sees the same one.
type person struct{ first, last, email string }

var (
	firstNames = []string{"Ada", "Bill", "Chen", "Dana", "Émile", "Farah", "Goran", "Hana", "Ines", "José", "Kofi", "Lena", "Mika", "Nora", "Olu", "Priya"}
	firstSlugs = []string{"ada", "bill", "chen", "dana", "emile", "farah", "goran", "hana", "ines", "jose", "kofi", "lena", "mika", "nora", "olu", "priya"}
	lastNames  = []string{"Smith", "Doe", "Okafor", "Müller", "García", "Nakamura", "O'Brien", "Kowalski", "Nguyen", "Haddad", "Ivanova", "Dubois"}
	lastSlugs  = []string{"smith", "doe", "okafor", "mueller", "garcia", "nakamura", "obrien", "kowalski", "nguyen", "haddad", "ivanova", "dubois"}
	tracks     = []string{"Product Viewed", "Product Added", "Cart Viewed", "Checkout Started", "Product List Viewed", "Order Updated", "Order Refunded", "Signed In"}
	pages      = []struct{ path, title string }{
		{"/", "Home"}, {"/products", "Products"}, {"/products/tshirt", "T-Shirt"},
		{"/cart", "Cart"}, {"/checkout", "Checkout"},
	}
)

const userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"

func personOf(u int) person {
	h := uint64(u)*0x9e3779b97f4a7c15 ^ 0x5bd1e995
	f, l := int(h%uint64(len(firstNames))), int(h/31%uint64(len(lastNames)))
	return person{firstNames[f], lastNames[l], firstSlugs[f] + "." + lastSlugs[l] + "." + strconv.Itoa(u) + "@example.com"}
}

// baseOpts vary the common part of an event.
type baseOpts struct {
	server bool // sent by a server library: no userAgent or page
	alias  bool // previousId instead of anonymousId, userId always set
	traits bool // the user's person written as context.traits
	// rfsn, when set, is an affiliate link's parameter in the page's URL;
	// ago moves the event's timestamp back.
	rfsn string
	ago  time.Duration
}

// base opens an event object and writes the fields every event has. The
// caller writes its own fields and closes the object.
func (g *Generator) base(typ string, bo baseOpts) (Event, int) {
	g.seq++
	w := &g.w
	u := g.r.intn(g.o.Users)
	g.pickStore()
	e := Event{MessageID: "msg-" + pad(g.seq, 12), Store: g.storeName()}
	anon := "anon-" + strconv.FormatUint(uint64(u)*2654435761%(1<<32), 16) + "-" + strconv.FormatUint(uint64(u%65536), 16)
	if bo.alias || g.r.chance(0.7) {
		e.UserID = "user_" + strconv.Itoa(u)
	}
	w.begin('{')
	w.kstr("type", typ)
	w.kstr("messageId", e.MessageID)
	if bo.ago > 0 {
		w.kstr("timestamp", g.o.Start.Add(time.Duration(g.seq)*37*time.Millisecond-bo.ago).Format(time.RFC3339Nano))
	} else {
		w.kstr("timestamp", string(g.timestamp(g.seq, 0)))
	}
	w.kstr("sentAt", string(g.timestamp(g.seq, 800)))
	if bo.alias {
		e.PreviousID = anon
		w.kstr("previousId", anon)
	} else {
		e.AnonymousID = anon
		w.kstr("anonymousId", anon)
	}
	if e.UserID != "" {
		w.kstr("userId", e.UserID)
	}
	w.key("context")
	w.begin('{')
	if e.Store != "" {
		w.kstr("groupId", e.Store)
	}
	g.ip()
	if bo.server {
		w.kraw("library", `{"name":"analytics-node","version":"2.1.0"}`)
	} else {
		w.kstr("userAgent", userAgent)
		w.kraw("library", `{"name":"analytics.js","version":"5.2.0"}`)
		g.curPage = g.r.intn(len(pages))
		pg := pages[g.curPage]
		w.key("page")
		w.begin('{')
		w.kstr("path", pg.path)
		if bo.rfsn != "" {
			w.kstr("url", "https://shop.example.com"+pg.path+"?rfsn="+bo.rfsn)
			w.kstr("search", "?rfsn="+bo.rfsn)
		} else {
			w.kstr("url", "https://shop.example.com"+pg.path)
		}
		w.kstr("referrer", "https://blog.example.org/")
		w.kstr("title", pg.title)
		w.end('}')
	}
	if bo.traits {
		p := personOf(u)
		w.key("traits")
		w.begin('{')
		w.kstr("email", p.email)
		w.kstr("firstName", p.first)
		w.kstr("lastName", p.last)
		w.end('}')
	}
	w.end('}')
	if g.r.chance(0.1) {
		w.kraw("integrations", `{"All":true,"Google Analytics":false}`)
	} else {
		w.kraw("integrations", `{}`)
	}
	return e, u
}

// ip writes context.ip: mostly IPv4, some IPv6, and rarely a value that is
// not an address (which the mapping leaves out) or none at all.
func (g *Generator) ip() {
	w := &g.w
	switch n := g.r.intn(100); {
	case n < 90:
		var a [16]byte
		b := strconv.AppendInt(a[:0], int64(11+g.r.intn(200)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(g.r.intn(256)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(g.r.intn(256)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(1+g.r.intn(254)), 10)
		w.kstr("ip", string(b))
	case n < 96:
		w.kstr("ip", "2001:db8:"+strconv.FormatUint(uint64(g.r.intn(65536)), 16)+"::"+strconv.Itoa(1+g.r.intn(999)))
	case n < 98:
		w.kstr("ip", "unknown")
	}
}

// pad formats i in decimal, zero-padded to width digits.
func pad(i, width int) string {
	var a [20]byte
	s := strconv.AppendInt(a[:0], int64(i), 10)
	if len(s) >= width {
		return string(s)
	}
	b := make([]byte, width)
	for j := range b {
		b[j] = '0'
	}
	copy(b[width-len(s):], s)
	return string(b)
}
