# Two commands matter on a fresh machine: `make run` and `make test`.
export PATH := /usr/local/go/bin:$(PATH)
export GOFLAGS ?= -mod=mod

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO      ?= go

.PHONY: all build run test test-deps vet bench clean

all: build

build: bin/barbossa

bin/barbossa: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/barbossa

run: build
	./bin/barbossa run --config barbossa.toml

# Installs what the tests need (Debian packages, Go modules), then runs them all.
test: test-deps vet
	$(GO) test -count=1 -timeout 40m ./...

test-deps:
	bash scripts/test-deps.sh
	$(GO) mod download

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "not gofmt'ed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# Benchmarks quoted in docs/PERFORMANCE.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.out

clean:
	rm -rf bin bench.out

FORCE:
