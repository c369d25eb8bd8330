package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/config"
)

// runCLI runs the command line args as main does and returns the exit
// status, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func allCommands() []command { return append(commands(), devCommands()...) }

// TestHelpPrintsUsageOnceOnStdout: `<command> --help` (and -h, and
// `help <command>`) prints the usage once, on stdout, and exits 0.
func TestHelpPrintsUsageOnceOnStdout(t *testing.T) {
	for _, c := range allCommands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			code, stdout, stderr := runCLI(t, args...)
			if code != 0 || stderr != "" {
				t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
			}
			if n := strings.Count(stdout, "Usage: refersion-relay "+c.name); n != 1 {
				t.Errorf("%v: usage printed %d times:\n%s", args, n, stdout)
			}
		}
	}
	code, stdout, stderr := runCLI(t, "--help")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "Commands:") {
		t.Errorf("--help: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestBadFlagPrintsUsageOnStderrAndExits2: nothing reaches stdout (so
// `gen --bogus > events.ndjson` leaves the file empty).
func TestBadFlagPrintsUsageOnStderrAndExits2(t *testing.T) {
	for _, c := range allCommands() {
		code, stdout, stderr := runCLI(t, c.name, "--bogus")
		if code != 2 || stdout != "" {
			t.Errorf("%s --bogus: exit %d, stdout %q", c.name, code, stdout)
		}
		if !strings.Contains(stderr, "flag provided but not defined: -bogus") || strings.Count(stderr, "Usage: refersion-relay "+c.name) != 1 {
			t.Errorf("%s --bogus: stderr\n%s", c.name, stderr)
		}
	}
	code, stdout, stderr := runCLI(t, "gen", "-n", "5", "extra")
	if code != 2 || stdout != "" || !strings.Contains(stderr, `unexpected argument "extra"`) {
		t.Errorf("gen extra: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t)
	if code != 2 || stdout != "" || !strings.Contains(stderr, "Usage: refersion-relay <command>") {
		t.Errorf("no command: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "nope")
	if code != 2 || stdout != "" || !strings.Contains(stderr, `unknown command "nope"`) {
		t.Errorf("unknown command: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 || stdout != "refersion-relay "+version+"\n" || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// TestRunHelpListsTheEnvironment: run has no flags; its help names the
// variables a first run needs (real ones) and points to config --markdown.
func TestRunHelpListsTheEnvironment(t *testing.T) {
	_, stdout, _ := runCLI(t, "run", "--help")
	if strings.Contains(stdout, "Flags:\n\n") || strings.HasSuffix(strings.TrimSpace(stdout), "Flags:") || !strings.Contains(stdout, "config --markdown") {
		t.Errorf("run --help:\n%s", stdout)
	}
	names := regexp.MustCompile(`(?m)^  ([A-Z_]+)`).FindAllStringSubmatch(stdout, -1)
	if len(names) < 6 {
		t.Fatalf("run --help lists %d variables:\n%s", len(names), stdout)
	}
	for _, n := range names {
		if !strings.Contains(config.Markdown(), "| `"+n[1]+"` |") {
			t.Errorf("run --help lists %s, which is no variable", n[1])
		}
	}
}

// TestFlagErrorsNameFlags: the sandbox's options are reported under the
// flags that set them, in sandbox, demo and gen.
func TestFlagErrorsNameFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sandbox", "--fail-rate", "2"}, "--fail-rate 2: not between 0 and 1"},
		{[]string{"sandbox", "--throttle-rate", "-1"}, "--throttle-rate -1: not between 0 and 1"},
		{[]string{"sandbox", "--reset-rate", "1.5"}, "--reset-rate 1.5: not between 0 and 1"},
		{[]string{"sandbox", "--latency", "-1s"}, "--latency -1s: negative"},
		{[]string{"sandbox", "--retry-after", "-1s"}, "--retry-after -1s: negative"},
		{[]string{"sandbox", "--down-after", "1s"}, "--down-after 1s: set without --down-for"},
		{[]string{"sandbox", "--down-for", "-1s"}, "--down-for -1s: negative"},
		{[]string{"sandbox", "--max-orders", "-1"}, "--max-orders -1: negative"},
		{[]string{"sandbox", "--keys", "nodot"}, "--keys: want PUBLIC.SECRET"},
		{[]string{"sandbox", "--fail-rate", "0.6", "--throttle-rate", "0.6"}, "--fail-rate + --throttle-rate: 1.2 is more than 1"},
		{[]string{"demo", "--fail-rate", "2"}, "--fail-rate 2: not between 0 and 1"},
		{[]string{"gen", "--orders", "1.5"}, "--orders 1.5: not between 0 and 1"},
		{[]string{"gen", "--users", "0"}, "--users 0: less than 1"},
		{[]string{"gen", "--refunds", "2"}, "--refunds 2: not between 0 and 1"},
		{[]string{"gen", "--clicks", "-1"}, "--clicks -1: not between 0 and 1"},
	} {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr\n%s\nwant %q", c.args, code, stdout, stderr, c.want)
		}
		if regexp.MustCompile(`[A-Z][a-z]+[A-Z][a-z]+`).MatchString(stderr) {
			t.Errorf("%v: a Go field name in\n%s", c.args, stderr)
		}
	}
}

// TestHealthSaysWhyNotReady: /readyz's reason reaches stderr; --addr takes
// HOST:PORT, :PORT and http://HOST:PORT.
func TestHealthSaysWhyNotReady(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready: consuming paused: refersion unavailable (circuit breaker open)\n")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	for _, a := range []string{addr, "http://" + addr, "http://" + addr + "/", ":" + port} {
		code, stdout, stderr := runCLI(t, "health", "--addr", a)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "/readyz answered 503: not ready: consuming paused: refersion unavailable (circuit breaker open)") {
			t.Errorf("health --addr %s: exit %d, stdout %q, stderr %q", a, code, stdout, stderr)
		}
		if code, stdout, _ := runCLI(t, "health", "--addr", a, "--live"); code != 0 || stdout != "ok\n" {
			t.Errorf("health --addr %s --live: exit %d, stdout %q", a, code, stdout)
		}
	}
	if code, _, stderr := runCLI(t, "health", "--addr", "ftp://"+addr); code != 2 || !strings.Contains(stderr, "want http or https") {
		t.Errorf("ftp: exit %d, %s", code, stderr)
	}
}

// TestNodevBuildLeavesOutTheDevelopmentCommands: the image's build (-tags
// nodev) carries no embedded broker, and still compiles.
func TestNodevBuildLeavesOutTheDevelopmentCommands(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goCmd, "list", "-deps", "-tags", "nodev", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range []string{"github.com/twmb/franz-go/pkg/kfake", "github.com/refersion-relay/refersion-relay/broker", "github.com/refersion-relay/refersion-relay/sandbox"} {
		if bytes.Contains(out, []byte(pkg+"\n")) {
			t.Errorf("the nodev build depends on %s", pkg)
		}
	}
	if out, err := exec.Command(goCmd, "vet", "-tags", "nodev", ".").CombinedOutput(); err != nil {
		t.Errorf("go vet -tags nodev: %v\n%s", err, out)
	}
	if _, err := os.Stat("nodev.go"); err != nil {
		t.Error(err)
	}
}
