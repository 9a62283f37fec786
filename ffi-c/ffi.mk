# C ABI (ffi-c/) and the C conformance testee: included by the root Makefile. Paths are relative
# to the repo root.

C_TESTEE := target/c/zerobus-testee-c
PKGCONFIG_DIR := target/pkgconfig
ZEROBUS_VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

# Each testee process under valgrind writes its own log. --quiet is left out on purpose: every
# complete log ends with an "ERROR SUMMARY" line, so a log without one means valgrind never
# finished (the runner kills a testee that has not exited 5 s after `quit`, and does not look at
# exit codes, so --error-exitcode alone would go unnoticed).
VALGRIND_LOGS := target/c/valgrind
# `make c-valgrind C_VALGRIND_FILTER=Recovery.` runs only the cases whose id contains the text.
C_VALGRIND_FILTER ?=
# valgrind.supp: three narrow false positives in third-party code that only the TLS cases reach
# (ring's AES-GCM assembly, and glibc's resolver cache held by a live thread at exit); each entry
# says why.
VALGRIND := valgrind --suppressions=conformance/testees/c/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--error-exitcode=99 --log-file=$(VALGRIND_LOGS)/%p.log

.PHONY: ffi ffi-release c-testee header c-valgrind c-bench

## ffi: libzerobus (.a and .so in target/debug) and target/pkgconfig/zerobus.pc.
ffi:
	$(CARGO) build -p zerobus-ffi
	mkdir -p $(PKGCONFIG_DIR)/lib
	ln -sf ../../debug/libzerobus.a $(PKGCONFIG_DIR)/lib/libzerobus.a
	sed -e 's|@PREFIX@|$(CURDIR)/target|' -e 's|@INCLUDEDIR@|$(CURDIR)/ffi-c/include|' \
		-e 's|@VERSION@|$(ZEROBUS_VERSION)|' ffi-c/zerobus.pc.in > $(PKGCONFIG_DIR)/zerobus.pc

## ffi-release: libzerobus (.a and .so) in target/release, for benchmarks and release packaging.
ffi-release:
	$(CARGO) build --release -p zerobus-ffi

## c-testee: the C conformance testee, linked against target/debug/libzerobus.a.
c-testee: ffi
	$(MAKE) -C conformance/testees/c TARGET_DIR=$(CURDIR)/target

## header: regenerate ffi-c/include/zerobus.h from ffi-c/src with cbindgen.
header:
	ZEROBUS_UPDATE_HEADER=1 $(CARGO) test -p zerobus-ffi --test header_drift

## c-valgrind: the whole conformance matrix for the C testee under valgrind: no invalid access,
## no definite leak, in any case.
c-valgrind: c-testee
	@command -v valgrind >/dev/null 2>&1 || { echo "make c-valgrind: valgrind is not installed (apt-get install valgrind); this check is required, not optional" >&2; exit 1; }
	$(CARGO) build -p zerobus-conformance
	rm -rf $(VALGRIND_LOGS)
	mkdir -p $(VALGRIND_LOGS)
	$(TARGET)/conformance --testee "c-valgrind=$(VALGRIND) $(C_TESTEE)" $(if $(C_VALGRIND_FILTER),--filter $(C_VALGRIND_FILTER))
	@logs="$$(ls $(VALGRIND_LOGS)/*.log 2>/dev/null)"; \
	if [ -z "$$logs" ]; then echo "make c-valgrind: valgrind wrote no logs to $(VALGRIND_LOGS)" >&2; exit 1; fi; \
	bad="$$(grep -L 'ERROR SUMMARY: 0 errors' $$logs)"; \
	if [ -n "$$bad" ]; then \
		for f in $$bad; do echo "==== $$f"; cat "$$f"; done >&2; \
		echo "make c-valgrind: $$(echo $$bad | wc -w) of $$(echo $$logs | wc -w) testee runs reported errors or did not finish (logs above)" >&2; \
		exit 1; \
	fi; \
	echo "c-valgrind: $$(echo $$logs | wc -w) testee runs, no invalid access, no definite leak"

# tests/null_args.rs links target/debug/libzerobus.a, which `cargo test` does not promise to build.
unit: ffi

CONFORMANCE_ARGS += --testee c=$(C_TESTEE)
CONFORMANCE_PREREQS += c-testee
TEST_PREREQS += c-valgrind

## c-bench: the bench/DRIVER.md driver (examples/bench_driver.c), optimised and linked against
## target/release/libzerobus.a.
C_BENCH := target/c/zerobus-bench-c
c-bench: ffi-release
	mkdir -p target/c
	$(CC) -std=c99 -O2 -Wall -Wextra -Werror -Iffi-c/include ffi-c/examples/bench_driver.c \
		target/release/libzerobus.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -o $(C_BENCH)

BENCH_ARGS += --surface c=$(C_BENCH)
BENCH_PREREQS += c-bench
