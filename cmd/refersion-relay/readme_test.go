//go:build !nodev

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/sandbox"
)

// TestMain lets this test binary stand in for refersion-relay: run through a
// link named refersion-relay (TestReadme makes bin/refersion-relay), it is
// the program.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "refersion-relay" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestReadme walks README.md top to bottom as a newcomer would, running
// every command of its sh blocks in a fresh directory where
// bin/refersion-relay is this program, and fails when one fails:
//
//   - `export` lines hold for the commands after them, as in one shell;
//   - broker, sandbox and run are long-running (a terminal each): they start
//     in the background, are waited for until they serve, and get SIGTERM at
//     the end of their README section, after which each must exit 0;
//   - fixed addresses become free loopback ports: the broker's and the
//     sandbox's --addr become 127.0.0.1:0, and later commands use the port
//     they took; the relay's admin port (9464) is the one its start line
//     names; kafka-0:9092, "your own Kafka", is an embedded broker holding
//     segment-events; REFERSION_URL defaults to an embedded sandbox, so
//     nothing leaves the machine;
//   - commands that look at the running stack (curl, health) are tried again
//     until they succeed or 30 s pass: they wait for orders to arrive;
//   - make, docker and kubectl are skipped, with the rest of their block,
//     and listed (`make run` runs as the demo it starts), as is a command
//     whose tool (curl) is not installed.
func TestReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("walks the README: not in -short")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("the README's commands need bash")
	}
	text, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, "bin", "refersion-relay")); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	own, err := broker.Start(ctx, broker.Options{Topics: []broker.Topic{{Name: "segment-events", Partitions: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(own.Close)
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })

	w := &walker{t: t, ctx: ctx, dir: dir, env: map[string]string{
		"PATH":          filepath.Join(dir, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME":          dir,
		"REFERSION_URL": sb.Endpoint(),
		"ADMIN_ADDR":    "127.0.0.1:0",
		// Under the race detector (make test), a program lingers a second
		// at exit to report races; not this one's many short runs.
		"GORACE": "atexit_sleep_ms=0",
	}, addrs: map[string]string{"kafka-0:9092": own.Addr()}}
	blocks := readmeBlocks(string(text))
	if len(blocks) < 4 {
		t.Fatalf("README.md: %d sh blocks", len(blocks))
	}
	ran := 0
	for _, b := range blocks {
		if b.Section != w.section {
			w.stopAll() // a new section: the terminals of the last one are closed
			w.section = b.Section
		}
		ran += w.block(b)
	}
	w.stopAll()
	t.Logf("ran %d commands; skipped:\n  %s", ran, strings.Join(w.skipped, "\n  "))
	if ran < 15 {
		t.Errorf("ran only %d commands", ran)
	}
}

// readmeBlock is one ```sh block: its commands, continuation lines joined
// and comments cut, the line it starts at and the section (## heading) it
// is in.
type readmeBlock struct {
	Line     int
	Section  string
	Commands []string
}

func readmeBlocks(text string) []readmeBlock {
	var blocks []readmeBlock
	var cur *readmeBlock
	pending, section := "", ""
	for i, line := range strings.Split(text, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "## "):
			section = line
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = &readmeBlock{Line: i + 1, Section: section}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			line = strings.TrimSpace(cutComment(line))
			if l, ok := strings.CutSuffix(line, `\`); ok {
				pending += strings.TrimSpace(l) + " "
				continue
			}
			if c := strings.TrimSpace(pending + line); c != "" {
				cur.Commands = append(cur.Commands, c)
			}
			pending = ""
		}
	}
	return blocks
}

// cutComment drops a shell comment: a # at the start or after a blank,
// outside quotes.
func cutComment(line string) string {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i]
		}
	}
	return line
}

// walker runs a README's commands, keeping what one shell session would.
type walker struct {
	t       *testing.T
	ctx     context.Context
	dir     string
	env     map[string]string // exported variables
	addrs   map[string]string // address in the README → the one in use
	skipped []string
	section string        // the README section being walked
	bg      []*background // its long-running commands
}

// stopAll stops the long-running commands, the last started first.
func (w *walker) stopAll() {
	for i := len(w.bg) - 1; i >= 0; i-- {
		w.bg[i].stop(w.t)
	}
	w.bg = nil
}

var (
	assignment = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)
	skipWords  = map[string]string{"docker": "needs a Docker engine", "kubectl": "needs a Kubernetes cluster"}
)

// words splits a command into its leading VAR=value assignments and the
// rest.
func words(c string) (assign, argv []string) {
	f := strings.Fields(c)
	for len(f) > 0 && assignment.MatchString(f[0]) {
		assign, f = append(assign, f[0]), f[1:]
	}
	return assign, f
}

// block runs one block and returns how many commands ran.
func (w *walker) block(b readmeBlock) int {
	t := w.t
	for _, c := range b.Commands {
		if _, argv := words(c); len(argv) > 0 {
			if why, ok := skipWords[argv[0]]; ok {
				for _, c := range b.Commands {
					w.skipped = append(w.skipped, fmt.Sprintf("README.md:%d: %s (the block %s)", b.Line, c, why))
				}
				return 0
			}
		}
	}
	ran := 0
	for _, c := range b.Commands {
		at := fmt.Sprintf("README.md:%d: %s", b.Line, c)
		assign, argv := words(c)
		switch {
		case len(argv) == 0:
			t.Fatalf("%s: no command", at)
		case argv[0] == "export":
			for _, kv := range argv[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("%s: export %s", at, kv)
				}
				w.env[k] = w.substitute(strings.Trim(v, `'"`))
			}
		case argv[0] == "make" && c == "make run":
			w.skipped = append(w.skipped, at+" (its build is this test's binary; the demo it runs, ran)")
			w.foreground(at, "bin/refersion-relay demo", false)
		case argv[0] == "make":
			w.skipped = append(w.skipped, at+" (make test is what runs this test)")
			continue
		case argv[0] == "bin/refersion-relay" && len(argv) > 1 && (argv[1] == "broker" || argv[1] == "sandbox" || argv[1] == "run"):
			w.bg = append(w.bg, w.start(at, assign, argv))
		case !strings.Contains(argv[0], "refersion-relay") && !w.installed(argv[0]):
			w.skipped = append(w.skipped, at+" ("+argv[0]+" is not installed)")
			continue
		default:
			observe := argv[0] == "curl" || (len(argv) > 1 && argv[1] == "health")
			w.foreground(at, c, observe)
		}
		ran++
	}
	return ran
}

