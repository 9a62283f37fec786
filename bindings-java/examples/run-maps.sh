#!/usr/bin/env bash
# Runs the IngestMaps example against a `zerobus serve` with a declared table, started here.
# Usage: bindings-java/examples/run-maps.sh path/to/zerobus
set -euo pipefail
ZEROBUS=${1:?usage: run-maps.sh path/to/zerobus}
HERE=$(cd "$(dirname "$0")" && pwd)
TABLE='main.default.air_quality(device_name STRING NOT NULL, temp INT, humidity BIGINT, at TIMESTAMP,
  price DECIMAL(10,2), tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)'
coproc SERVE { exec "$ZEROBUS" serve --exit-on-stdin-close --table "$TABLE"; }
trap 'exec {SERVE[1]}>&-; wait "$SERVE_PID" 2>/dev/null || true' EXIT
while read -r line <&"${SERVE[0]}"; do
    case "$line" in
        ZEROBUS_TABLES=*) break ;;
        ZEROBUS_*=*) export "${line?}" ;;
    esac
done
java -cp "$HERE/target/zerobus-examples-java.jar" com.databricks.zerobus.examples.IngestMaps
