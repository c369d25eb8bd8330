package deploy_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

const composeFile = "compose/compose.yaml"

// composeProject is the part of the Compose file format the tests read.
// Fields with several accepted forms (a list or a map, a string or a list)
// are kept raw and read by the helpers below.
type composeProject struct {
	Services map[string]composeService `json:"services"`
	Secrets  map[string]struct {
		File string `json:"file"`
	} `json:"secrets"`
}

type composeService struct {
	Image           string          `json:"image"`
	Build           json.RawMessage `json:"build"`
	Command         json.RawMessage `json:"command"`
	Environment     json.RawMessage `json:"environment"`
	DependsOn       json.RawMessage `json:"depends_on"`
	Secrets         []string        `json:"secrets"`
	Ports           []string        `json:"ports"`
	ReadOnly        bool            `json:"read_only"`
	User            string          `json:"user"`
	StopGracePeriod string          `json:"stop_grace_period"`
}

// loadCompose parses compose/compose.yaml (YAML anchors and merge keys
// included).
func loadCompose(t *testing.T) composeProject {
	t.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var p composeProject
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	if len(p.Services) == 0 {
		t.Fatalf("%s: no services", composeFile)
	}
	return p
}

// build returns the service's build context and Dockerfile.
func (s composeService) build(t *testing.T, name string) (context, dockerfile string) {
	t.Helper()
	if len(s.Build) == 0 {
		return "", ""
	}
	if json.Unmarshal(s.Build, &context) == nil {
		return context, "Dockerfile"
	}
	var b struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	}
	if err := json.Unmarshal(s.Build, &b); err != nil {
		t.Fatalf("%s: service %s: build: %v", composeFile, name, err)
	}
	if b.Dockerfile == "" {
		b.Dockerfile = "Dockerfile"
	}
	return b.Context, b.Dockerfile
}

// isRelay reports whether the service runs this repository's image.
func (s composeService) isRelay(t *testing.T, name string) bool {
	_, dockerfile := s.build(t, name)
	return filepath.ToSlash(dockerfile) == "deploy/Dockerfile" || strings.HasPrefix(s.Image, "refersion-relay:")
}

// stringList reads a field given as a list of strings or as one string (split
// on spaces, as Compose does for a command).
func stringList(t *testing.T, raw json.RawMessage, what string) []string {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s: %s: want a string or a list of strings", composeFile, what)
	}
	return strings.Fields(s)
}

