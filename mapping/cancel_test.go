package mapping_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/refersion-relay/refersion-relay/mapping"
)

func refund(t *testing.T, ev string) mapping.Cancel {
	t.Helper()
	m := mapping.MustNew(withRefunds)
	c, err := m.MapCancel([]byte(ev), m.Classify([]byte(ev)).Kind)
	if err != nil {
		t.Fatalf("MapCancel(%s): %v", ev, err)
	}
	return c
}

var withRefunds = mapping.Options{RefundEvents: mapping.DefaultRefundEvents, CancelEvents: mapping.DefaultCancelEvents}

func TestRefundAndCancelEventsAreClassified(t *testing.T) {
	if k := mapping.MustNew(mapping.Options{}).Classify([]byte(`{"type":"track","event":"Order Refunded"}`)).Kind; k != mapping.KindDropped {
		t.Errorf("refunds are off by default: %v", k)
	}
	m := mapping.MustNew(withRefunds)
	for ev, want := range map[string]mapping.Kind{
		`{"type":"track","event":"Order Refunded","properties":{"order_id":"1"}}`:  mapping.KindRefund,
		`{"type":"track","event":"Order Cancelled","properties":{"order_id":"1"}}`: mapping.KindCancel,
		`{"type":"track","event":"Order Updated"}`:                                 mapping.KindDropped,
	} {
		if got := m.Classify([]byte(ev)).Kind; got != want {
			t.Errorf("%s: %v, want %v", ev, got, want)
		}
	}
	var ie *mapping.InvalidError
	if _, err := m.MapCancel([]byte(`{"type":"track","event":"Order Refunded","properties":{"products":[{"quantity":1}]}}`), mapping.KindRefund); !errors.As(err, &ie) || len(ie.Problems) != 2 {
		t.Errorf("a refund without order_id nor sku: %v", err)
	}
}

func TestPlanCancel(t *testing.T) {
	sent := []mapping.Line{{SKU: "A", Quantity: 2, Price: "10.00"}, {SKU: "B", Quantity: 1, Price: "5.5"}}
	items := func(p mapping.Plan) string { b, _ := json.Marshal(p.Request.Items); return string(b) }

	partial := refund(t, `{"type":"track","event":"Order Refunded","messageId":"r1","properties":{"order_id":"o","products":[{"sku":"A","quantity":1}]}}`)
	p := mapping.PlanCancel(partial, sent, nil)
	if items(p) != `[{"sku":"A","quantity":1,"price":10.00}]` || p.Clamped != 0 || partial.ID != "r1" {
		t.Errorf("a partial refund by product: %s clamped %d", items(p), p.Clamped)
	}
	// Two partial refunds, then a cancellation: it cancels exactly the rest.
	p = mapping.PlanCancel(refund(t, `{"type":"track","event":"Order Cancelled","properties":{"order_id":"o"}}`), sent, map[string]int64{"A": 1})
	if items(p) != `[{"sku":"A","quantity":1,"price":10.00},{"sku":"B","quantity":1,"price":5.5}]` {
		t.Errorf("the cancellation after a partial refund: %s", items(p))
	}
	over := refund(t, `{"type":"track","event":"Order Refunded","properties":{"order_id":"o","products":[{"sku":"A","quantity":5,"price":9},{"sku":"Z","quantity":1}]}}`)
	p = mapping.PlanCancel(over, sent, map[string]int64{"A": 1})
	if items(p) != `[{"sku":"A","quantity":1,"price":9}]` || p.Clamped != 5 {
		t.Errorf("an over-refund: %s clamped %d, want 1 of A at the event's price, 5 clamped", items(p), p.Clamped)
	}
	if p := mapping.PlanCancel(over, sent, map[string]int64{"A": 2, "B": 1}); !p.Empty() {
		t.Errorf("nothing left to cancel: %s", items(p))
	}
	amount := refund(t, `{"type":"track","event":"Order Refunded","properties":{"order_id":"o","total":"12.50"}}`)
	if p := mapping.PlanCancel(amount, sent, nil); !p.AmountOnly || !p.Empty() {
		t.Errorf("an amount-only refund below the order's 25.50: %+v", p)
	}
	whole := refund(t, `{"type":"track","event":"Order Refunded","properties":{"order_id":"o","total":25.5}}`)
	if p := mapping.PlanCancel(whole, sent, nil); p.AmountOnly || items(p) != `[{"sku":"A","quantity":2,"price":10.00},{"sku":"B","quantity":1,"price":5.5}]` {
		t.Errorf("a refund of the whole amount: %+v", p)
	}
	if a, b := refund(t, `{"type":"track","event":"Order Refunded","properties":{"order_id":"o"}}`), refund(t, `{"type":"track","event":"Order Refunded","properties":{"order_id":"o"}}`); a.ID != b.ID || a.ID == "" {
		t.Errorf("an event without messageId gets the same id every time: %q %q", a.ID, b.ID)
	}
}
