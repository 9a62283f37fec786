#!/usr/bin/env bash
# Runs the IngestArrow example against a `zerobus serve` with a declared table, started here.
# Usage: bindings-java/examples/run-arrow.sh path/to/zerobus
set -euo pipefail
ZEROBUS=${1:?usage: run-arrow.sh path/to/zerobus}
HERE=$(cd "$(dirname "$0")" && pwd)
TABLE='main.default.cars(name STRING NOT NULL, seats INT)'
coproc SERVE { exec "$ZEROBUS" serve --exit-on-stdin-close --table "$TABLE"; }
trap 'exec {SERVE[1]}>&-; wait "$SERVE_PID" 2>/dev/null || true' EXIT
while read -r line <&"${SERVE[0]}"; do
    case "$line" in
        ZEROBUS_TABLES=*) break ;;
        ZEROBUS_*=*) export "${line?}" ;;
    esac
done
java --add-opens=java.base/java.nio=ALL-UNNAMED -cp "$HERE/target/zerobus-examples-java.jar" com.databricks.zerobus.examples.IngestArrow
