# Kotlin SDK (bindings-java/kotlin, uniffi over the Rust core): included by the root Makefile after
# java.mk. Paths are relative to the repo root.
#
# The kotlin module's generate-sources step (bindings-java/kotlin/build-native.sh) runs
# `cargo build -p zerobus-uniffi`, generates the Kotlin bindings into
# kotlin/target/generated-sources/uniffi (not committed) and packages libzerobus_uniffi.so in the
# jar, so the whole parent's `mvn verify` (java-test) needs no step from this file.
KOTLIN_TESTEE := bindings-java/kotlin/testee/zerobus-testee-kotlin
KOTLIN_MODULES := kotlin,kotlin/testee,kotlin/examples

KOTLIN_BENCH_JAR := bindings-java/kotlin/bench/target/zerobus-bench-kotlin.jar

.PHONY: kotlin-build kotlin-test kotlin-example kotlin-bench

## kotlin-build: the Kotlin SDK jar (with its uniffi library), its conformance testee and examples.
kotlin-build:
	cd bindings-java && $(MVN) $(MVN_FLAGS) -q -pl $(KOTLIN_MODULES) -am package -DskipTests

## kotlin-test: the Kotlin module's unit tests and its integration test against `zerobus serve`.
kotlin-test:
	$(CARGO) build -p zerobus-cli
	cd bindings-java && $(MVN) $(MVN_FLAGS) -pl $(KOTLIN_MODULES) -am verify

## kotlin-example: ingest into a `zerobus serve` started here and print the acked count.
kotlin-example: kotlin-build
	$(CARGO) build -p zerobus-cli
	bash bindings-java/kotlin/examples/run.sh $(TARGET)/zerobus

## kotlin-bench: the Kotlin bench driver (bench/DRIVER.md), Maven profile `bench`: the uniffi library
## comes from `cargo build --release -p zerobus-uniffi` into the driver's own copy of the SDK jar.
kotlin-bench:
	cd bindings-java && $(MVN) $(MVN_FLAGS) -q -Pbench -pl kotlin/bench -am package -DskipTests

CONFORMANCE_ARGS += --testee kotlin=$(KOTLIN_TESTEE)
CONFORMANCE_PREREQS += kotlin-build
BENCH_ARGS += --surface "kotlin=java -jar $(KOTLIN_BENCH_JAR)"
BENCH_PREREQS += kotlin-bench
# `make test` needs no kotlin-test: java-test runs `mvn -B verify` over the whole parent, Kotlin included.
