# Two commands matter on a fresh machine: `make run` and `make test`.
export PATH := /usr/local/go/bin:$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILD_DATE ?= $(shell date -u -d @$$(git log -1 --format=%ct 2>/dev/null || date +%s) +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.buildDate=$(BUILD_DATE)
GO      ?= go

# WASM probes (docs/PROBES.md). The bundle of built-in probes goes where
# core/builtinwasm embeds it into bin/barbossa; every probe and example is
# also built alone into bin/wasm, for drop-ins and `barbossa probe test`.
BUILTIN_WASM := core/builtinwasm/wasm/builtin.wasm
WASM_SRC     := go.mod $(shell find sdk internal/abi internal/wasmdata scripts/wasmdata plugins examples -name '*.go' -not -name '*_test.go' 2>/dev/null)
WASM_PROBES  := $(patsubst plugins/%/cmd,bin/wasm/%.wasm,$(wildcard plugins/*/cmd)) \
                $(patsubst examples/%/cmd,bin/wasm/%.wasm,$(wildcard examples/*/cmd)) \
                $(patsubst examples/wat/%.wat,bin/wasm/%.wasm,$(wildcard examples/wat/*.wat))
GO_WASM      := GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared

# Native plugin probes (docs/PLUGINS.md): every plugins/*/cmd and
# examples/*/cmd whose build constraints allow this OS (a WASM-only probe's
# cmd says //go:build wasip1), each a go-plugin binary at bin/plugins/<name>.
NATIVE_CMDS = $(shell $(GO) list -e -f '{{if .GoFiles}}{{.Dir}}{{end}}' ./plugins/*/cmd ./examples/*/cmd 2>/dev/null)

.PHONY: all build run test test-deps vet bench footprint clean wasm plugins package

all: build

build: bin/barbossa plugins

bin/barbossa: $(BUILTIN_WASM) FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/barbossa

plugins:
	@mkdir -p bin/plugins
	@for d in $(NATIVE_CMDS); do \
		n=$$(basename $$(dirname $$d)); \
		echo "go build -o bin/plugins/$$n $$d"; \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/plugins/$$n $$d || exit 1; \
	done

run: build
	./bin/barbossa run --config barbossa.toml

wasm: $(BUILTIN_WASM) $(WASM_PROBES)

# wasmdata merges a Go guest's ~40,000 data segments into a few (smaller
# in the agent's memory, cheaper to instantiate: docs/PERFORMANCE.md).
$(BUILTIN_WASM): $(WASM_SRC)
	$(GO_WASM) -o $@ ./plugins/bundle
	$(GO) run ./scripts/wasmdata $@

# The WAT example needs wat2wasm (Debian: wabt; make test-deps installs it).
# This rule comes before the Go one: make tries pattern rules in order.
bin/wasm/%.wasm: examples/wat/%.wat
	@mkdir -p bin/wasm
	@if command -v wat2wasm >/dev/null; then echo "wat2wasm $< -o $@"; wat2wasm $< -o $@; \
	else echo "wat2wasm not found (apt-get install wabt): $@ not built"; fi

bin/wasm/%.wasm: $(WASM_SRC)
	@mkdir -p bin/wasm
	$(GO_WASM) -o $@ ./$(firstword $(wildcard plugins/$*/cmd examples/$*/cmd))
	$(GO) run ./scripts/wasmdata $@

# The .deb, the .rpm and the container image's context, into bin/pkg
# (packaging/package.sh; docs/DEPLOY.md). GOARCH=arm64 for another arch.
package: $(BUILTIN_WASM)
	bash packaging/package.sh bin/pkg $(VERSION)

# Installs what the tests need (Debian packages, Go modules), builds the WASM
# probes some tests load, then runs them all.
test: test-deps vet wasm
	$(GO) test -race -count=1 -timeout 40m ./...

test-deps:
	bash scripts/test-deps.sh
	$(GO) mod download
	$(GO) -C packaging/tools mod download

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "not gofmt'ed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags footprint ./scripts/footprint

# Benchmarks quoted in docs/PERFORMANCE.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.out

# What the agent costs its host (docs/PERFORMANCE.md): RSS, peak RSS, idle
# CPU, status throughput, start-up; medians of agents run side by side.
# ARGS are passed on: make footprint ARGS='-minutes 2 -runs 1'
footprint:
	bash scripts/footprint.sh $(ARGS)

clean:
	rm -rf bin bench.out $(BUILTIN_WASM)

FORCE:
