package mapping

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/buger/jsonparser"
)

// maxCartID is Refersion's limit on cart_id, in characters; order_id takes
// the same.
const (
	maxCartID  = 255
	maxOrderID = 255
)

// raw is one JSON member as found: its bytes (strings without quotes, still
// escaped) and type. The zero value is an absent member.
type raw struct {
	b []byte
	t jsonparser.ValueType
}

func (r raw) absent() bool { return r.t == jsonparser.NotExist || r.t == jsonparser.Null }

// event holds the members of an order event that the mapping reads.
type event struct {
	messageID, userID, anonymousID raw
	properties, context            raw
}

// orderProps holds the members of properties that the mapping reads.
type orderProps struct {
	cart                         []raw // one per cart_id source, in order
	orderID, orderIDv1           raw
	currency                     raw
	shipping, tax, discount      raw
	coupon, products             raw
	isSubscription, subscription raw
	autoCredit                   raw
}

// Map maps one order event (one that Classify called KindOrder) to the payload.
// The customer holds only the event's own data (context.traits, properties and
// context.ip); Enrich adds what the identity store knows. An order that must not
// be sent returns an *InvalidError listing every problem.
func (m *Mapper) Map(ev []byte) (Order, error) {
	var e event
	it := newMembers(ev)
	for it.next() {
		r := raw{it.val, it.vt}
		switch string(it.key) {
		case "messageId":
			e.messageID = r
		case "userId":
			e.userID = r
		case "anonymousId":
			e.anonymousID = r
		case "properties":
			e.properties = r
		case "context":
			e.context = r
		}
	}

	var o Order
	var ps problems
	if it.err {
		ps.add("", "not well-formed JSON (truncated, or broken quoting or brackets)")
	}
	o.Source.MessageID, _ = idText(e.messageID)
	o.Source.UserID, _ = idText(e.userID)
	o.Source.AnonymousID, _ = idText(e.anonymousID)
	o.Source.At, _ = eventTime(ev)

	if e.properties.t != jsonparser.Object {
		ps.add("properties", "missing or not an object: an order's fields live in properties")
		return o, &InvalidError{MessageID: o.Source.MessageID, Problems: ps}
	}
	p := m.readProps(e.properties.b)
	m.mapIDs(&o, &p, &ps)
	m.mapMoney(&o, &p, &ps)
	mapExtras(&o, &p, &ps)
	o.Items, o.DiscountCode = mapItems(p.products, p.coupon, &ps)
	o.Customer = eventCustomer(e.context, e.properties)

	if len(ps) > 0 {
		return o, &InvalidError{MessageID: o.Source.MessageID, OrderID: o.OrderID, Problems: ps}
	}
	return o, nil
}

func (m *Mapper) readProps(props []byte) orderProps {
	p := orderProps{cart: make([]raw, len(m.cartIDSources))}
	_ = jsonparser.ObjectEach(props, func(key, value []byte, vt jsonparser.ValueType, _ int) error {
		r := raw{value, vt}
		switch string(key) {
		case "order_id":
			p.orderID = r
		case "orderId":
			p.orderIDv1 = r
		case "currency":
			p.currency = r
		case "shipping":
			p.shipping = r
		case "tax":
			p.tax = r
		case "discount":
			p.discount = r
		case "coupon":
			p.coupon = r
		case "products":
			p.products = r
		case "is_subscription":
			p.isSubscription = r
		case "subscription_id":
			p.subscription = r
		case "auto_credit_affiliate_id":
			p.autoCredit = r
		}
		for i, s := range m.cartIDSources {
			if string(key) == s {
				p.cart[i] = r
			}
		}
		return nil
	})
	return p
}

