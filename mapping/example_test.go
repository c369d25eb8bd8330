package mapping_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func Example() {
	m := mapping.MustNew(mapping.Options{})
	ids := memory.NewIdentities(memory.Options{})
	ctx := context.Background()
	stream := []string{
		`{"type":"identify","userId":"u1","traits":{"email":"jdoe@domain.com","name":"John Doe"}}`,
		`{"type":"page","name":"Checkout"}`,
		`{"type":"track","event":"Order Completed","userId":"u1","context":{"ip":"234.192.4.75"},"properties":{"cart_id":"c-1","order_id":"20150401102883","currency":"usd","tax":0.57,"products":[{"sku":"PROD_A","price":"5.50","quantity":2}]}}`,
		`{"type":"track","event":"Order Completed","properties":{"order_id":"o-2","currency":"USD","products":[{"sku":"B","price":"$5.50"}]}}`,
	}
	for _, line := range stream {
		m.Split([]byte(line), func(_ int, ev []byte, c mapping.Class) bool {
			switch c.Kind {
			case mapping.KindIdentify:
				u, _ := mapping.ParseIdentity(ev, c.Kind)
				_ = mapping.Apply(ctx, ids, u)
			case mapping.KindOrder:
				o, err := m.Map(ev)
				var invalid *mapping.InvalidError
				if errors.As(err, &invalid) {
					fmt.Println(invalid)
					return true
				}
				_ = mapping.Enrich(ctx, &o, ids)
				b, _ := json.Marshal(o)
				fmt.Println(string(b))
			case mapping.KindDropped:
				fmt.Println("dropped:", c.Drop)
			}
			return true
		})
	}
	// Output:
	// dropped: page
	// {"cart_id":"c-1","order_id":"20150401102883","currency_code":"USD","tax":0.57,"customer":{"first_name":"John","last_name":"Doe","email":"jdoe@domain.com","ip_address":"234.192.4.75"},"items":[{"sku":"PROD_A","price":5.50,"quantity":2}]}
	// invalid order o-2: properties.cart_id: missing: set properties.cart_id or properties.checkout_id to the cart id Refersion's tracker saw at click time; properties.products[0].price: "$5.50" is not a plain number (write 5.50, without currency symbols, thousands separators or a decimal comma)
}
