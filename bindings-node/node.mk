# Node binding (bindings-node/): a make fragment the root Makefile includes. Paths are relative
# to the repository root. Standalone: make -f bindings-node/node.mk node-test
#
#   node-build  npm ci (when node_modules is missing or package-lock.json changed), then the napi
#               CLI builds the addon (debug) into bindings-node/zerobus.node
#   node-test   the binding's tests (node --test) against `zerobus serve`

NODE_DIR := bindings-node
NPM ?= npm
NODE ?= node

.PHONY: node-build node-test

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
