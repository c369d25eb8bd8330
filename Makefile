# refersion-relay — see README.md for what each target does.
GO        ?= go
BIN       ?= bin/refersion-relay
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# TAGS=nodev builds the binary without the development commands (demo,
# sandbox, gen, broker), as the container image does.
TAGS      ?=
FUZZTIME  ?= 10m
BENCH_COUNT ?= 3
STATICCHECK_VERSION ?= v0.8.2

.PHONY: build build-note run image test test-short lint bench chaos fuzz tools deps deps-redis deps-promtool deps-chromium rules docs

# build writes bin/refersion-relay, the binary the README's examples run.
build: build-note
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/refersion-relay

build-note:
	@echo "building $(BIN): the first build compiles every dependency (1-3 minutes on 2 cores); later builds take seconds"

# run builds bin/refersion-relay, then runs the demo with it.
run: build
	$(BIN) demo

# image builds the container image (needs a Docker engine).
image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t refersion-relay:$(VERSION) .

# tools installs staticcheck into $(go env GOPATH)/bin when it is neither on
# PATH nor there; go install builds it from source (about 5 minutes on 2
# cores, once).
tools:
	@command -v staticcheck >/dev/null 2>&1 || test -x "$$($(GO) env GOPATH)/bin/staticcheck" || { \
		echo "installing staticcheck $(STATICCHECK_VERSION) into $$($(GO) env GOPATH)/bin: built from source, about 5 minutes the first time"; \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); }

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags nodev ./cmd/refersion-relay
	cd deploy && $(GO) vet ./...
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...
	cd deploy && PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

# deps installs what the tests need beyond Go, once: redis-server, which the
# redis backend's tests start for themselves, promtool, which checks the
# alert rules, and Chromium, which the console's browser test drives headless.
# Each script does nothing when its tool is there.
deps: deps-redis deps-promtool deps-chromium

deps-redis:
	@bash .ci/ensure-redis.sh

deps-promtool:
	@bash .ci/ensure-promtool.sh

deps-chromium:
	@bash .ci/ensure-chromium.sh

# rules checks the Prometheus alert rules and runs their unit tests.
rules: deps-promtool
	promtool check rules deploy/observability/alerts.yml
	promtool test rules deploy/observability/alerts_test.yml

# test-short is the quick loop: unit tests, no end-to-end, chaos or browser
# suites, no installs.
test-short:
	$(GO) test -short -count=1 ./...

test: deps lint rules
	$(GO) test -race -count=1 ./...
	cd deploy && $(GO) test -count=1 ./...

# bench runs the benchmarks several times and writes BENCHMARKS.md (minutes).
bench: deps-redis
	$(GO) run ./internal/benchreport -count $(BENCH_COUNT) -o BENCHMARKS.md

# chaos runs the full reliability matrix and writes RELIABILITY.md (minutes).
chaos: deps-redis
	$(GO) test ./chaos -count=1 -timeout 60m -run TestChaos -v -args -chaos.full -chaos.report $(CURDIR)/RELIABILITY.md

fuzz:
	$(GO) test ./mapping -run '^$$' -fuzz FuzzMap -fuzztime $(FUZZTIME)

# docs rewrites README.md's configuration table (between the config:begin and
# config:end markers) from the config package's struct tags.
.PHONY: docs
docs:
	$(GO) run ./cmd/refersion-relay config --markdown > README.config.tmp || { rm -f README.config.tmp; exit 1; }
	awk 'FNR == NR { table = table $$0 "\n"; next } /^<!-- config:end -->/ { printf "%s", table; skip = 0 } !skip { print } /^<!-- config:begin -->/ { skip = 1 }' README.config.tmp README.md > README.md.tmp
	mv README.md.tmp README.md
	rm -f README.config.tmp
