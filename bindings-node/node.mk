# Node binding (bindings-node/): a make fragment the root Makefile includes. Paths are relative
# to the repository root. Standalone: make -f bindings-node/node.mk node-test
#
#   node-build  npm ci (when node_modules is missing or package-lock.json changed), then the napi
#               CLI builds the addon (debug) into bindings-node/zerobus.node
#   node-test   the binding's tests (node --test) against `zerobus serve`
#   node-bench-build      the release addon for benchmarks, in target/node-release (the debug
#                         bindings-node/zerobus.node stays as it is); bench/driver.mjs loads it
#   node-bench-published  npm ci in bench/published: the published addon, for its driver

NODE_DIR := bindings-node
NPM ?= npm
NODE ?= node

.PHONY: node-build node-test node-bench-build node-bench-published

# npm ci writes node_modules/.package-lock.json, so it reruns only when the lock file is newer.
$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package-lock.json $(NODE_DIR)/package.json
	cd $(NODE_DIR) && $(NPM) ci --no-audit --no-fund
	@touch $@

node-build: $(NODE_DIR)/node_modules/.package-lock.json
	cd $(NODE_DIR) && ./node_modules/.bin/napi build --dts native.d.ts

node-test: node-build
	cargo build -p zerobus-cli
	cd $(NODE_DIR) && $(NODE) --test test/*.test.mjs

CONFORMANCE_ARGS += --testee "node=node conformance/testees/node/testee.mjs"
CONFORMANCE_PREREQS += node-build
TEST_PREREQS += node-test

## node-bench-build: release addon for bench/driver.mjs. --output-dir keeps it (and its generated
## native.d.ts) out of the package directory that node-test uses.
## Its npm ci also installs apache-arrow (a dev dependency), which --format taxi-arrow reads the
## pool with.
node-bench-build: $(NODE_DIR)/node_modules/.package-lock.json
	cd $(NODE_DIR) && ./node_modules/.bin/napi build --release --output-dir ../target/node-release --dts native.d.ts

$(NODE_DIR)/bench/published/node_modules/.package-lock.json: $(NODE_DIR)/bench/published/package-lock.json $(NODE_DIR)/bench/published/package.json
	cd $(NODE_DIR)/bench/published && $(NPM) ci --no-audit --no-fund
	@touch $@

## node-bench-published: the published SDK's addon for bench/published/driver.mjs.
node-bench-published: $(NODE_DIR)/bench/published/node_modules/.package-lock.json

BENCH_ARGS += --surface "node=node bindings-node/bench/driver.mjs"
BENCH_ARGS += --surface "published-node=node bindings-node/bench/published/driver.mjs"
BENCH_PREREQS += node-bench-build node-bench-published
