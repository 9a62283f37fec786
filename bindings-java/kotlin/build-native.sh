#!/bin/sh
# Builds the uniffi library (bindings-java/uniffi, crate zerobus-uniffi), generates its Kotlin
# bindings and stages the library for the jar. Run by Maven (generate-sources), so `mvn verify` in
# bindings-java/ works on a fresh clone with nothing built before.
# Usage: build-native.sh <generated sources dir> <native resources dir> [debug|release]
#   (Maven passes the property zerobus.native.profile: debug for tests, release under the bench profile)
#   <generated sources dir>/com/databricks/zerobus/kotlin/ffi/zerobus_uniffi.kt  (not committed)
#   <native resources dir>/native/<os>-<arch>/libzerobus_uniffi.so              (packaged in the jar)
# CARGO (default: cargo on PATH) picks cargo.
set -eu
GEN=$1
OUT=$2
PROFILE=${3:-debug}
case "$PROFILE" in
    debug) CARGO_PROFILE= ;;
    release) CARGO_PROFILE=--release ;;
    *) echo "build-native.sh: profile must be debug or release, not '$PROFILE'" >&2; exit 1 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CARGO=${CARGO:-cargo}
if ! command -v "$CARGO" >/dev/null 2>&1; then
    echo "build-native.sh: '$CARGO' not found: the Kotlin SDK builds its native library with Rust's cargo (https://rustup.rs)" >&2
    exit 1
fi
case "$(uname -s)" in
    Linux) OS=linux; LIBNAME=libzerobus_uniffi.so ;;
    Darwin) OS=osx; LIBNAME=libzerobus_uniffi.dylib ;;
    *) echo "build-native.sh: unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
    x86_64|amd64) ARCH=x86_64 ;;
    aarch64|arm64) ARCH=aarch64 ;;
    *) ARCH=$(uname -m) ;;
esac
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
"$CARGO" build -q $CARGO_PROFILE -p zerobus-uniffi
LIB="$TARGET_DIR/$PROFILE/$LIBNAME"
if [ ! -f "$LIB" ]; then
    echo "build-native.sh: $LIB is missing after 'cargo build $CARGO_PROFILE -p zerobus-uniffi'" >&2
    exit 1
fi
rm -rf "$GEN"
mkdir -p "$GEN"
"$TARGET_DIR/$PROFILE/uniffi-bindgen" generate --no-format --library "$LIB" --language kotlin \
    --config "$ROOT/bindings-java/uniffi/uniffi.toml" --out-dir "$GEN" >/dev/null
DEST="$OUT/native/$OS-$ARCH"
mkdir -p "$DEST"
cp "$LIB" "$DEST/$LIBNAME"
