#!/bin/sh
# Compiles the JNI shim (src/main/c/zerobus_jni.c) against target/<profile>/libzerobus.a into
# <out>/native/<os>-<arch>/libzerobus_jni.so, which Maven packages into the jar's resources.
# Usage: build-native.sh <java.home> <out dir> [debug|release]. Run by Maven (generate-resources)
# with the property zerobus.native.profile: debug for tests, release under the bench profile.
# The static library's Rust symbols are hidden (--exclude-libs): the .so exports only JNI entry points.
set -eu
JAVA_HOME_ARG=$1
OUT=$2
PROFILE=${3:-debug}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
case "$PROFILE" in
    debug) OPT=-O1; MAKE_HINT="'cargo build -p zerobus-ffi' (or 'make ffi' at the repo root)" ;;
    release) OPT=-O2; MAKE_HINT="'cargo build --release -p zerobus-ffi' (or 'make ffi-release' at the repo root)" ;;
    *) echo "build-native.sh: profile must be debug or release, not '$PROFILE'" >&2; exit 1 ;;
esac
LIB="$ROOT/target/$PROFILE/libzerobus.a"
if [ ! -f "$LIB" ]; then
    echo "build-native.sh: $LIB is missing: build it first with $MAKE_HINT" >&2
    exit 1
fi
# java.home is the JDK itself on 17; older layouts put the JRE under it.
JH=$JAVA_HOME_ARG
[ -f "$JH/include/jni.h" ] || JH=$(dirname "$JH")
if [ ! -f "$JH/include/jni.h" ]; then
    echo "build-native.sh: no jni.h under $JAVA_HOME_ARG: build with a JDK (not a JRE)" >&2
    exit 1
fi
case "$(uname -s)" in
    Linux) OS=linux ;;
    Darwin) OS=osx ;;
    *) echo "build-native.sh: unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
    x86_64|amd64) ARCH=x86_64 ;;
    aarch64|arm64) ARCH=aarch64 ;;
    *) ARCH=$(uname -m) ;;
esac
DEST="$OUT/native/$OS-$ARCH"
mkdir -p "$DEST"
CC=${CC:-cc}
if [ "$OS" = osx ]; then
    $CC -shared -fPIC $OPT -g -std=c11 -Wall -Wextra -Werror -I"$JH/include" -I"$JH/include/darwin" \
        -I"$ROOT/ffi-c/include" "$HERE/src/main/c/zerobus_jni.c" "$LIB" \
        -framework Security -framework CoreFoundation -lc++ -o "$DEST/libzerobus_jni.dylib"
else
    $CC -shared -fPIC $OPT -g -std=c11 -Wall -Wextra -Werror -I"$JH/include" -I"$JH/include/linux" \
        -I"$ROOT/ffi-c/include" "$HERE/src/main/c/zerobus_jni.c" "$LIB" \
        -Wl,--exclude-libs,ALL -Wl,-z,defs -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc \
        -o "$DEST/libzerobus_jni.so"
fi
