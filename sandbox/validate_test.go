package sandbox_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

func TestPaidOrderAnswersLikeRefersion(t *testing.T) {
	s := start(t, sandbox.Options{})
	cases := []struct {
		name   string
		body   string
		status int
		want   string // exact answer body, or a substring when it starts with "~"
	}{
		{"valid order", validOrder("1001"), http.StatusOK, `{"status":"success","order_id":"1001"}`},
		{"empty body", "", http.StatusNotFound, `{"error":"Bad request, no body"}`},
		{"blank body", " \n", http.StatusNotFound, `{"error":"Bad request, no body"}`},
		{"not an object", `[1,2]`, http.StatusBadRequest, `{"error":"Bad request, body is not a JSON object"}`},
		{"missing cart_id", strings.Replace(validOrder("1"), `"cart_id":"cart-1",`, "", 1),
			http.StatusBadRequest, `{"error":"Missing required field cart_id"}`},
		{"empty order_id", strings.Replace(validOrder("1"), `"order_id":"1"`, `"order_id":""`, 1),
			http.StatusBadRequest, `{"error":"Missing required field order_id"}`},
		{"null currency", strings.Replace(validOrder("1"), `"USD"`, `null`, 1),
			http.StatusBadRequest, `{"error":"Missing required field currency_code"}`},
		{"missing items", `{"cart_id":"c","order_id":"1","currency_code":"USD"}`,
			http.StatusBadRequest, `{"error":"Missing required field items"}`},
		{"price as string", strings.Replace(validOrder("1"), `5.50`, `"5.50"`, 1),
			http.StatusUnprocessableEntity, `{"errors":["items[0].price must be a number \u003e= 0"]}`},
		{"quantity zero", strings.Replace(validOrder("1"), `"quantity":2`, `"quantity":0`, 1),
			http.StatusUnprocessableEntity, `~items[0].quantity must be a whole number`},
		{"fractional quantity", strings.Replace(validOrder("1"), `"quantity":2`, `"quantity":1.5`, 1),
			http.StatusUnprocessableEntity, `~items[0].quantity`},
		{"missing sku", strings.Replace(validOrder("1"), `"sku":"PROD_A",`, "", 1),
			http.StatusUnprocessableEntity, `~items[0].sku is required`},
		{"empty items", `{"cart_id":"c","order_id":"1","currency_code":"USD","items":[]}`,
			http.StatusUnprocessableEntity, `~items must not be empty`},
		{"lower-case currency", strings.Replace(validOrder("1"), `"USD"`, `"usd"`, 1),
			http.StatusUnprocessableEntity, `~currency_code`},
		{"numeric order_id", strings.Replace(validOrder("1"), `"order_id":"1"`, `"order_id":1`, 1),
			http.StatusUnprocessableEntity, `~order_id must be a string`},
		{"shipping as string", strings.Replace(validOrder("1"), `9.99`, `"9.99"`, 1),
			http.StatusUnprocessableEntity, `~shipping must be a number`},
		{"long cart_id", strings.Replace(validOrder("1"), `"cart-1"`, `"`+strings.Repeat("c", 256)+`"`, 1),
			http.StatusUnprocessableEntity, `~cart_id must be at most 255`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, s, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d (body %s)", r.status, c.status, r.body)
			}
			if sub, ok := strings.CutPrefix(c.want, "~"); ok {
				if !strings.Contains(r.body, sub) {
					t.Fatalf("body %s lacks %q", r.body, sub)
				}
			} else if r.body != c.want {
				t.Fatalf("body %s, want %s", r.body, c.want)
			}
		})
	}
}

func TestEveryMalformedItemIsReported(t *testing.T) {
	s := start(t, sandbox.Options{})
	body := `{"cart_id":"c","order_id":"1","currency_code":"USD","items":[` +
		`{"sku":"A","price":1,"quantity":1},{"price":"x","quantity":0},7]}`
	r := post(t, s, body)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", r.status)
	}
	for _, want := range []string{"items[1].sku", "items[1].price", "items[1].quantity", "items[2] must be an object"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("body %s lacks %q", r.body, want)
		}
	}
	if strings.Contains(r.body, "items[0]") {
		t.Errorf("valid item reported: %s", r.body)
	}
}
