// Package mapping turns Segment-spec analytics events into Refersion paid-order
// payloads. It is pure: no I/O, no globals. Every function is safe for concurrent
// use; a Mapper is immutable after New.
package mapping

import "encoding/json"

// Order is the body POSTed to Refersion's paid-order webhook (one order per
// request). Money fields hold the source's exact decimal text; they marshal as
// JSON numbers.
type Order struct {
	CartID                string          `json:"cart_id"`
	OrderID               string          `json:"order_id"`
	CurrencyCode          string          `json:"currency_code"`
	Shipping              json.Number     `json:"shipping,omitempty"`
	Tax                   json.Number     `json:"tax,omitempty"`
	Discount              json.Number     `json:"discount,omitempty"`
	DiscountCode          string          `json:"discount_code,omitempty"`
	IsSubscription        *bool           `json:"is_subscription,omitempty"`
	SubscriptionID        json.RawMessage `json:"subscription_id,omitempty"`
	AutoCreditAffiliateID json.RawMessage `json:"auto_credit_affiliate_id,omitempty"`
	Customer              *Customer       `json:"customer,omitempty"`
	Items                 []Item          `json:"items"`

	// Source identifies the event the order came from. It is not sent.
	Source Source `json:"-"`
}

// Source is what the pipeline needs to know about the event an order came from.
type Source struct {
	MessageID   string
	UserID      string
	AnonymousID string
	At          int64 // the event's timestamp, Unix milliseconds; 0 when absent
	// Account is the Refersion account the event is routed to (a Router),
	// "" with one account.
	Account string
}

// Customer is the buyer as Refersion wants it. Email is personal data: never log it.
type Customer struct {
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Email     string `json:"email,omitempty"`
	IPAddress string `json:"ip_address,omitempty"`
}

// Item is one order line. Price is the unit price.
type Item struct {
	SKU      string      `json:"sku"`
	Name     string      `json:"name,omitempty"`
	Price    json.Number `json:"price"`
	Quantity json.Number `json:"quantity"`
}
