package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/map")

// TestMapGolden runs `map` over each testdata/map/NAME.ndjson (with the flags
// in NAME.args, one per line) and compares stdout with NAME.golden.
func TestMapGolden(t *testing.T) {
	inputs, err := filepath.Glob("../../testdata/map/*.ndjson")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".ndjson")
		t.Run(name, func(t *testing.T) {
			base := strings.TrimSuffix(in, ".ndjson")
			var args []string
			if b, err := os.ReadFile(base + ".args"); err == nil {
				args = strings.Split(strings.TrimSpace(string(b)), "\n")
			}
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if err := cmdMap(context.Background(), args, bytes.NewReader(input), &stdout, &stderr); err != nil {
				t.Fatalf("map failed: %v (stderr %s)", err, stderr.String())
			}
			for i, line := range bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n")) {
				if len(line) > 0 && !json.Valid(line) {
					t.Errorf("output line %d is not JSON: %s", i+1, line)
				}
			}
			golden := base + ".golden"
			if *update {
				if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./cmd/refersion-relay -run TestMapGolden -update, then review the file)", err)
			}
			if got := stdout.String(); got != string(want) {
				t.Errorf("output differs from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}
