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
