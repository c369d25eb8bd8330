# refersion-relay — see README.md for what each target does.
GO        ?= go
BIN       ?= bin/refersion-relay
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 10m
BENCH_COUNT ?= 3
STATICCHECK_VERSION ?= v0.8.2

.PHONY: build run image test lint bench chaos fuzz tools deps rules docs

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/refersion-relay

run:
	$(GO) run ./cmd/refersion-relay demo

# image builds the container image (needs a Docker engine).
image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t refersion-relay:$(VERSION) .

tools:
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd deploy && $(GO) vet ./...
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...
	cd deploy && PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

# deps installs what the tests need beyond Go: redis-server, which the redis
# backend's tests start for themselves, and promtool, which checks the alert
# rules.
deps:
	bash .ci/ensure-redis.sh
	bash .ci/ensure-promtool.sh

# rules checks the Prometheus alert rules and runs their unit tests.
rules: deps
	promtool check rules deploy/observability/alerts.yml
	promtool test rules deploy/observability/alerts_test.yml

test: deps lint rules
	$(GO) test -race -count=1 ./...
	cd deploy && $(GO) test -count=1 ./...

# bench runs the benchmarks several times and writes BENCHMARKS.md (minutes).
bench: deps
	$(GO) run ./internal/benchreport -count $(BENCH_COUNT) -o BENCHMARKS.md

# chaos runs the full reliability matrix and writes RELIABILITY.md (minutes).
chaos: deps
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
