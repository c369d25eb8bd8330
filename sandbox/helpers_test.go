package sandbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

const keys = "pub_test.sec_test"

// validOrder is a payload the sandbox accepts; id makes it distinct.
func validOrder(id string) string {
	return `{"cart_id":"cart-` + id + `","order_id":"` + id + `","currency_code":"USD",` +
		`"shipping":9.99,"customer":{"email":"jdoe@example.com"},` +
		`"items":[{"sku":"PROD_A","name":"Product A","price":5.50,"quantity":2}]}`
}

// start runs a sandbox on a free loopback port for the test's duration.
func start(t *testing.T, opts sandbox.Options) *sandbox.Server {
	t.Helper()
	if opts.Keys == "" {
		opts.Keys = keys
	}
	s := sandbox.New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type reply struct {
	status int
	header http.Header
	body   string
}

// post sends body to the webhook with the test keys.
func post(t *testing.T, s *sandbox.Server, body string) reply {
	t.Helper()
	return postKeys(t, s, "pub_test", "sec_test", body)
}

func postKeys(t *testing.T, s *sandbox.Server, public, secret, body string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Endpoint(), bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Refersion-Public-Key", public)
	req.Header.Set("Refersion-Secret-Key", secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(bytes.TrimSpace(b))}
}

// getJSON decodes the JSON answer of GET url into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds, failing the test after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-time.After(time.Millisecond)
	}
}