// installed reports whether the tool a command starts with is on PATH.
func (w *walker) installed(tool string) bool {
	for _, dir := range filepath.SplitList(w.env["PATH"]) {
		if fi, err := os.Stat(filepath.Join(dir, tool)); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// substitute replaces the README's addresses with the ones in use.
func (w *walker) substitute(c string) string {
	var pairs []string
	for from, to := range w.addrs {
		pairs = append(pairs, from, to)
	}
	return strings.NewReplacer(pairs...).Replace(c)
}

func (w *walker) environ(assign []string) []string {
	var env []string
	for k, v := range w.env {
		env = append(env, k+"="+v)
	}
	for _, a := range assign {
		env = append(env, w.substitute(a))
	}
	return env
}

// foreground runs c with bash (pipefail on) and fails the test when it does
// not exit 0 within a minute. An observing command is tried again until it
// succeeds, for 30 s.
func (w *walker) foreground(at, c string, observe bool) {
	t := w.t
	deadline := time.Now().Add(30 * time.Second)
	began := time.Now()
	for {
		ctx, cancel := context.WithTimeout(w.ctx, time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", "set -o pipefail\n"+w.substitute(c))
		cmd.Dir, cmd.Env = w.dir, w.environ(nil)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			t.Logf("%s (%s)\n%s", at, time.Since(began).Round(time.Millisecond), firstLines(out, 3))
			return
		}
		if !observe || time.Now().After(deadline) {
			t.Fatalf("%s: %v\n%s", at, err, out)
		}
		select {
		case <-w.ctx.Done():
			t.Fatalf("%s: %v\n%s", at, w.ctx.Err(), out)
		case <-time.After(200 * time.Millisecond): // the stack is still starting: ask again
		}
	}
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(strings.TrimSpace(string(b)), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return "  " + strings.Join(lines, "\n  ")
}

// background is a long-running command: a terminal of its own.
type background struct {
	at   string
	cmd  *exec.Cmd
	done chan error
	mu   sync.Mutex
	out  strings.Builder
}

// start runs a broker, sandbox or run command in the background and waits
// until it serves: the broker and the sandbox print their address, run
// logs its start line and then answers /readyz with 200.
func (w *walker) start(at string, assign, argv []string) *background {
	t := w.t
	argv = append([]string(nil), argv...)
	readmeAddr := ""
	for i := range argv {
		if argv[i] == "--addr" && i+1 < len(argv) {
			readmeAddr, argv[i+1] = argv[i+1], "127.0.0.1:0"
		}
	}
	for i := range argv {
		argv[i] = w.substitute(argv[i])
	}
	b := &background{at: at, done: make(chan error, 1)}
	b.cmd = exec.Command(filepath.Join(w.dir, argv[0]), argv[1:]...)
	b.cmd.Dir, b.cmd.Env = w.dir, w.environ(assign)
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", at, err)
	}
	w.t.Cleanup(func() { _ = b.cmd.Process.Kill() })
	ready := make(chan string, 2)
	var wg sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				line := sc.Text()
				b.mu.Lock()
				if b.out.Len() < 1<<16 {
					b.out.WriteString(line + "\n")
				}
				b.mu.Unlock()
				if addr := serving(argv[1], line); addr != "" {
					ready <- addr
				}
			}
		}()
	}
	go func() { wg.Wait(); b.done <- b.cmd.Wait() }()

	var addr string
	select {
	case addr = <-ready:
	case err := <-b.done:
		t.Fatalf("%s: exited before serving: %v\n%s", at, err, b.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not serving after 30s\n%s", at, b.output())
	}
	switch argv[1] {
	case "run":
		w.addrs["127.0.0.1:9464"], w.addrs["localhost:9464"] = addr, addr
		w.waitReady(b, addr)
	default:
		if readmeAddr != "" {
			w.addrs[readmeAddr] = addr
		}
	}
	t.Logf("%s\n  serving on %s", at, addr)
	return b
}

