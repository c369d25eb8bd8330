package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// leaks returns every way of printing v that contains one of secrets.
func leaks(v any, secrets ...string) []string {
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v", "%T"} {
		outs = append(outs, verb+" "+fmt.Sprintf(verb, v))
	}
	outs = append(outs, "Sprint "+fmt.Sprint(v), "Sprintln "+fmt.Sprintln(v))
	if b, err := json.Marshal(v); err == nil {
		outs = append(outs, "json "+string(b))
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("m", "v", v)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("m", "v", v)
	outs = append(outs, "slog "+logs.String())
	var found []string
	for _, o := range outs {
		for _, s := range secrets {
			if strings.Contains(o, s) {
				found = append(found, o)
			}
		}
	}
	return found
}

func TestSecretIsMaskedInEveryPrintedForm(t *testing.T) {
	s := NewSecret(testSecret)
	for _, v := range []any{s, &s, []Secret{s}, map[string]Secret{"k": s}, struct{ K Secret }{s}} {
		if l := leaks(v, testSecret, "FIXTURE"); len(l) > 0 {
			t.Errorf("%T leaks: %q", v, l)
		}
	}
	if got := fmt.Sprint(s); got != "****" {
		t.Errorf("Sprint = %q, want ****", got)
	}
	if got := fmt.Sprint(Secret{}); got != "" {
		t.Errorf("an unset secret prints %q, want nothing", got)
	}
	if s.Reveal() != testSecret {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}

func TestURLHidesPasswordInEveryPrintedForm(t *testing.T) {
	u := NewURL("redis://relay:pw9137@redis-0:6379/2")
	if l := leaks(u, "pw9137"); len(l) > 0 {
		t.Errorf("leaks: %q", l)
	}
	if got := u.String(); got != "redis://relay:xxxxx@redis-0:6379/2" {
		t.Errorf("String = %q", got)
	}
	if got := NewURL("redis://r:6379\x7f:pw9137").String(); got != "****" {
		t.Errorf("an unparsable URL prints %q, want ****", got)
	}
}

// TestConfigNeverShowsSecrets prints a whole loaded Config every way, and
// its Print and Validate output, looking for any secret.
func TestConfigNeverShowsSecrets(t *testing.T) {
	c := mustLoad(t, validEnv(map[string]string{
		"KAFKA_SASL_MECHANISM": "plain",
		"KAFKA_SASL_PASSWORD":  "pw9137",
		"STATE_BACKEND":        "redis",
		"REDIS_URL":            "redis://:rpw9137@redis:6379/0",
		"LOG_LEVEL":            "loud", // so that Validate has something to say
	}))
	secrets := []string{testPublic, testSecret, "FIXTURE", "9137"}
	if l := leaks(c, secrets...); len(l) > 0 {
		t.Errorf("Config leaks: %q", l)
	}
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted LOG_LEVEL=loud")
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("Validate shows %q:\n%v", s, err)
		}
	}
	// Print shows the public key, which is no secret on its own, and
	// nothing else of the keys.
	for _, s := range []string{testSecret, "9137"} {
		if strings.Contains(b.String(), s) {
			t.Errorf("Print shows %q:\n%s", s, b.String())
		}
	}
	if !strings.Contains(b.String(), "REFERSION_PUBLIC_KEY="+testPublic+"\n") {
		t.Errorf("Print hides the public key:\n%s", b.String())
	}
}
