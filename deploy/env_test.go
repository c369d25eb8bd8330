// Package deploy_test cross-checks deploy/ against the relay's code: the
// variables the manifests and the Compose file set, the admin server's
// paths and port, and the drain timeout.
package deploy_test

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/config"
)

// shutdownMargin is what a relay needs after DRAIN_TIMEOUT to exit cleanly:
// the final offset commits, leaving the group and the admin server's 5s
// shutdown. A grace period is at least DRAIN_TIMEOUT plus this.
const shutdownMargin = 10 * time.Second

// The admin server's paths (cmd/refersion-relay: startAdmin).
const (
	livenessPath  = "/healthz"
	readinessPath = "/readyz"
	metricsPath   = "/metrics"
)

// configVars returns every variable of config.Config, name to default: the
// envconfig tag of each field, walking the embedded stage structs.
func configVars(t testing.TB) map[string]string {
	t.Helper()
	vars := map[string]string{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if name := f.Tag.Get("envconfig"); name != "" && f.IsExported() {
				vars[name] = f.Tag.Get("default")
			} else if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[config.Config]())
	// A walk that found nothing would let every name through.
	for _, must := range []string{"KAFKA_BROKERS", "KAFKA_SASL_PASSWORD_FILE", "REFERSION_API_KEY_FILE", "REDIS_URL", "ADMIN_ADDR", "DRAIN_TIMEOUT"} {
		if _, ok := vars[must]; !ok {
			t.Fatalf("config.Config has no variable %s: the walk of its envconfig tags is broken", must)
		}
	}
	return vars
}

// checkEnvName fails unless the relay reads name: a variable of
// config.Config, OTEL_* (the OpenTelemetry SDK) or a Go runtime variable.
// Any other name is a typo the relay would ignore without a word.
func checkEnvName(t testing.TB, vars map[string]string, where, name string) {
	t.Helper()
	if _, ok := vars[name]; ok || strings.HasPrefix(name, "OTEL_") || goRuntimeEnv[name] {
		return
	}
	t.Errorf("%s sets %s, which is not a variable of config.Config (the README's configuration table), OTEL_* or a Go runtime variable", where, name)
}

var goRuntimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true, "GODEBUG": true, "GOTRACEBACK": true}

// withDefaults is the relay's view of set: every config default, then set.
func withDefaults(vars, set map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range vars {
		env[k] = v
	}
	for k, v := range set {
		env[k] = v
	}
	return env
}

// adminPort is the port of ADMIN_ADDR in env.
func adminPort(t testing.TB, env map[string]string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(env["ADMIN_ADDR"])
	n, _ := strconv.Atoi(port)
	if err != nil || n == 0 {
		t.Fatalf("ADMIN_ADDR %q: probes and scraping need a fixed port (%v)", env["ADMIN_ADDR"], err)
	}
	return n
}

// checkGrace fails unless grace leaves the relay DRAIN_TIMEOUT plus
// shutdownMargin to drain and exit.
func checkGrace(t testing.TB, where string, grace time.Duration, env map[string]string) {
	t.Helper()
	drain, err := time.ParseDuration(env["DRAIN_TIMEOUT"])
	if err != nil {
		t.Fatalf("%s: DRAIN_TIMEOUT %q: %v", where, env["DRAIN_TIMEOUT"], err)
	}
	if grace < drain+shutdownMargin {
		t.Errorf("%s: grace period %s is less than DRAIN_TIMEOUT %s plus %s to commit, leave the group and exit", where, grace, drain, shutdownMargin)
	}
}

// TestAdminPaths checks that the admin server registers the paths deploy/
// probes and scrapes.
func TestAdminPaths(t *testing.T) {
	files, err := filepath.Glob("../cmd/refersion-relay/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no source in ../cmd/refersion-relay (%v)", err)
	}
	var src strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	for _, path := range []string{livenessPath, readinessPath, metricsPath} {
		if !strings.Contains(src.String(), `"GET `+path+`"`) {
			t.Errorf("cmd/refersion-relay registers no %q on the admin server, yet deploy/ probes or scrapes it", "GET "+path)
		}
	}
}