var startLine = regexp.MustCompile(`"msg":"refersion-relay started".*"admin":"([^"]+)"|msg="refersion-relay started".* admin=(\S+)`)

// serving returns the address a command's output line says it serves on,
// or "".
func serving(command, line string) string {
	switch command {
	case "broker":
		a, _ := strings.CutPrefix(line, "broker listening on ")
		if a != line {
			return a
		}
	case "sandbox":
		if u, ok := strings.CutPrefix(line, "sandbox listening on http://"); ok {
			return u
		}
	case "run":
		if m := startLine.FindStringSubmatch(line); m != nil {
			return m[1] + m[2]
		}
	}
	return ""
}

// waitReady waits until the relay at admin answers /readyz with 200.
func (w *walker) waitReady(b *background, admin string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: not ready after 30s: %v\n%s", b.at, err, b.output())
		}
		select {
		case err := <-b.done:
			w.t.Fatalf("%s: exited: %v\n%s", b.at, err, b.output())
		case <-time.After(100 * time.Millisecond): // joining the consumer group
		}
	}
}

func (b *background) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// stop sends SIGTERM, as Ctrl-C in its terminal would, and expects a clean
// exit within the relay's drain.
func (b *background) stop(t *testing.T) {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("%s: after SIGTERM: %v\n%s", b.at, err, b.output())
		}
	case <-time.After(40 * time.Second):
		t.Errorf("%s: still running 40s after SIGTERM\n%s", b.at, b.output())
	}
}

// TestReadmeBlocks checks the README parsing the walk relies on.
func TestReadmeBlocks(t *testing.T) {
	got := readmeBlocks("text\n```sh\nexport A=1 B=2   # two\n# only a comment\ncmd --x 'a # b' \\\n  --y   # c\n```\n```\nnot sh\n```\n")
	want := []string{"export A=1 B=2", "cmd --x 'a # b' --y"}
	if len(got) != 1 || got[0].Line != 2 || strings.Join(got[0].Commands, "|") != strings.Join(want, "|") {
		b, _ := json.Marshal(got)
		t.Errorf("blocks %s", b)
	}
}
