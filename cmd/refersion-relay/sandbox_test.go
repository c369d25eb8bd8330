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

func TestSandboxCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--fail-rate", "2"},
		{"--down-mode", "sideways"},
		{"--keys", "nodot"},
		{"--down-after", "1s"},
		{"extra"},
	} {
		var out, errOut bytes.Buffer
		err := cmdSandbox(context.Background(), args, nil, &out, &errOut)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func TestSandboxCommandHelpListsFaultFlags(t *testing.T) {
	var out bytes.Buffer
	if err := cmdSandbox(context.Background(), []string{"--help"}, nil, &out, io.Discard); !errors.Is(err, errHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, flag := range []string{"-addr", "-keys", "-seed", "-latency", "-fail-rate", "-throttle-rate", "-down-after", "-down-for", "-reject-all", "-reset-rate"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("help lacks %s", flag)
		}
	}
}
