package sinktest

import (
	"encoding/json"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// Order returns a valid order with order_id id, as the mapper would build it.
func Order(id string) mapping.Order {
	return mapping.Order{
		CartID:       "cart-" + id,
		OrderID:      id,
		CurrencyCode: "USD",
		Shipping:     json.Number("9.99"),
		Tax:          json.Number("0.57"),
		Discount:     json.Number("2.25"),
		DiscountCode: "HOLIDAY1",
		Customer: &mapping.Customer{
			FirstName: "John", LastName: "Doe", Email: "jdoe@example.com", IPAddress: "192.0.2.75",
		},
		Items: []mapping.Item{
			{SKU: "PROD_A", Name: "Product A", Price: json.Number("5.50"), Quantity: json.Number("2")},
			{SKU: "PROD_B", Name: "Product B", Price: json.Number("19.99"), Quantity: json.Number("1")},
		},
	}
}

// Malformed returns an order Refersion answers 422: an item with quantity 0.
func Malformed(id string) mapping.Order {
	o := Order(id)
	o.Items[0].Quantity = json.Number("0")
	return o
}

// MissingCart returns an order Refersion answers 400: no cart_id.
func MissingCart(id string) mapping.Order {
	o := Order(id)
	o.CartID = ""
	return o
}
