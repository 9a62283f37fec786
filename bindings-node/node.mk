# Node binding (bindings-node/): a make fragment the root Makefile includes. Paths are relative
# to the repository root. Standalone: make -f bindings-node/node.mk node-test
#
#   node-build  npm ci (when node_modules is missing or package-lock.json changed), then cargo
#               builds the addon (debug) and copies it to bindings-node/zerobus.node
#   node-dts    the napi CLI's build, which also writes native.d.ts (the generated declarations
#               the reviewed index.d.ts is checked against by hand; nothing reads it at run time)
#   node-test   the binding's tests (node --test) against `zerobus serve`
#   node-bench-build      the release addon for benchmarks, in target/node-release (the debug
#                         bindings-node/zerobus.node stays as it is); bench/driver.mjs loads it
#   node-bench-published  npm ci in bench/published: the published addon, for its driver

NODE_DIR := bindings-node
NPM ?= npm
NODE ?= node

.PHONY: node-build node-dts node-test node-bench-build node-bench-published

# npm ci writes node_modules/.package-lock.json, so it reruns only when the lock file is newer.
$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package-lock.json $(NODE_DIR)/package.json
	cd $(NODE_DIR) && $(NPM) ci --no-audit --no-fund
	@touch $@

# Plain cargo, not `napi build`: the napi CLI always passes --target, which puts the build in
# target/<triple>/ and compiled tokio, tonic and the core a second time (five minutes of CI).
# The addon is the crate's cdylib under the name Node loads.
NODE_DYLIB := $(if $(filter Darwin,$(shell uname -s)),libzerobus_node.dylib,libzerobus_node.so)

node-build: $(NODE_DIR)/node_modules/.package-lock.json
	cargo build -p zerobus-node
	cp target/debug/$(NODE_DYLIB) $(NODE_DIR)/zerobus.node

node-dts: $(NODE_DIR)/node_modules/.package-lock.json
	cd $(NODE_DIR) && ./node_modules/.bin/napi build --dts native.d.ts

node-test: node-build
	cargo build -p zerobus-cli
	cd $(NODE_DIR) && $(NODE) --test test/*.test.mjs

CONFORMANCE_ARGS += --testee "node=node conformance/testees/node/testee.mjs"
CONFORMANCE_PREREQS += node-build
TEST_PREREQS += node-test

## node-bench-build: release addon for bench/driver.mjs, copied to target/node-release so the
## debug bindings-node/zerobus.node that node-test uses stays as it is.
## Its npm ci also installs apache-arrow (a dev dependency), which --format taxi-arrow reads the
## pool with.
node-bench-build: $(NODE_DIR)/node_modules/.package-lock.json
	cargo build --release -p zerobus-node
	mkdir -p target/node-release
	cp target/release/$(NODE_DYLIB) target/node-release/zerobus.node

$(NODE_DIR)/bench/published/node_modules/.package-lock.json: $(NODE_DIR)/bench/published/package-lock.json $(NODE_DIR)/bench/published/package.json
	cd $(NODE_DIR)/bench/published && $(NPM) ci --no-audit --no-fund
	@touch $@

## node-bench-published: the published SDK's addon for bench/published/driver.mjs.
node-bench-published: $(NODE_DIR)/bench/published/node_modules/.package-lock.json

BENCH_ARGS += --surface "node=node bindings-node/bench/driver.mjs"
BENCH_ARGS += --surface "published-node=node bindings-node/bench/published/driver.mjs"
BENCH_PREREQS += node-bench-build node-bench-published
