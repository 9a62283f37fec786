# JVM bindings (bindings-java/): included by the root Makefile. Paths are relative to the repo root.
#
# One Maven build (bindings-java/pom.xml, modules java, testee, examples; a kotlin module goes
# beside java). Maven fetches its own dependencies. The java module's generate-resources step
# compiles the JNI shim (java/build-native.sh) against target/debug/libzerobus.a and packages it
# in the jar as native/<os>-<arch>/libzerobus_jni.so, so `ffi` must run first.
MVN ?= mvn
MVN_FLAGS := -B -Dstyle.color=never
JAVA_TESTEE := bindings-java/testee/zerobus-testee-java

JAVA_BENCH_JAR := bindings-java/bench/target/zerobus-bench-java.jar

.PHONY: java-build java-test java-example java-bench

## java-build: the SDK jar (with its JNI shim), the conformance testee and the examples; no tests.
java-build: ffi
	cd bindings-java && $(MVN) $(MVN_FLAGS) -q package -DskipTests

## java-test: unit tests and the integration test against `zerobus serve` (built here), then the
## testee and examples packages: `mvn -B verify`.
java-test: java-build
	$(CARGO) build -p zerobus-cli
	cd bindings-java && $(MVN) $(MVN_FLAGS) verify

## java-example: ingest into a `zerobus serve` started here and print the acked count.
java-example: java-build
	$(CARGO) build -p zerobus-cli
	bash bindings-java/examples/run.sh $(TARGET)/zerobus

## java-bench: the Java bench driver (bench/DRIVER.md), Maven profile `bench`: the JNI shim is built
## against target/release/libzerobus.a into the driver's own copy of the SDK jar, so a later debug
## build (java-build, java-test) never changes what the benchmark runs, and vice versa.
java-bench: ffi-release
	cd bindings-java && $(MVN) $(MVN_FLAGS) -q -Pbench -pl bench -am package -DskipTests

CONFORMANCE_ARGS += --testee java=$(JAVA_TESTEE)
CONFORMANCE_PREREQS += java-build
TEST_PREREQS += java-test
BENCH_ARGS += --surface "java=java -jar $(JAVA_BENCH_JAR)"
BENCH_PREREQS += java-bench
