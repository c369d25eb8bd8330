package deploy_test

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

const composeFile = "compose/compose.yaml"

// composeService is the part of a Compose service the test reads.
type composeService struct {
	Image string `json:"image"`
	Build struct {
		Target string `json:"target"`
	} `json:"build"`
	Command         []string       `json:"command"`
	Environment     map[string]any `json:"environment"`
	Ports           []string       `json:"ports"`
	StopGracePeriod string         `json:"stop_grace_period"`
}

// TestCompose checks the laptop stack: the variables of every service
// running the relay's image are ones the relay reads; the relay publishes
// the admin port, is given time to drain on stop, and posts to the path
// the sandbox serves, on its port.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Services map[string]composeService `json:"services"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil { // anchors and merge keys included
		t.Fatalf("%s: %v", composeFile, err)
	}
	vars := configVars(t)
	ran := false
	for name, s := range p.Services {
		if !strings.HasPrefix(s.Image, "refersion-relay:") {
			continue
		}
		at := composeFile + ": service " + name
		// The service's image has no development commands: sandbox and gen
		// run the Dockerfile's dev target.
		if len(s.Command) > 0 && (s.Command[0] == "sandbox" || s.Command[0] == "gen") && s.Build.Target != "dev" {
			t.Errorf("%s runs %s, a development command, from build target %q; want dev", at, s.Command[0], s.Build.Target)
		}
		set := map[string]string{}
		for k, v := range s.Environment {
			checkEnvName(t, vars, at, k)
			set[k] = fmt.Sprint(v)
		}
		if len(s.Command) == 0 || s.Command[0] != "run" {
			continue
		}
		ran = true
		env := withDefaults(vars, set)
		admin := fmt.Sprint(adminPort(t, env))
		if !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+admin) }) {
			t.Errorf("%s: the admin port %s is not published (ports %v)", at, admin, s.Ports)
		}
		grace, err := time.ParseDuration(s.StopGracePeriod)
		if err != nil {
			grace = 10 * time.Second // Compose's default
		}
		checkGrace(t, at+": stop_grace_period", grace, env)

		u, err := url.Parse(env["REFERSION_URL"])
		if err != nil {
			t.Fatalf("%s: REFERSION_URL: %v", at, err)
		}
		if u.Path != sandbox.PaidOrderPath {
			t.Errorf("%s: REFERSION_URL path %s, but the sandbox serves %s", at, u.Path, sandbox.PaidOrderPath)
		}
		sb, ok := p.Services[u.Hostname()]
		if !ok || len(sb.Command) == 0 || sb.Command[0] != "sandbox" {
			t.Errorf("%s: REFERSION_URL names host %s, which is no service running `refersion-relay sandbox`", at, u.Hostname())
			continue
		}
		if i := slices.Index(sb.Command, "--addr"); i < 0 || i+1 == len(sb.Command) {
			t.Errorf("%s: service %s: no --addr", composeFile, u.Hostname())
		} else if _, port, _ := net.SplitHostPort(sb.Command[i+1]); port != u.Port() {
			t.Errorf("%s: REFERSION_URL is %s, but the sandbox listens on %s", at, u, sb.Command[i+1])
		}
	}
	if !ran {
		t.Errorf("%s: no service runs the relay (image refersion-relay:*, command run)", composeFile)
	}
}
