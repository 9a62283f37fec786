# The one entry point. `make demo` runs the main job, `make test` passes every test.
# Everything installs through the project's own files (cargo fetches crates from the registry).

CARGO ?= cargo
TARGET := target/debug
RUST_TESTEE := rust=$(TARGET)/zerobus-testee-rust

.PHONY: all build demo test fmt fmt-check clippy unit conformance compat clean

all: build

build:
	$(CARGO) build --workspace --bins

## demo: start `zerobus serve`, ingest 100,000 generated records, show what the server holds.
demo:
	$(CARGO) build -p zerobus-cli
	bash scripts/demo.sh $(TARGET)/zerobus

## test: formatting, lints as errors, every unit/integration test, and the conformance matrix.
test: fmt-check clippy unit conformance

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

## conformance: every case × every testee built so far; prints the matrix.
conformance:
	$(CARGO) build -p zerobus-conformance -p zerobus-testee-rust
	$(TARGET)/conformance --testee $(RUST_TESTEE)

clean:
	$(CARGO) clean