// env reads environment, given as a map or as a list of NAME=value.
func (s composeService) env(t *testing.T, name string) map[string]string {
	t.Helper()
	env := map[string]string{}
	if len(s.Environment) == 0 {
		return env
	}
	var m map[string]any
	if json.Unmarshal(s.Environment, &m) == nil {
		for k, v := range m {
			if v == nil {
				v = ""
			}
			env[k] = fmt.Sprint(v)
		}
		return env
	}
	for _, kv := range stringList(t, s.Environment, "service "+name+": environment") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// dependsOn reads depends_on, given as a list or a map.
func (s composeService) dependsOn(t *testing.T, name string) []string {
	t.Helper()
	if len(s.DependsOn) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(s.DependsOn, &m) == nil {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	return stringList(t, s.DependsOn, "service "+name+": depends_on")
}

// flag returns the value of --name in args.
func flag(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// TestCompose checks the laptop stack: every relay service's variables are
// config variables, every name it uses (brokers, Redis, sandbox, secrets,
// dependencies) is defined in the file, and the relay runs as it would in
// Kubernetes (read-only, non-root, drained on stop).
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	vars := configVars(t)
	root := repoRoot(t)

	hostIsService := func(svc, what, hostport string) {
		t.Helper()
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			t.Errorf("%s: service %s: %s %q: %v", composeFile, svc, what, hostport, err)
			return
		}
		if _, ok := p.Services[host]; !ok {
			t.Errorf("%s: service %s: %s names host %s, which is no service of the file", composeFile, svc, what, host)
		}
	}

	var relays []string
	for name, s := range p.Services {
		for _, dep := range s.dependsOn(t, name) {
			if _, ok := p.Services[dep]; !ok {
				t.Errorf("%s: service %s depends on %s, which is not defined", composeFile, name, dep)
			}
		}
		if !s.isRelay(t, name) {
			continue
		}
		relays = append(relays, name)

		if ctx, dockerfile := s.build(t, name); ctx != "" {
			abs := filepath.Join(filepath.Dir(composeFile), ctx)
			if a, _ := filepath.Abs(abs); a != root {
				t.Errorf("%s: service %s: build context %s is not the repository root", composeFile, name, ctx)
			}
			if _, err := os.Stat(filepath.Join(abs, dockerfile)); err != nil {
				t.Errorf("%s: service %s: %v", composeFile, name, err)
			}
		}
		if !s.ReadOnly {
			t.Errorf("%s: service %s: want read_only: true, as in Kubernetes", composeFile, name)
		}
		if uid, _, _ := strings.Cut(s.User, ":"); uid == "" || uid == "0" || uid == "root" {
			t.Errorf("%s: service %s: want a non-root user, got %q", composeFile, name, s.User)
		}

		env := s.env(t, name)
		for k, v := range env {
			if problem := envNameProblem(k, vars); problem != "" {
				t.Errorf("%s: service %s sets %s, which is %s", composeFile, name, k, problem)
			}
			// Secrets as files: each *_FILE is a Compose secret of the service.
			if strings.HasSuffix(k, "_FILE") && !strings.HasPrefix(k, "KAFKA_TLS_") {
				secret, ok := strings.CutPrefix(v, "/run/secrets/")
				if _, defined := p.Secrets[secret]; !ok || !defined || !slices.Contains(s.Secrets, secret) {
					t.Errorf("%s: service %s: %s=%s is not /run/secrets/NAME of a secret the service mounts", composeFile, name, k, v)
				}
			}
		}
		args := stringList(t, s.Command, "service "+name+": command")
		if len(args) == 0 || args[0] != "run" {
			continue
		}

		// The service that runs the relay.
		full := effectiveEnv(vars, env)
		for _, b := range strings.Split(full["KAFKA_BROKERS"], ",") {
			hostIsService(name, "KAFKA_BROKERS", b)
		}
		if full["STATE_BACKEND"] == "redis" {
			u, err := url.Parse(full["REDIS_URL"])
			if err != nil || u.Host == "" {
				t.Errorf("%s: service %s: REDIS_URL %q", composeFile, name, full["REDIS_URL"])
			} else {
				hostIsService(name, "REDIS_URL", u.Host)
			}
		}
		checkSandboxURL(t, p, name, full)
		if err := validateConfig(t, vars, env, nil); err != nil {
			t.Errorf("%s: service %s: the relay would refuse this configuration:\n%v", composeFile, name, err)
		}
		admin := strings.TrimPrefix(full["ADMIN_ADDR"], ":")
		published := false
		for _, port := range s.Ports {
			published = published || strings.HasSuffix(port, ":"+admin)
		}
		if !published {
			t.Errorf("%s: service %s: the admin port %s is not published", composeFile, name, admin)
		}
		grace, err := time.ParseDuration(s.StopGracePeriod)
		if drain := drainTimeout(t, full); err != nil || grace < drain+shutdownMargin {
			t.Errorf("%s: service %s: stop_grace_period %q must be at least DRAIN_TIMEOUT %s plus %s", composeFile, name, s.StopGracePeriod, drain, shutdownMargin)
		}
		checkGen(t, p, full)
	}
	sort.Strings(relays)
	for _, want := range []string{"gen", "relay", "sandbox"} {
		if !slices.Contains(relays, want) {
			t.Errorf("%s: no service %s running the refersion-relay image (have %v)", composeFile, want, relays)
		}
	}
	for _, want := range []string{"kafka", "redis"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("%s: no service %s", composeFile, want)
		}
	}
	for name, s := range p.Secrets {
		if _, err := os.Stat(filepath.Join(filepath.Dir(composeFile), s.File)); err != nil {
			t.Errorf("%s: secret %s: %v", composeFile, name, err)
		}
	}
}

