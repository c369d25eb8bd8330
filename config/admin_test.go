package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testToken = "tokFIXTURE0123456789abcdef"

// ADMIN_TOKEN moves ADMIN_ADDR's default to this machine; an ADMIN_ADDR
// that is set wins.
func TestAdminTokenMovesTheAdminAddressToLoopback(t *testing.T) {
	if c := mustLoad(t, validEnv(nil)); c.AdminAddr != ":9464" || c.AdminToken.IsSet() {
		t.Errorf("without a token: ADMIN_ADDR %q, token set %v; want :9464 and none", c.AdminAddr, c.AdminToken.IsSet())
	}
	c := mustLoad(t, validEnv(map[string]string{"ADMIN_TOKEN": testToken}))
	if c.AdminAddr != LocalAdminAddr || c.AdminToken.Reveal() != testToken {
		t.Errorf("with a token: ADMIN_ADDR %q, want %s", c.AdminAddr, LocalAdminAddr)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	var out bytes.Buffer
	if err := c.PrintSources(&out, os.LookupEnv); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), testToken) || !strings.Contains(out.String(), "ADMIN_TOKEN=****") {
		t.Errorf("config shows the token, or not that it is set:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "# not set, taken from the variables above") || !strings.Contains(out.String(), "ADMIN_ADDR="+LocalAdminAddr) {
		t.Errorf("ADMIN_ADDR is not shown as taken from ADMIN_TOKEN:\n%s", out.String())
	}
	c = mustLoad(t, validEnv(map[string]string{"ADMIN_TOKEN": testToken, "ADMIN_ADDR": ":9464"}))
	if c.AdminAddr != ":9464" {
		t.Errorf("ADMIN_ADDR set with a token: %q, want :9464", c.AdminAddr)
	}
}

func TestAdminTokenFromFileAndItsLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, validEnv(map[string]string{"ADMIN_TOKEN_FILE": path}))
	if c.AdminToken.Reveal() != testToken || c.AdminAddr != LocalAdminAddr {
		t.Errorf("token from file: set %v, ADMIN_ADDR %q", c.AdminToken.IsSet(), c.AdminAddr)
	}
	c = mustLoad(t, validEnv(map[string]string{"ADMIN_TOKEN": "short-tok"}))
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "ADMIN_TOKEN is shorter than 16") || strings.Contains(err.Error(), "short-tok") {
		t.Errorf("short token: %v", err)
	}
	c = mustLoad(t, validEnv(map[string]string{"JOURNAL_SIZE": "-1"}))
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "JOURNAL_SIZE") {
		t.Errorf("JOURNAL_SIZE=-1: %v", err)
	}
}
