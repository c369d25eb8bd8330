//go:build !nodev

package main

import (
	"strings"
	"testing"
)

// TestDemoRejectAllSaysWhy: orders every one rejected are summarised with
// Refersion's status and body, not "rejected: rejected".
func TestDemoRejectAllSaysWhy(t *testing.T) {
	configEnv(t, nil)
	code, stdout, stderr := runCLI(t, "demo", "-n", "2000", "--reject-all")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, `rejected: HTTP 422 {"errors":["Rejected by the sandbox (reject-all)"]}`) || strings.Contains(stdout, "rejected: rejected") {
		t.Errorf("summary:\n%s", stdout)
	}
}
