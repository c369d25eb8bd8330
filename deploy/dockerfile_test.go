package deploy_test

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"go/version"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	dockerfile   = "Dockerfile"
	dockerignore = "Dockerfile.dockerignore"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is one FROM and the instructions under it.
type stage struct {
	from, name string
	body       []instruction
}

// parseDockerfile splits a Dockerfile into its global ARGs and its stages.
// It knows what deploy/Dockerfile uses: comments, parser directives,
// backslash continuations (comment lines inside them are dropped, as Docker
// does), and `FROM image AS name`.
func parseDockerfile(t *testing.T, text string) (global []instruction, stages []stage) {
	t.Helper()
	var cur *instruction
	var all []instruction
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur == nil) {
			continue
		}
		if cur == nil {
			cmd, args, _ := strings.Cut(trimmed, " ")
			cur = &instruction{line: i + 1, cmd: strings.ToUpper(cmd)}
			trimmed = strings.TrimSpace(args)
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.args += s + " "
			continue
		}
		cur.args = strings.TrimSpace(cur.args + trimmed)
		all = append(all, *cur)
		cur = nil
	}
	if cur != nil {
		t.Fatalf("%s:%d: continuation at the end of the file", dockerfile, cur.line)
	}
	for _, in := range all {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", dockerfile, in.line, in.cmd)
			}
			global = append(global, in)
			continue
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	if len(stages) < 2 {
		t.Fatalf("%s: want a build stage and a runtime stage, found %d stages", dockerfile, len(stages))
	}
	return global, stages
}

// flags splits leading --flag[=value] words (RUN --mount=..., COPY
// --from=...) from the rest of an instruction.
func flags(args string) (map[string]string, string) {
	f := map[string]string{}
	for strings.HasPrefix(args, "--") {
		word, rest, _ := strings.Cut(args, " ")
		k, v, _ := strings.Cut(strings.TrimPrefix(word, "--"), "=")
		f[k] = v
		args = strings.TrimSpace(rest)
	}
	return f, args
}

// execForm reads a JSON-array instruction argument (ENTRYPOINT, CMD).
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Fatalf("%s:%d: %s must use the exec (JSON array) form, so that SIGTERM reaches the relay: %v", dockerfile, in.line, in.cmd, err)
	}
	return v
}

// ignoreRules reads the .dockerignore patterns. Only the syntax Docker and
// this matcher agree on is accepted: plain paths, * and ? within a path
// element, and a leading **/ for any depth.
type ignoreRule struct {
	pattern string
	negate  bool
}

func readIgnore(t *testing.T) []ignoreRule {
	t.Helper()
	b, err := os.ReadFile(dockerignore)
	if err != nil {
		t.Fatal(err)
	}
	var rules []ignoreRule
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if p, ok := strings.CutPrefix(line, "!"); ok {
			r.negate, line = true, p
		}
		r.pattern = path.Clean(strings.TrimPrefix(line, "/"))
		if strings.Contains(strings.TrimPrefix(r.pattern, "**/"), "**") || strings.ContainsAny(r.pattern, "[\\") {
			t.Fatalf("%s: pattern %q uses syntax this test does not model; keep to *, ? and a leading **/", dockerignore, line)
		}
		rules = append(rules, r)
	}
	return rules
}

// ignored reports whether rel (slash-separated, relative to the context)
// is left out of the build context: the last matching rule wins, and a
// pattern matching a directory matches everything in it.
func ignored(rules []ignoreRule, rel string) bool {
	match := func(pattern, p string) bool {
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			for {
				if m, _ := path.Match(rest, p); m {
					return true
				}
				_, after, found := strings.Cut(p, "/")
				if !found {
					return false
				}
				p = after
			}
		}
		m, _ := path.Match(pattern, p)
		return m
	}
	out := false
	for _, r := range rules {
		for p := rel; p != "."; p = path.Dir(p) {
			if match(r.pattern, p) {
				out = !r.negate
				break
			}
		}
	}
	return out
}

