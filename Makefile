# The one entry point. `make demo` runs the main job, `make test` passes every test.
# Everything installs through the project's own files (cargo, npm and go fetch from registries).

CARGO ?= cargo
TARGET := target/debug
TARGET_RELEASE := target/release

# The conformance matrix: one `--testee name=command` per binding. Each binding's fragment
# (ffi-c/*.mk, bindings-*/*.mk) appends its testee here, the targets that build it to
# CONFORMANCE_PREREQS, and its own test targets to TEST_PREREQS.
CONFORMANCE_ARGS := --testee rust=$(TARGET)/zerobus-testee-rust
CONFORMANCE_PREREQS := rust-testee
TEST_PREREQS :=

# The benchmark: one `--surface name=command` per surface (see bench/DRIVER.md). Fragments append
# their driver here and the targets that build it (release) to BENCH_PREREQS.
# `raw` (plain tonic, the ceiling) and the published crate come first: every row is read against them.
BENCH_ARGS := --surface raw=target/release/zerobus-bench-raw \
	--surface published=target/release/zerobus-bench-published \
	--surface "published-inflight-100=target/release/zerobus-bench-published --max-inflight-requests 100" \
	--surface "published-inflight-1000=target/release/zerobus-bench-published --max-inflight-requests 1000" \
	--surface rust=target/release/zerobus-bench-core
BENCH_PREREQS := bench-rust

.PHONY: all build demo bench-local test fmt fmt-check clippy unit conformance chaos chaos-slice rust-testee bench bench-rust clean

all: build

build:
	$(CARGO) build --workspace --bins

## bench-local: the local Zerobus's durable path (serve --data-dir, release): JSON and taxi Arrow
## rates into Delta, and the ack latency with the log synced (scripts/bench_local.sh).
bench-local:
	$(CARGO) build --release -p zerobus-cli -p zerobus-bench
	bash scripts/bench_local.sh $(TARGET_RELEASE)

## demo: a local Zerobus writing Delta tables (`zerobus serve --data-dir`), trips ingested as JSON,
## typed PROTO and Arrow (CLI) and as a pyarrow Table (Python binding), the table shown and read
## back with the `deltalake` package. The Python binding and deltalake come from the test venv.
demo: python-build
	$(CARGO) build -p zerobus-cli
	bash scripts/demo.sh $(TARGET)/zerobus $(PY)

include $(sort $(wildcard ffi-c/*.mk bindings-*/*.mk))

## test: formatting, lints as errors, every test of every surface, the conformance matrix, and a
## slice of the chaos runs.
test: fmt-check clippy unit $(TEST_PREREQS) conformance chaos-slice

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

rust-testee:
	$(CARGO) build -p zerobus-conformance -p zerobus-testee-rust

## conformance: every case × every testee built so far; prints the matrix. CONFORMANCE_JOBS cases
## run at a time, each lane against its own mock server.
CONFORMANCE_JOBS ?= 3
conformance: $(CONFORMANCE_PREREQS)
	$(TARGET)/conformance --jobs $(CONFORMANCE_JOBS) $(CONFORMANCE_ARGS)

## chaos: every testee through the fault proxy (resets, outages); the mock's ledger proves that no
## acknowledged record is missing. Prints a row per run; fails on a missing acked record, a hang,
## a client that gave up, or faults that did not happen. A few minutes.
chaos: $(CONFORMANCE_PREREQS)
	$(TARGET)/chaos $(CONFORMANCE_ARGS)

## chaos-slice: a few seconds of the same per testee (part of `make test`).
chaos-slice: $(CONFORMANCE_PREREQS)
	$(TARGET)/chaos --slice $(CONFORMANCE_ARGS)

## bench: every surface and the published SDK against one release `zerobus serve`, same run;
## writes BENCHMARKS.md. Release builds; about a quarter of an hour (each figure is the median of
## BENCH_ROUNDS runs, five for the cases the targets read).
BENCH_ROUNDS ?= 2
bench: $(BENCH_PREREQS)
	target/release/zerobus-bench $(BENCH_ARGS) --rounds $(BENCH_ROUNDS) --out BENCHMARKS.md

bench-rust:
	$(CARGO) build --release -p zerobus-cli -p zerobus-bench -p zerobus-compat --bins

clean:
	$(CARGO) clean
