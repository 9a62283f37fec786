# Go binding (bindings-go/): included by the root Makefile. Paths are relative to the repo root.
GO ?= go
CARGO ?= cargo
GO_TESTEE := target/go/zerobus-testee-go
# GOEXPERIMENT=cgocheck2 exists since go1.21; older toolchains skip that run.
GO_CGOCHECK2 := $(shell $(GO) env GOVERSION 2>/dev/null | awk -F'[o.]' '{ if ($$2 > 1 || ($$2 == 1 && $$3 >= 21)) print "yes" }')

.PHONY: go-lib go-testee go-test go-example

## go-lib: the static C library the Go module links (target/debug/libzerobus.a).
go-lib:
	$(CARGO) build -p zerobus-ffi

## go-testee: the Go conformance testee.
go-testee: go-lib
	mkdir -p target/go
	cd bindings-go && $(GO) build -o ../$(GO_TESTEE) ./cmd/conformance-testee

## go-test: vet, unit + integration tests under the race detector, then under cgocheck2.
## The integration tests drive `zerobus serve`, so the CLI is built first.
go-test: go-lib
	$(CARGO) build -p zerobus-cli
	@cd bindings-go && unformatted="$$(gofmt -l .)" && if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted" >&2; exit 1; fi
	cd bindings-go && $(GO) vet ./...
	cd bindings-go && $(GO) test -race -count=1 ./...
ifeq ($(GO_CGOCHECK2),yes)
	cd bindings-go && GOEXPERIMENT=cgocheck2 $(GO) test -count=1 ./...
endif

CONFORMANCE_ARGS += --testee go=$(GO_TESTEE)
CONFORMANCE_PREREQS += go-testee
TEST_PREREQS += go-test
