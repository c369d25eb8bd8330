package sandbox_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

// twoAccounts runs a sandbox with the test keys and a second pair.
func twoAccounts(t *testing.T) *sandbox.Server {
	t.Helper()
	return start(t, sandbox.Options{Keys: keys, KeyPairs: []string{"pub_b.sec_b"}})
}

// postCancel sends body to the cancel API with the given keys.
func postCancel(t *testing.T, s *sandbox.Server, public, secret, body string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+sandbox.CancelPath, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Refersion-Public-Key", public)
	req.Header.Set("Refersion-Secret-Key", secret)
	return do(t, req)
}

func TestEachOrderRecordsThePublicKeyThatSentIt(t *testing.T) {
	s := twoAccounts(t)
	for _, o := range []struct{ pub, sec, id string }{
		{"pub_test", "sec_test", "1"}, {"pub_b", "sec_b", "1"}, {"pub_b", "sec_b", "2"},
	} {
		if r := postKeys(t, s, o.pub, o.sec, validOrder(o.id)); r.status != http.StatusOK {
			t.Fatalf("order %s under %s: %d %s", o.id, o.pub, r.status, r.body)
		}
	}
	var keys []string
	for _, o := range s.AcceptedOrders() {
		keys = append(keys, o.PublicKey)
	}
	if !slices.Equal(keys, []string{"pub_test", "pub_b", "pub_b"}) || len(s.Orders()) != 3 || len(s.OrdersFor("pub_b")) != 2 {
		t.Fatalf("keys %v, %d orders, %d under pub_b", keys, len(s.Orders()), len(s.OrdersFor("pub_b")))
	}
	st := s.Stats()
	if st.Accepted != 3 || st.Duplicates != 0 || st.OrdersByKey["pub_test"] != 1 || st.OrdersByKey["pub_b"] != 2 {
		t.Fatalf("the same order_id under two keys is two orders: %+v", st)
	}
	var listed []map[string]any
	getJSON(t, s.URL()+"/_sandbox/orders", &listed)
	if len(listed) != 3 || listed[0]["public_key"] != "pub_test" || listed[1]["public_key"] != "pub_b" || listed[1]["order_id"] != "1" {
		t.Fatalf("GET /_sandbox/orders: %v", listed)
	}
	getJSON(t, s.URL()+"/_sandbox/orders?public_key=pub_b&last=1", &listed)
	if len(listed) != 1 || listed[0]["public_key"] != "pub_b" || listed[0]["order_id"] != "2" {
		t.Fatalf("the newest order of pub_b: %v", listed)
	}
	var stats map[string]any
	getJSON(t, s.URL()+"/_sandbox/stats", &stats)
	if by, _ := stats["orders_by_key"].(map[string]any); by["pub_b"] != 2.0 {
		t.Fatalf("GET /_sandbox/stats: %v", stats)
	}
}

func TestAPairIsAcceptedWhole(t *testing.T) {
	s := twoAccounts(t)
	for _, k := range [][2]string{{"pub_test", "sec_b"}, {"pub_b", "sec_test"}, {"pub_b", ""}} {
		if r := postKeys(t, s, k[0], k[1], validOrder("1")); r.status != http.StatusUnauthorized {
			t.Errorf("keys %q of two pairs: %d %s", k, r.status, r.body)
		}
		if r := postCancel(t, s, k[0], k[1], `{"order_id":"1","items":[{"sku":"PROD_A","quantity":1}]}`); r.status != http.StatusUnauthorized {
			t.Errorf("cancel with keys %q: %d %s", k, r.status, r.body)
		}
	}
}

func TestCancelUnderAnotherAccountIsAnUnknownOrder(t *testing.T) {
	s := twoAccounts(t)
	if r := post(t, s, validOrder("o1")); r.status != http.StatusOK {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	cancel := `{"order_id":"o1","items":[{"sku":"PROD_A","quantity":1,"price":5.5}]}`
	if r := postCancel(t, s, "pub_b", "sec_b", cancel); r.status != http.StatusUnprocessableEntity || r.body != `{"errors":["Invalid order ID (error 5)"]}` {
		t.Fatalf("cancel under the other account: %d %s", r.status, r.body)
	}
	if r := postCancel(t, s, "pub_test", "sec_test", cancel); r.status != http.StatusOK {
		t.Fatalf("cancel under the order's account: %d %s", r.status, r.body)
	}
	if n, nb := s.NetFor("pub_test", "o1", "PROD_A"), s.NetFor("pub_b", "o1", "PROD_A"); n != 1 || nb != 0 || s.Net("o1", "PROD_A") != 1 {
		t.Fatalf("net %d under pub_test, %d under pub_b, %d in all", n, nb, s.Net("o1", "PROD_A"))
	}
	if c := s.Cancels(); len(c) != 1 || c[0].PublicKey != "pub_test" {
		t.Fatalf("cancels %+v", c)
	}
	if st := s.Stats(); st.Cancels != 1 || st.CancelRejected != 1 || st.CancelsByKey["pub_test"] != 1 || len(st.CancelsByKey) != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTheSameOrderIDUnderTwoAccountsIsCancelledApart(t *testing.T) {
	s := twoAccounts(t)
	post(t, s, validOrder("o1"))
	postKeys(t, s, "pub_b", "sec_b", validOrder("o1"))
	cancel := `{"order_id":"o1","items":[{"sku":"PROD_A","quantity":2,"price":5.5}]}`
	if r := postCancel(t, s, "pub_b", "sec_b", cancel); r.status != http.StatusOK {
		t.Fatalf("cancel under pub_b: %d %s", r.status, r.body)
	}
	if r := postCancel(t, s, "pub_b", "sec_b", cancel); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "exceeds") {
		t.Fatalf("pub_b's order cancelled twice: %d %s", r.status, r.body)
	}
	if a, b := s.NetFor("pub_test", "o1", "PROD_A"), s.NetFor("pub_b", "o1", "PROD_A"); a != 2 || b != 0 || s.Net("o1", "PROD_A") != 2 {
		t.Fatalf("net %d under pub_test, %d under pub_b", a, b)
	}
	var listed []sandbox.Cancel
	getJSON(t, s.URL()+"/_sandbox/cancels?public_key=pub_test", &listed)
	if len(listed) != 0 {
		t.Fatalf("cancels of pub_test: %+v", listed)
	}
	getJSON(t, s.URL()+"/_sandbox/cancels", &listed)
	if len(listed) != 1 || listed[0].PublicKey != "pub_b" {
		t.Fatalf("cancels: %+v", listed)
	}
}

func TestKeyPairsAloneReplaceTheDefaultKeys(t *testing.T) {
	s := sandbox.New(sandbox.Options{KeyPairs: []string{"a.1", "b.2"}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pub, sec, _ := strings.Cut(sandbox.DefaultKeys, ".")
	if r := postKeys(t, s, pub, sec, validOrder("1")); r.status != http.StatusUnauthorized {
		t.Fatalf("the default keys: %d", r.status)
	}
	if r := postKeys(t, s, "b", "2", validOrder("1")); r.status != http.StatusOK {
		t.Fatalf("the second pair: %d %s", r.status, r.body)
	}
}

func TestInvalidKeyPairsAreReportedWithoutTheirValue(t *testing.T) {
	err := sandbox.Options{Keys: "pubA7.sec11", KeyPairs: []string{"nodotX9", "pubA7.sec22", "pubB8."}}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"KeyPairs #1: want PUBLIC.SECRET", "KeyPairs #2: the public key of an earlier pair", "KeyPairs #3: want PUBLIC.SECRET"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %q", err, want)
		}
	}
	for _, secret := range []string{"nodotX9", "pubA7", "sec11", "sec22", "pubB8"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error quotes %q: %v", secret, err)
		}
	}
	if err := (sandbox.Options{KeyPairs: []string{"a.1", "b.2"}}).Validate(); err != nil {
		t.Errorf("two pairs: %v", err)
	}
}

// do sends req and reads the whole answer.
func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(bytes.TrimSpace(b.Bytes()))}
}

// The payload listed by GET /_sandbox/orders is the one sent, plus public_key.
func TestListedOrderIsThePayloadWithItsKey(t *testing.T) {
	s := start(t, sandbox.Options{})
	post(t, s, validOrder("7"))
	var listed []map[string]json.RawMessage
	getJSON(t, s.URL()+"/_sandbox/orders", &listed)
	var sent map[string]json.RawMessage
	if err := json.Unmarshal([]byte(validOrder("7")), &sent); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || string(listed[0]["public_key"]) != `"pub_test"` || len(listed[0]) != len(sent)+1 {
		t.Fatalf("listed %v", listed)
	}
	for k, v := range sent {
		if !bytes.Equal(bytes.TrimSpace(listed[0][k]), v) {
			t.Errorf("%s: listed %s, sent %s", k, listed[0][k], v)
		}
	}
}
