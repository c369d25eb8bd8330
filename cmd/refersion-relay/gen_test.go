//go:build !nodev

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/refersion-relay/refersion-relay/storefront"
)

// TestGen checks that gen writes exactly storefront.Generate's stream for
// its flags and the counts as one JSON line on stderr.
func TestGen(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"-n", "3000", "--seed", "9", "--orders", "0.1", "--invalid", "0.2", "--batch", "0.25", "--users", "50"}
	if err := cmdGen(context.Background(), args, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Orders, o.Invalid, o.Batch, o.Users = 3000, 9, 0.1, 0.2, 0.25, 50
	var want bytes.Buffer
	wc, err := storefront.Generate(&want, o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), want.Bytes()) {
		t.Fatal("gen output differs from storefront.Generate")
	}
	var c storefront.Counts
	if err := json.Unmarshal(stderr.Bytes(), &c); err != nil || c != wc || bytes.Count(stderr.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("stderr %q (%v), want counts %+v", stderr.String(), err, wc)
	}
	if c.Batches == 0 || c.OrderInvalid == 0 {
		t.Fatalf("flags not applied: %+v", c)
	}
	if bytes.Contains(stderr.Bytes(), []byte(`"stores"`)) || bytes.Contains(stdout.Bytes(), []byte(`"groupId"`)) {
		t.Fatal("store fields with one store")
	}
}

// TestGenStores checks gen --stores 3: deterministic, exactly
// storefront.Generate's stream, every order naming its store, and stderr
// counting each store's orders and the shared order ids.
func TestGenStores(t *testing.T) {
	args := []string{"-n", "20000", "--seed", "4", "--orders", "0.1", "--refunds", "0.2", "--stores", "3"}
	run := func() (stdout, stderr []byte) {
		var out, errOut bytes.Buffer
		if err := cmdGen(context.Background(), args, nil, &out, &errOut); err != nil {
			t.Fatal(err)
		}
		return out.Bytes(), errOut.Bytes()
	}
	out, errOut := run()
	out2, errOut2 := run()
	if !bytes.Equal(out, out2) || !bytes.Equal(errOut, errOut2) {
		t.Fatal("gen --stores 3 twice gave different output")
	}
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Orders, o.Refunds, o.Stores = 20000, 4, 0.1, 0.2, 3
	var want bytes.Buffer
	if _, err := storefront.Generate(&want, o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want.Bytes()) {
		t.Fatal("gen output differs from storefront.Generate")
	}
	var sum struct {
		storefront.Counts
		Stores map[string]storefront.StoreCounts `json:"stores"`
	}
	if err := json.Unmarshal(errOut, &sum); err != nil {
		t.Fatalf("stderr %q: %v", errOut, err)
	}
	valid, shared := 0, 0
	for _, name := range []string{"store-1", "store-2", "store-3"} {
		sc, ok := sum.Stores[name]
		if !ok || sc.OrderValid == 0 {
			t.Fatalf("%s: %+v in %s", name, sc, errOut)
		}
		valid += sc.OrderValid
		shared += sc.SharedOrderIDs
	}
	if len(sum.Stores) != 3 || valid != sum.OrderValid || shared != sum.SharedOrderIDs || shared == 0 {
		t.Fatalf("stores %v do not add up to %+v", sum.Stores, sum.Counts)
	}
	ids := map[string]map[string]bool{} // order_id → stores
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var e struct {
			Event   string
			Context struct {
				GroupID string `json:"groupId"`
			}
			Properties struct {
				OrderID any    `json:"order_id"`
				Store   string `json:"store"`
			}
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		if e.Event != "Order Completed" {
			continue
		}
		if e.Context.GroupID == "" || e.Properties.Store != e.Context.GroupID {
			t.Fatalf("an order without its store: %s", line)
		}
		if e.Properties.OrderID == nil {
			continue // an invalid order without one
		}
		id := fmt.Sprint(e.Properties.OrderID)
		if ids[id][e.Context.GroupID] {
			t.Fatalf("order_id %s twice in %s", id, e.Context.GroupID)
		}
		if ids[id] == nil {
			ids[id] = map[string]bool{}
		}
		ids[id][e.Context.GroupID] = true
	}
	inTwo := 0
	for _, stores := range ids {
		if len(stores) > 1 {
			inTwo++
		}
	}
	if inTwo == 0 {
		t.Fatal("no order_id appears in two stores")
	}
}

func TestGenErrors(t *testing.T) {
	for _, args := range [][]string{{"--orders", "1.5"}, {"-n", "x"}, {"--users", "0"}, {"--stores", "0"}, {"--stores", "2", "--shared", "2"}, {"extra"}} {
		err := cmdGen(context.Background(), args, nil, &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, errUsage) {
			t.Errorf("gen %v: error %v, want a usage error", args, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout bytes.Buffer
	if err := cmdGen(ctx, []string{"-n", "100000"}, nil, &stdout, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled gen: %v", err)
	}
	var help bytes.Buffer
	if err := cmdGen(context.Background(), []string{"--help"}, nil, &help, &bytes.Buffer{}); !errors.Is(err, errHelp) || !bytes.Contains(help.Bytes(), []byte("-batch")) {
		t.Errorf("help: %v\n%s", err, help.String())
	}
}
