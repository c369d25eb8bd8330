// Package modcheck guards the root module's dependency graph.
package modcheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoKustomize fails if kustomize is in the root module's graph: only
// the deploy checks use it, and they are a module of their own (deploy/),
// so that users of this module do not inherit it.
func TestNoKustomize(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command in PATH:", err)
	}
	root := moduleRoot(t)
	cmd := exec.Command("go", "list", "-m", "all")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m all in %s: %v\n%s", root, err, stderr.Bytes())
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "sigs.k8s.io/kustomize") {
			t.Errorf("the root module requires %s; kustomize belongs in deploy/go.mod", line)
		}
	}
}

var rootModule = regexp.MustCompile(`(?m)^module\s+"?github\.com/refersion-relay/refersion-relay"?\s*$`)

// moduleRoot walks up from the working directory to the directory whose
// go.mod declares the root module.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && rootModule.Match(b) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod of module github.com/refersion-relay/refersion-relay above the working directory")
		}
		dir = parent
	}
}