// checkSandboxURL checks that the relay posts to the sandbox service, on the
// port and path it serves, with the keys it accepts.
func checkSandboxURL(t *testing.T, p composeProject, relay string, env map[string]string) {
	t.Helper()
	u, err := url.Parse(env["REFERSION_URL"])
	if err != nil {
		t.Fatalf("%s: service %s: REFERSION_URL: %v", composeFile, relay, err)
	}
	sb, ok := p.Services[u.Hostname()]
	if !ok {
		t.Fatalf("%s: service %s: REFERSION_URL host %s is no service", composeFile, relay, u.Hostname())
	}
	args := stringList(t, sb.Command, "service "+u.Hostname()+": command")
	if len(args) == 0 || args[0] != "sandbox" {
		t.Fatalf("%s: REFERSION_URL names service %s, which does not run `refersion-relay sandbox`", composeFile, u.Hostname())
	}
	if _, port, _ := net.SplitHostPort(flag(args, "addr")); port != u.Port() {
		t.Errorf("%s: the sandbox listens on %q, but REFERSION_URL is %s", composeFile, flag(args, "addr"), u)
	}
	if u.Path != sandbox.PaidOrderPath {
		t.Errorf("%s: REFERSION_URL path %s, but the sandbox serves %s", composeFile, u.Path, sandbox.PaidOrderPath)
	}
	keys := flag(args, "keys")
	if keys == "" {
		keys = sandbox.DefaultKeys
	}
	secret, _ := strings.CutPrefix(env["REFERSION_API_KEY_FILE"], "/run/secrets/")
	b, err := os.ReadFile(filepath.Join(filepath.Dir(composeFile), p.Secrets[secret].File))
	if err != nil {
		t.Fatalf("%s: the relay's REFERSION_API_KEY_FILE: %v", composeFile, err)
	}
	if got := strings.TrimSpace(string(b)); got != keys {
		t.Errorf("%s: the relay's API key file holds %q, but the sandbox accepts %q", composeFile, got, keys)
	}
}

// checkGen checks that the gen service produces to the relay's topic on the
// relay's brokers, and that the topic is created before.
func checkGen(t *testing.T, p composeProject, env map[string]string) {
	t.Helper()
	gen := p.Services["gen"]
	args := stringList(t, gen.Command, "service gen: command")
	if len(args) == 0 || args[0] != "gen" {
		t.Fatalf("%s: service gen does not run `refersion-relay gen`", composeFile)
	}
	if got := flag(args, "brokers"); got != env["KAFKA_BROKERS"] {
		t.Errorf("%s: gen produces to brokers %q, the relay reads %q", composeFile, got, env["KAFKA_BROKERS"])
	}
	if got := flag(args, "topic"); got != env["KAFKA_TOPIC"] {
		t.Errorf("%s: gen produces to topic %q, the relay reads %q", composeFile, got, env["KAFKA_TOPIC"])
	}
	init, ok := p.Services["kafka-init"]
	if !ok {
		t.Fatalf("%s: no service kafka-init creating the topics", composeFile)
	}
	script := strings.Join(stringList(t, init.Command, "service kafka-init: command"), " ")
	dlq := env["KAFKA_DLQ_TOPIC"]
	if dlq == "" {
		dlq = env["KAFKA_TOPIC"] + ".refersion-dlq"
	}
	for _, topic := range []string{env["KAFKA_TOPIC"], dlq} {
		if !strings.Contains(script, topic+":") {
			t.Errorf("%s: kafka-init does not create topic %s", composeFile, topic)
		}
	}
	if !slices.Contains(gen.dependsOn(t, "gen"), "kafka-init") {
		t.Errorf("%s: gen must depend on kafka-init, or it may create the topic with the broker's defaults", composeFile)
	}
}