// copyContext copies src (relative to the context root) to dst as COPY
// would: a directory's contents, an ignored path never.
func copyContext(t *testing.T, root string, rules []ignoreRule, src, dst string, dstIsDir bool) {
	t.Helper()
	src = path.Clean(src)
	base := filepath.Join(root, filepath.FromSlash(src))
	info, err := os.Stat(base)
	if err != nil || (src != "." && ignored(rules, src)) {
		t.Fatalf("%s: COPY %s: not in the build context (%v)", dockerfile, src, err)
	}
	if !info.IsDir() {
		if dstIsDir {
			dst = filepath.Join(dst, filepath.Base(base))
		}
		copyFile(t, base, dst, info.Mode())
		return
	}
	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel != "." && ignored(rules, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		within, _ := filepath.Rel(base, p)
		target := filepath.Join(dst, within)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			copyFile(t, p, target, fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDockerfile runs the build stage of deploy/Dockerfile as a shell
// script, without Docker: a temporary directory stands for the stage's root
// filesystem, COPY copies from the repository (minus what the
// .dockerignore leaves out) and each RUN runs under /bin/sh in the WORKDIR,
// with the stage's ARG and ENV values. It then checks the binary the
// runtime stage copies out: it exists, it is static (the runtime image has
// no libc) and `version` prints the VERSION build argument. Finally it
// checks the runtime stage: a minimal base, a non-root user, the exec form,
// the admin port.
func TestDockerfile(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command in PATH:", err)
	}
	text, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	global, stages := parseDockerfile(t, string(text))
	build, runtime := stages[0], stages[len(stages)-1]
	if build.name == "" {
		t.Fatalf("%s: the first stage needs a name (FROM image AS build)", dockerfile)
	}
	root := repoRoot(t)
	vars := configVars(t)

	// The Go image is at least the version go.mod asks for.
	args := map[string]string{}
	for _, in := range global {
		k, v, _ := strings.Cut(in.args, "=")
		args[k] = v
	}
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(goMod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	image := os.Expand(build.from, func(k string) string { return args[k] })
	tag, ok := strings.CutPrefix(image, "golang:")
	tag, _, _ = strings.Cut(tag, "-")
	if !ok || !version.IsValid("go"+tag) || version.Compare("go"+tag, "go"+string(m[1])) < 0 {
		t.Errorf("%s: build stage image %s, want golang at least %s (go.mod's go line)", dockerfile, image, m[1])
	}

	// Run the build stage.
	const testVersion = "v0.0.0-deploy-test"
	fsRoot := t.TempDir()
	rules := readIgnore(t)
	env := map[string]string{}
	overrides := map[string]string{"VERSION": testVersion}
	workdir := fsRoot
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	ran := 0
	for _, in := range build.body {
		at := fmt.Sprintf("%s:%d", dockerfile, in.line)
		switch in.cmd {
		case "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			if o, ok := overrides[k]; ok {
				v = o
			} else if g, ok := args[k]; ok && v == "" {
				v = g
			}
			env[k] = v
		case "ENV":
			k, v, ok := strings.Cut(in.args, "=")
			if !ok {
				k, v, _ = strings.Cut(in.args, " ")
			}
			env[k] = strings.Trim(strings.TrimSpace(v), `"`)
		case "WORKDIR":
			if !path.IsAbs(in.args) {
				t.Fatalf("%s: WORKDIR %s: use an absolute path", at, in.args)
			}
			workdir = filepath.Join(fsRoot, filepath.FromSlash(in.args))
			if err := os.MkdirAll(workdir, 0o755); err != nil {
				t.Fatal(err)
			}
		case "COPY":
			f, rest := flags(in.args)
			if len(f) != 0 {
				t.Fatalf("%s: COPY with flags %v in the build stage is not modelled", at, f)
			}
			words := strings.Fields(rest)
			if len(words) < 2 {
				t.Fatalf("%s: COPY needs a source and a destination", at)
			}
			dst := words[len(words)-1]
			dstIsDir := strings.HasSuffix(dst, "/") || dst == "." || len(words) > 2
			target := filepath.Join(workdir, filepath.FromSlash(dst))
			if path.IsAbs(dst) {
				target = filepath.Join(fsRoot, filepath.FromSlash(dst))
			}
			for _, src := range words[:len(words)-1] {
				copyContext(t, root, rules, src, target, dstIsDir)
			}
		case "RUN":
			_, script := flags(in.args)
			cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
			cmd.Dir = workdir
			cmd.Env = os.Environ()
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: RUN %s\n%s: %v", at, script, out, err)
			}
			t.Logf("%s: RUN %s\n%s", at, script, out)
			ran++
		case "LABEL":
		default:
			t.Fatalf("%s: %s in the build stage is not modelled by this test", at, in.cmd)
		}
	}
	if ran == 0 {
		t.Fatalf("%s: the build stage runs nothing", dockerfile)
	}

	// The runtime stage copies the binary out of the build stage.
	var binary, installed string
	var user, entrypoint, cmdArgs []string
	var exposed []string
	for _, in := range runtime.body {
		switch in.cmd {
		case "COPY":
			f, rest := flags(in.args)
			words := strings.Fields(rest)
			if f["from"] != build.name || len(words) != 2 {
				t.Fatalf("%s:%d: the runtime stage copies only the binary from %s", dockerfile, in.line, build.name)
			}
			binary = filepath.Join(fsRoot, filepath.FromSlash(words[0]))
			installed = words[1]
		case "USER":
			user = strings.Split(in.args, ":")
		case "ENTRYPOINT":
			entrypoint = execForm(t, in)
		case "CMD":
			cmdArgs = execForm(t, in)
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		}
	}
	if binary == "" {
		t.Fatalf("%s: the runtime stage copies no binary from %s", dockerfile, build.name)
	}
	checkStatic(t, binary)
	out, err := exec.CommandContext(ctx, binary, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", binary, err)
	}
	if got, want := strings.TrimSpace(string(out)), "refersion-relay "+testVersion; got != want {
		t.Errorf("the built binary's version prints %q, want %q: the VERSION build argument is not stamped", got, want)
	}

	if !strings.HasPrefix(runtime.from, "gcr.io/distroless/static") && runtime.from != "scratch" {
		t.Errorf("%s: runtime image %s, want distroless static or scratch", dockerfile, runtime.from)
	}
	if len(user) == 0 {
		t.Errorf("%s: the runtime stage sets no USER", dockerfile)
	} else if uid, err := strconv.Atoi(user[0]); err != nil || uid == 0 {
		// Numeric, so that Kubernetes' runAsNonRoot can verify it.
		t.Errorf("%s: USER %s, want a numeric non-root uid", dockerfile, strings.Join(user, ":"))
	}
	if len(entrypoint) != 1 || entrypoint[0] != installed {
		t.Errorf("%s: ENTRYPOINT %v, want [%q] (the copied binary)", dockerfile, entrypoint, installed)
	}
	if len(cmdArgs) != 1 || cmdArgs[0] != "run" {
		t.Errorf("%s: CMD %v, want [\"run\"]", dockerfile, cmdArgs)
	}
	admin := strconv.Itoa(adminPort(t, vars))
	if len(exposed) != 1 || strings.TrimSuffix(exposed[0], "/tcp") != admin {
		t.Errorf("%s: EXPOSE %v, want the admin port %s (ADMIN_ADDR's default)", dockerfile, exposed, admin)
	}
}

// checkStatic fails unless the ELF file at p is statically linked: no
// program interpreter and no shared libraries.
func checkStatic(t *testing.T, p string) {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatalf("the built binary: %v", err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (has an interpreter); the runtime image has no libc", p)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Errorf("%s links shared libraries %v (%v); the runtime image has none", p, libs, err)
	}
}

// TestDockerignore checks the matcher TestDockerfile copies the context
// with, on the rules deploy/Dockerfile.dockerignore holds.
func TestDockerignore(t *testing.T) {
	rules := readIgnore(t)
	for p, want := range map[string]bool{
		".git/config":                true,
		"bin/refersion-relay":        true,
		"mapping.test":               true,
		"pipeline/pipeline.test":     true,
		"x.ndjson":                   true,
		"deploy/Dockerfile":          true,
		"refersion-relay":            true,
		"go.mod":                     false,
		"cmd/refersion-relay/run.go": false,
		"mapping/testdata/fuzz/x":    false,
	} {
		if got := ignored(rules, p); got != want {
			t.Errorf("ignored(%s) = %v, want %v", p, got, want)
		}
	}
}
