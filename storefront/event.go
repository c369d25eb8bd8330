package storefront

// Kind is what an event is, in the terms of Counts.
type Kind uint8

// The kinds of generated events.
const (
	Page         Kind = iota // type page
	TrackOther               // a track other than an order
	Identify                 // type identify
	OrderValid               // Order Completed (or v1 Completed Order) that maps
	OrderInvalid             // Order Completed with exactly one Defect
	Alias                    // type alias, previousId -> userId
)

var kindNames = [...]string{"page", "track_other", "identify", "order_valid", "order_invalid", "alias"}

// String is the kind's Counts JSON key.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Defect is the one thing wrong with an invalid order.
type Defect string

// The defects of invalid orders; each makes the order invalid under the
// mapping contract on its own.
const (
	MissingCartID   Defect = "missing_cart_id"  // neither cart_id nor checkout_id
	MissingOrderID  Defect = "missing_order_id" // neither order_id nor orderId
	MissingCurrency Defect = "missing_currency" // no currency
	UnknownCurrency Defect = "unknown_currency" // currency "XYZ"
	PriceDollar     Defect = "price_dollar"     // a product price "$5.50"
	PriceComma      Defect = "price_comma"      // a product price "5,50"
	NegativePrice   Defect = "negative_price"   // a product price -5.5
	ZeroQuantity    Defect = "zero_quantity"    // a product quantity 0
	MissingSKU      Defect = "missing_sku"      // a product without sku, product_id or id
	EmptyProducts   Defect = "empty_products"   // products: []
)

// Defects lists every Defect, in the order the generator numbers them.
var Defects = []Defect{
	MissingCartID, MissingOrderID, MissingCurrency, UnknownCurrency, PriceDollar,
	PriceComma, NegativePrice, ZeroQuantity, MissingSKU, EmptyProducts,
}

// Event describes one generated event, so a test can follow it through a
// pipeline.
type Event struct {
	Kind        Kind
	MessageID   string
	UserID      string // "" when the event is anonymous
	AnonymousID string // "" for aliases, which carry previousId instead
	PreviousID  string // aliases only
	// OrderID is the order_id the mapping must produce (a numeric source id
	// as its decimal text); "" for non-orders and MissingOrderID.
	OrderID string
	// CartID is the cart_id the mapping must produce; "" for non-orders and
	// MissingCartID.
	CartID string
	Defect Defect // invalid orders only
	// Store is the event's store ("store-1"...), "" with one store.
	Store string
}

// Line is one output line.
type Line struct {
	// Data is the JSON object, without the trailing newline.
	Data []byte
	// Events are the events in Data, in order: one, or 2-5 in a batch.
	Events []Event
	// Batch tells whether Data is a {"batch":[...]} envelope.
	Batch bool
}
