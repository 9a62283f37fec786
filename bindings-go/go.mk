# Go binding (bindings-go/): included by the root Makefile. Paths are relative to the repo root.
GO ?= go
CARGO ?= cargo
GO_TESTEE := target/go/zerobus-testee-go
GO_BENCH := target/go/zerobus-bench-go
# GOEXPERIMENT=cgocheck2 exists since go1.21; older toolchains skip that run.
GO_CGOCHECK2 := $(shell $(GO) env GOVERSION 2>/dev/null | awk -F'[o.]' '{ if ($$2 > 1 || ($$2 == 1 && $$3 >= 21)) print "yes" }')

.PHONY: go-lib go-testee go-test go-example go-bench

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

## go-bench: the bench/DRIVER.md driver, linked against target/release/libzerobus.a (build tag
## zerobus_release). go build does not track the C library, so the library's mtime goes into the
## link (-X main.nativeLib): a rebuilt library relinks the driver.
go-bench: ffi-release
	mkdir -p target/go
	cd bindings-go && $(GO) build -tags zerobus_release \
		-ldflags "-X main.nativeLib=$$(stat -c %Y ../target/release/libzerobus.a)" \
		-o ../$(GO_BENCH) ./cmd/zerobus-bench-go

BENCH_ARGS += --surface go=$(GO_BENCH)
BENCH_PREREQS += go-bench
