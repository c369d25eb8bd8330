package deploy_test

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/config"
)

// measuredPeakRSS is the peak resident memory of `refersion-relay run` under
// load (a 200k-event benchmark measured 40-45 MiB). Memory requests must
// cover it.
const measuredPeakRSS = 45 << 20

// shutdownMargin is what a relay needs after DRAIN_TIMEOUT to exit cleanly:
// the final offset commits, leaving the consumer group and the admin
// server's shutdown (5s). A termination grace period, in Kubernetes or
// compose, is at least DRAIN_TIMEOUT plus this.
const shutdownMargin = 10 * time.Second

// runtimeEnv are variables a deployment may set that the relay does not read
// through config.Config: the Go runtime's. OTEL_* (read by the OpenTelemetry
// SDK) are allowed by prefix.
var runtimeEnv = map[string]bool{
	"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true, "GODEBUG": true, "GOTRACEBACK": true,
}

// configVars returns every variable of config.Config, name to default: the
// envconfig tag of each field, walking embedded structs (which envconfig
// reads without a prefix).
func configVars(t testing.TB) map[string]string {
	t.Helper()
	vars := map[string]string{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			if name := f.Tag.Get("envconfig"); name != "" {
				vars[name] = f.Tag.Get("default")
				continue
			}
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[config.Config]())
	// A walk that found nothing would let every name through.
	for _, must := range []string{"KAFKA_BROKERS", "KAFKA_SASL_PASSWORD_FILE", "REFERSION_API_KEY_FILE", "STATE_BACKEND", "ADMIN_ADDR", "DRAIN_TIMEOUT"} {
		if _, ok := vars[must]; !ok {
			t.Fatalf("config.Config has no variable %s: the walk of its envconfig tags is broken", must)
		}
	}
	return vars
}

// envNameProblem says why name may not be set for the relay, or "" if it may.
// Only those names are allowed: anything else is a typo or a variable the
// relay does not read, and would be ignored without a word.
func envNameProblem(name string, vars map[string]string) string {
	if _, ok := vars[name]; ok || runtimeEnv[name] || strings.HasPrefix(name, "OTEL_") {
		return ""
	}
	return "not a variable of config.Config (the README's configuration table), nor OTEL_* nor a Go runtime variable"
}

// effectiveEnv is the relay's view: every config default, then set.
func effectiveEnv(vars, set map[string]string) map[string]string {
	env := make(map[string]string, len(vars)+len(set))
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
	if err != nil {
		t.Fatalf("ADMIN_ADDR %q: %v", env["ADMIN_ADDR"], err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n == 0 {
		t.Fatalf("ADMIN_ADDR %q: a fixed port is needed for probes and scraping", env["ADMIN_ADDR"])
	}
	return n
}

// drainTimeout is DRAIN_TIMEOUT in env.
func drainTimeout(t testing.TB, env map[string]string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(env["DRAIN_TIMEOUT"])
	if err != nil {
		t.Fatalf("DRAIN_TIMEOUT %q: %v", env["DRAIN_TIMEOUT"], err)
	}
	return d
}

// repoRoot is the module's root directory (tests run in deploy/).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// mentions lists the files under dir (relative to deploy/) whose text
// contains the word s, to say where a bad name comes from.
func mentions(dir, s string) string {
	word := regexp.MustCompile(`\b` + regexp.QuoteMeta(s) + `\b`)
	var files []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".go") {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && word.Match(b) {
			files = append(files, filepath.ToSlash(p))
		}
		return nil
	})
	sort.Strings(files)
	if len(files) == 0 {
		return "named in no file under " + dir
	}
	return "named in " + strings.Join(files, ", ")
}

// TestConfigVarsWalk checks that configVars sees exactly the variables that
// config prints in its documentation table, so the env checks below test
// against the real set.
func TestConfigVarsWalk(t *testing.T) {
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\|").FindAllStringSubmatch(config.Markdown(), -1) {
		documented[m[1]] = true
	}
	vars := configVars(t)
	for name := range vars {
		if !documented[name] {
			t.Errorf("%s is in config.Config but not in config.Markdown's table", name)
		}
	}
	for name := range documented {
		if _, ok := vars[name]; !ok {
			t.Errorf("%s is in config.Markdown's table but the walk of config.Config missed it", name)
		}
	}
}

// TestAdminPaths checks that the paths the manifests probe and scrape are
// served: the module's Go source registers each of them.
func TestAdminPaths(t *testing.T) {
	root := repoRoot(t)
	var src strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || p == filepath.Join(root, "deploy")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			src.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{livenessPath, readinessPath, metricsPath} {
		if !regexp.MustCompile(`"(GET )?` + regexp.QuoteMeta(path) + `"`).MatchString(src.String()) {
			t.Errorf("no Go source registers %s on the admin server, yet deploy/ probes or scrapes it", path)
		}
	}
}

// The admin server's paths (cmd/refersion-relay: startAdmin).
const (
	livenessPath  = "/healthz"
	readinessPath = "/readyz"
	metricsPath   = "/metrics"
)

// secretStandIns are values for variables a deployment takes from a
// Kubernetes Secret with valueFrom, where the manifest holds no value.
var secretStandIns = map[string]string{
	"REDIS_URL": "redis://:stand-in@redis.example:6379/0",
}

// validateConfig loads the relay's configuration from set (every variable a
// deployment gives the relay, name to value) with config.Load and returns
// what config.Validate finds wrong. Each *_FILE path is replaced by a
// temporary file with a well-formed stand-in, as the mounted Secret would
// provide; a variable in fromSecret takes its value from secretStandIns.
func validateConfig(t *testing.T, vars, set map[string]string, fromSecret map[string]bool) error {
	t.Helper()
	for name := range vars {
		t.Setenv(name, "")
		if err := os.Unsetenv(name); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for name, value := range set {
		switch {
		case fromSecret[name]:
			v, ok := secretStandIns[name]
			if !ok {
				t.Fatalf("%s comes from a Secret; add a stand-in value to secretStandIns", name)
			}
			value = v
		case strings.HasSuffix(name, "_FILE") && value != "" && !strings.HasPrefix(name, "KAFKA_TLS_"):
			content := "stand-in"
			if name == "REFERSION_API_KEY_FILE" {
				content = "stand-in-public.stand-in-secret"
			}
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			value = p
		}
		t.Setenv(name, value)
	}
	c, err := config.Load()
	if err != nil {
		return err
	}
	return c.Validate()
}
