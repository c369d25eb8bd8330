//go:build !nodev

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// startSandboxCmd runs cmdSandbox on a free port and returns its URL, its
// stderr and a stop function that returns cmdSandbox's error.
func startSandboxCmd(t *testing.T, args ...string) (url string, stderr *bytes.Buffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	stderr = new(bytes.Buffer)
	done := make(chan error, 1)
	go func() {
		done <- cmdSandbox(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), nil, w, stderr)
		_ = w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("no address line: %v (%v)", err, <-done)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "sandbox listening on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		cancel()
		t.Fatalf("first line %q", line)
	}
	return url, stderr, func() error { cancel(); return <-done }
}

func TestSandboxCommandServesUntilCancelled(t *testing.T) {
	url, stderr, stop := startSandboxCmd(t, "--keys", "pub.sec")
	req, _ := http.NewRequest(http.MethodPost, url+"/tracker/orders/paid", strings.NewReader(
		`{"cart_id":"c","order_id":"o1","currency_code":"USD","items":[{"sku":"A","price":1,"quantity":1}]}`))
	req.Header.Set("Refersion-Public-Key", "pub")
	req.Header.Set("Refersion-Secret-Key", "sec")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	resp, err = http.Get(url + "/_sandbox/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Accepted int }
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Accepted != 1 {
		t.Fatalf("stats %+v, %v", st, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
	if !strings.Contains(stderr.String(), "1 accepted") {
		t.Fatalf("summary %q", stderr.String())
	}
}

// sandboxPost sends body to path with the key pair, and returns the status.
func sandboxPost(t *testing.T, url, path, public, secret, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
	req.Header.Set("Refersion-Public-Key", public)
	req.Header.Set("Refersion-Secret-Key", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// sandboxGet decodes the JSON answer of GET url into v.
func sandboxGet(t *testing.T, url string, v any) {
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

func TestSandboxCommandRepeatedKeysAreAccounts(t *testing.T) {
	url, stderr, stop := startSandboxCmd(t, "--keys", "pa.sa", "--keys", "pb.sb")
	order := `{"cart_id":"c","order_id":"o1","currency_code":"USD","items":[{"sku":"A","price":1,"quantity":1}]}`
	for _, k := range [][2]string{{"pa", "sa"}, {"pb", "sb"}} {
		if status := sandboxPost(t, url, "/tracker/orders/paid", k[0], k[1], order); status != http.StatusOK {
			t.Fatalf("order under %s: %d", k[0], status)
		}
	}
	if status := sandboxPost(t, url, "/tracker/orders/paid", "pa", "sb", order); status != http.StatusUnauthorized {
		t.Fatalf("halves of two pairs: %d", status)
	}
	if status := sandboxPost(t, url, "/tracker/orders/paid", "sandbox-public", "sandbox-secret", order); status != http.StatusUnauthorized {
		t.Fatalf("the default keys with --keys given: %d", status)
	}
	cancel := `{"order_id":"o1","items":[{"sku":"A","quantity":1,"price":1}]}`
	if status := sandboxPost(t, url, "/v2/conversion/cancel", "pb", "sb", cancel); status != http.StatusOK {
		t.Fatalf("cancel under pb: %d", status)
	}
	if status := sandboxPost(t, url, "/v2/conversion/cancel", "pb", "sb", cancel); status != http.StatusUnprocessableEntity {
		t.Fatalf("pb's order cancelled twice: %d", status)
	}
	var orders []struct {
		PublicKey string `json:"public_key"`
		OrderID   string `json:"order_id"`
	}
	sandboxGet(t, url+"/_sandbox/orders", &orders)
	if len(orders) != 2 || orders[0].PublicKey != "pa" || orders[1].PublicKey != "pb" || orders[1].OrderID != "o1" {
		t.Fatalf("orders %+v", orders)
	}
	var st struct {
		Accepted     int
		Duplicates   int
		OrdersByKey  map[string]int `json:"orders_by_key"`
		CancelsByKey map[string]int `json:"cancels_by_key"`
	}
	sandboxGet(t, url+"/_sandbox/stats", &st)
	if st.Accepted != 2 || st.Duplicates != 0 || st.OrdersByKey["pa"] != 1 || st.OrdersByKey["pb"] != 1 || st.CancelsByKey["pb"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := stop(); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
	if !strings.Contains(stderr.String(), "by public key: pa 1 accepted, 0 cancels; pb 1 accepted, 1 cancels") {
		t.Fatalf("summary %q", stderr.String())
	}
}

func TestSandboxCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--fail-rate", "2"},
		{"--down-mode", "sideways"},
		{"--keys", "nodot"},
		{"--keys", "a.b", "--keys", "nodot"},
		{"--keys", "a.b", "--keys", "a.c"},
		{"--down-after", "1s"},
		{"extra"},
	} {
		var out, errOut bytes.Buffer
		err := cmdSandbox(context.Background(), args, nil, &out, &errOut)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
		if len(args) == 4 && !strings.Contains(err.Error(), "--keys #2: ") {
			t.Errorf("%v: %v does not name the second --keys", args, err)
		}
	}
}

func TestSandboxCommandHelpListsFaultFlags(t *testing.T) {
	var out bytes.Buffer
	if err := cmdSandbox(context.Background(), []string{"--help"}, nil, &out, io.Discard); !errors.Is(err, errHelp) {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(out.String(), "--keys PUBLIC.SECRET") {
		t.Errorf("help does not show --keys PUBLIC.SECRET:\n%s", out.String())
	}
	for _, flag := range []string{"-addr", "-keys", "-seed", "-latency", "-fail-rate", "-throttle-rate", "-down-after", "-down-for", "-reject-all", "-reset-rate"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("help lacks %s", flag)
		}
	}
}
