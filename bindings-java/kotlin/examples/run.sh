#!/usr/bin/env bash
# Runs the Kotlin IngestJson example against a `zerobus serve` started here (`make kotlin-example`).
# Usage: bindings-java/kotlin/examples/run.sh path/to/zerobus [record count]
set -euo pipefail
ZEROBUS=${1:?usage: run.sh path/to/zerobus [count]}
HERE=$(cd "$(dirname "$0")" && pwd)
coproc SERVE { exec "$ZEROBUS" serve --exit-on-stdin-close; }
trap 'exec {SERVE[1]}>&-; wait "$SERVE_PID" 2>/dev/null || true' EXIT
while read -r line <&"${SERVE[0]}"; do
    case "$line" in
        ZEROBUS_TABLES=*) break ;;
        ZEROBUS_*=*) export "${line?}" ;;
    esac
done
java -jar "$HERE/target/zerobus-examples-kotlin.jar" "${2:-10000}"
