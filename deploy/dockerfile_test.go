package deploy_test

import (
	"go/version"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDockerfile checks deploy/Dockerfile's text against the repository:
// it builds ./cmd/refersion-relay with the flags of `make build`, from a Go
// image at least go.mod's version, and exposes ADMIN_ADDR's default port.
func TestDockerfile(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	docker, makefile, goMod := read("Dockerfile"), read("../Makefile"), read("../go.mod")
	submatch := func(text, what, re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("%s: no match for %s", what, re)
		}
		return m[1]
	}

	// The build recipe's words, less what differs by design (the go command
	// and the output path), must be words of the Dockerfile; its -ldflags
	// the Makefile's LDFLAGS, with the VERSION build argument.
	recipe := strings.Fields(submatch(makefile, "Makefile", `(?m)^build:.*\n\t(.+)`))
	words := strings.Fields(docker)
	for i, w := range recipe {
		if strings.Contains(w, "$(") || w == "-o" || (i > 0 && recipe[i-1] == "-o") {
			continue
		}
		if !slices.Contains(words, w) {
			t.Errorf("Dockerfile: the build stage lacks %q of `make build` (%s)", w, strings.Join(recipe, " "))
		}
	}
	ldflags := strings.ReplaceAll(strings.TrimSpace(submatch(makefile, "Makefile", `(?m)^LDFLAGS\s*:?=(.*)$`)), "$(VERSION)", "${VERSION}")
	if !strings.Contains(docker, `-ldflags "`+ldflags+`"`) {
		t.Errorf("Dockerfile: want -ldflags %q, the Makefile's LDFLAGS", ldflags)
	}

	goVersion := submatch(goMod, "go.mod", `(?m)^go (\S+)$`)
	image := submatch(docker, "Dockerfile", `(?m)^ARG GO_VERSION=(\S+)$`)
	if version.Compare("go"+image, "go"+goVersion) < 0 {
		t.Errorf("Dockerfile: GO_VERSION %s is older than go.mod's go %s", image, goVersion)
	}

	admin := strconv.Itoa(adminPort(t, configVars(t)))
	if got := submatch(docker, "Dockerfile", `(?m)^EXPOSE (\d+)`); got != admin {
		t.Errorf("Dockerfile: EXPOSE %s, but ADMIN_ADDR's default port is %s", got, admin)
	}
}

// TestDockerfileStages: the default image (the last stage) holds the
// service's binary, built with -tags nodev (no demo, sandbox, gen or broker,
// nor the embedded Kafka broker); the dev target holds the full binary,
// which the Compose stack's sandbox and generator run.
func TestDockerfileStages(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]string{} // name → its text
	var order []string
	for _, part := range regexp.MustCompile(`(?m)^FROM `).Split(string(b), -1)[1:] {
		name := "final"
		if m := regexp.MustCompile(`^\S+ AS (\S+)`).FindStringSubmatch(part); m != nil {
			name = m[1]
		}
		stages[name] = part
		order = append(order, name)
	}
	// buildOf is the go build line of the stage image copies its binary from.
	buildOf := func(image string) string {
		m := regexp.MustCompile(`COPY --from=(\S+) `).FindStringSubmatch(stages[image])
		if m == nil {
			t.Fatalf("Dockerfile: stage %s copies no binary from a build stage", image)
		}
		line := regexp.MustCompile(`go build [^\n]*`).FindString(stages[m[1]])
		if line == "" {
			t.Fatalf("Dockerfile: stage %s builds nothing", m[1])
		}
		return line
	}
	if last := order[len(order)-1]; last != "final" {
		t.Fatalf("Dockerfile: the last stage is named %s; the default image should be the service's", last)
	}
	if !strings.Contains(buildOf("final"), "-tags nodev ") {
		t.Error("Dockerfile: the default image's binary is not built with -tags nodev")
	}
	if _, ok := stages["dev"]; !ok {
		t.Fatal("Dockerfile: no dev stage (the full binary, for the Compose stack's sandbox and gen)")
	}
	if dev := buildOf("dev"); strings.Contains(dev, "nodev") {
		t.Error("Dockerfile: the dev image's binary is not the full one")
	}
}
