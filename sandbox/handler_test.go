package sandbox_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

func TestWrongKeysAreUnauthorized(t *testing.T) {
	s := start(t, sandbox.Options{})
	for _, k := range [][2]string{{"pub_test", "wrong"}, {"wrong", "sec_test"}, {"", ""}} {
		r := postKeys(t, s, k[0], k[1], validOrder("1"))
		if r.status != http.StatusUnauthorized || r.body != `{"error":"Invalid API credentials (error 2)."}` {
			t.Fatalf("keys %q: %d %s", k, r.status, r.body)
		}
	}
	if st := s.Stats(); st.Unauthorized != 3 || st.Accepted != 0 || st.Requests != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDefaultKeysApplyWhenNoneAreGiven(t *testing.T) {
	s := sandbox.New(sandbox.Options{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pub, sec, _ := strings.Cut(sandbox.DefaultKeys, ".")
	if r := postKeys(t, s, pub, sec, validOrder("1")); r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
}

func TestAcceptedOrdersAreRecordedAndRepeatsCounted(t *testing.T) {
	s := start(t, sandbox.Options{})
	for _, id := range []string{"1", "2", "1", "1"} {
		if r := post(t, s, validOrder(id)); r.status != http.StatusOK {
			t.Fatalf("order %s: %d %s", id, r.status, r.body)
		}
	}
	post(t, s, "") // rejected
	var st sandbox.Stats
	getJSON(t, s.URL()+"/_sandbox/stats", &st)
	if st.Accepted != 4 || st.Duplicates != 2 || st.Rejected != 1 || st.Requests != 5 {
		t.Fatalf("stats %+v", st)
	}
	var orders []map[string]any
	getJSON(t, s.URL()+"/_sandbox/orders", &orders)
	if len(orders) != 4 || orders[1]["order_id"] != "2" {
		t.Fatalf("orders %v", orders)
	}
	getJSON(t, s.URL()+"/_sandbox/orders?last=3", &orders)
	if len(orders) != 3 || orders[0]["order_id"] != "2" {
		t.Fatalf("the last 3 orders: %v", orders)
	}
	getJSON(t, s.URL()+"/_sandbox/orders?last=10", &orders)
	if len(orders) != 4 {
		t.Fatalf("the last 10 of 4 orders: %v", orders)
	}
}

func TestDeleteOrdersResetsEverything(t *testing.T) {
	s := start(t, sandbox.Options{})
	post(t, s, validOrder("1"))
	req, _ := http.NewRequest(http.MethodDelete, s.URL()+"/_sandbox/orders", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if st := s.Stats(); st.Accepted != 0 || st.Requests != 0 || len(s.Orders()) != 0 {
		t.Fatalf("after reset: %+v, %d orders", st, len(s.Orders()))
	}
	post(t, s, validOrder("1"))
	if st := s.Stats(); st.Duplicates != 0 {
		t.Fatalf("order seen before the reset counted as a duplicate: %+v", st)
	}
}

func TestOrdersKeepsTheNewestMaxOrders(t *testing.T) {
	s := start(t, sandbox.Options{MaxOrders: 2})
	for _, id := range []string{"1", "2", "3"} {
		post(t, s, validOrder(id))
	}
	var ids []string
	for _, raw := range s.Orders() {
		var o struct {
			OrderID string `json:"order_id"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.OrderID)
	}
	if strings.Join(ids, ",") != "2,3" || s.Stats().Accepted != 3 {
		t.Fatalf("orders %v, stats %+v", ids, s.Stats())
	}
}

func TestRejectAllAnswers422AfterTheKeys(t *testing.T) {
	s := start(t, sandbox.Options{RejectAll: true})
	if r := post(t, s, validOrder("1")); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"errors"`) {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if r := postKeys(t, s, "x", "y", validOrder("1")); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong keys got %d", r.status)
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	s := start(t, sandbox.Options{})
	r := post(t, s, `{"pad":"`+strings.Repeat("x", 1<<20)+`"}`)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", r.status)
	}
}

func TestKeepAliveConnectionsAreReused(t *testing.T) {
	s := start(t, sandbox.Options{})
	for i := range 10 {
		post(t, s, validOrder(string(rune('a'+i))))
	}
	if st := s.Stats(); st.Connections != 1 {
		t.Fatalf("%d connections for 10 sequential requests", st.Connections)
	}
}