func (m *Mapper) mapIDs(o *Order, p *orderProps, ps *problems) {
	cartField := ""
	for i, r := range p.cart {
		if r.absent() {
			continue
		}
		cartField = "properties." + m.cartIDSources[i]
		s, reason := keyText(r)
		switch {
		case reason != "":
			ps.add(cartField, reason)
		case strings.TrimSpace(s) == "":
			ps.add(cartField, "is empty: cart_id ties the order to the affiliate click")
		case utf8.RuneCountInString(s) > maxCartID:
			ps.add(cartField, "is "+strconv.Itoa(utf8.RuneCountInString(s))+" characters; Refersion takes at most 255")
		default:
			o.CartID = s
		}
		break
	}
	if cartField == "" {
		ps.add("properties."+m.cartIDSources[0], "missing: set "+sourcesList(m.cartIDSources)+" to the cart id Refersion's tracker saw at click time")
	}

	orderField, r := "properties.order_id", p.orderID
	if r.absent() && !p.orderIDv1.absent() {
		orderField, r = "properties.orderId", p.orderIDv1
	}
	s, reason := keyText(r)
	switch {
	case reason != "":
		ps.add(orderField, reason)
	case r.absent() || strings.TrimSpace(s) == "":
		ps.add(orderField, "missing: set properties.order_id (or orderId) to the order's id")
	case utf8.RuneCountInString(s) > maxOrderID:
		ps.add(orderField, "is "+strconv.Itoa(utf8.RuneCountInString(s))+" characters; at most 255 are taken")
	default:
		o.OrderID = s
	}

	if p.currency.absent() && m.defaultCurrency != "" {
		o.CurrencyCode = m.defaultCurrency
		return
	}
	switch {
	case p.currency.absent():
		ps.add("properties.currency", "missing: set it to an ISO 4217 code such as USD")
	case p.currency.t != jsonparser.String:
		ps.add("properties.currency", "must be a string such as \"USD\", got "+p.currency.t.String())
	default:
		src, _ := jsonparser.ParseString(p.currency.b)
		c, ok := normalizeCurrency(src)
		if !ok {
			ps.add("properties.currency", strconv.Quote(src)+" is not an ISO 4217 currency code (e.g. USD, EUR)")
			return
		}
		o.CurrencyCode = c
	}
}

func sourcesList(s []string) string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = "properties." + v
	}
	return strings.Join(out, " or ")
}

// idText turns an identifier member into text: strings are unescaped, numbers
// keep their exact decimal text. Absent members give "".
func idText(r raw) (string, string) {
	switch r.t {
	case jsonparser.String:
		s, err := jsonparser.ParseString(r.b)
		if err != nil {
			return "", "is not a valid JSON string"
		}
		if !utf8.ValidString(s) {
			return "", "is not valid UTF-8; identifiers must survive the trip to Refersion unchanged"
		}
		return s, ""
	case jsonparser.Number:
		if !isJSONNumber(string(r.b)) {
			return "", string(r.b) + " is not a number"
		}
		return string(r.b), ""
	case jsonparser.NotExist, jsonparser.Null:
		return "", ""
	}
	return "", "must be a string or a number, got " + r.t.String()
}

// money reads an amount: a JSON number or a plain numeric string.
func money(r raw) (out string, negative bool, reason string) {
	switch r.t {
	case jsonparser.Number:
		return decimal(string(r.b), false)
	case jsonparser.String:
		s, err := jsonparser.ParseString(r.b)
		if err != nil {
			return "", false, "is not a valid JSON string"
		}
		return decimal(s, true)
	}
	return "", false, "must be a number, got " + r.t.String()
}

func (m *Mapper) mapMoney(o *Order, p *orderProps, ps *problems) {
	for _, f := range []struct {
		name string
		r    raw
		dst  *json.Number
	}{{"shipping", p.shipping, &o.Shipping}, {"tax", p.tax, &o.Tax}, {"discount", p.discount, &o.Discount}} {
		if f.r.absent() {
			continue
		}
		v, neg, reason := money(f.r)
		switch {
		case reason != "":
			ps.add("properties."+f.name, reason)
		case neg && f.name == "discount":
			*f.dst = json.Number(v[1:]) // Refersion takes the discount as an absolute amount
		case neg:
			ps.add("properties."+f.name, v+" is negative; "+f.name+" must be 0 or more")
		default:
			*f.dst = json.Number(v)
		}
	}
}

// eventCustomer builds the customer from the event alone: context.traits, then
// properties, and context.ip when it is a valid address.
func eventCustomer(ctx, props raw) *Customer {
	var t Traits
	var ip string
	if ctx.t == jsonparser.Object {
		if v, vt, _, err := jsonparser.Get(ctx.b, "traits"); err == nil && vt == jsonparser.Object {
			t = traitsFrom(v)
		}
		if v, vt, _, err := jsonparser.Get(ctx.b, "ip"); err == nil && vt == jsonparser.String {
			ip = validIP(trimmed(v))
		}
	}
	t = t.Fill(traitsFrom(props.b))
	if t.IsZero() && ip == "" {
		return nil
	}
	return &Customer{FirstName: t.FirstName, LastName: t.LastName, Email: t.Email, IPAddress: ip}
}

// validIP returns s if it is an IPv4 or IPv6 address without a zone, else "".
func validIP(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return ""
	}
	return s
}
