//go:build !nodev

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
}

func TestGenErrors(t *testing.T) {
	for _, args := range [][]string{{"--orders", "1.5"}, {"-n", "x"}, {"--users", "0"}, {"extra"}} {
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
