#!/usr/bin/env bash
# `make bench-local`: the local Zerobus's durable path (`zerobus serve --data-dir`, release build)
# on this machine: the sustained rate into Delta of 220-byte JSON records and of taxi-shaped
# Arrow rows (from the first call until the last row is committed: the ingest, then the
# server's stop, which commits what is left), and the ack latency with the log synced.
set -euo pipefail

rel=${1:-target/release}
json_records=${LOCAL_JSON_RECORDS:-3000000}
arrow_rows=${LOCAL_ARROW_ROWS:-10000000}
work=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null || true; kill "$serve_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
taxi=$("$rel/zerobus-bench" --print-taxi-definition)

# One server per measurement, on a fresh data directory; prints nothing but its stop summary.
start_serve() {
  rm -rf "$work/data" "$work/serve-stdin"
  mkfifo "$work/serve-stdin"
  "$rel/zerobus" serve --no-payloads --exit-on-stdin-close --data-dir "$work/data" "$@" \
    <"$work/serve-stdin" >"$work/serve.env" 2>"$work/serve.err" &
  serve_pid=$!
  exec 3>"$work/serve-stdin"
  for _ in $(seq 300); do
    [ "$(grep -c '^ZEROBUS_' "$work/serve.env" 2>/dev/null || true)" -ge 5 ] && break
    sleep 0.1
  done
  set -a
  # shellcheck disable=SC1091
  . "$work/serve.env"
  set +a
}
stop_serve() {
  exec 3>&-
  wait "$serve_pid"
}
now() { date +%s.%N; }
# Rows committed (the server's stop summary: the driver's untimed warm-up rows too) over the
# time from the driver's start until the server has committed its last row.
rate() {
  local what=$1 t0=$2 summary t1
  t1=$(now)
  summary=$(grep 'committed' "$work/serve.err")
  echo "$summary"
  python3 -c "import re,sys; n=int(re.search(r'committed (\d+) rows', sys.argv[2]).group(1)); s=float(sys.argv[4])-float(sys.argv[3]); print(f'LOCAL {sys.argv[1]} rows_in_delta={n} seconds={s:.2f} rows_per_s={n/s:,.0f}')" "$what" "$summary" "$t0" "$t1"
}

start_serve --table 'bench.default.local_json(i BIGINT NOT NULL, p STRING)'
export ZEROBUS_TABLE=bench.default.local_json
t0=$(now)
"$rel/zerobus-bench-core" --mode batch --batch 1000 --size 220 --records "$json_records" | tail -1
stop_serve
rate json-220B "$t0"

start_serve --table 'bench.default.local_json(i BIGINT NOT NULL, p STRING)'
"$rel/zerobus-bench-latency" --records 2000 --size 220 --window 100
stop_serve

pool="$work/pool"
"$rel/zerobus-bench" --write-pool "$pool" >/dev/null
start_serve --table "$taxi"
export ZEROBUS_TABLE=bench.default.taxi_trips
t0=$(now)
"$rel/zerobus-bench-core" --mode batch --batch 10000 --format taxi-arrow --records "$arrow_rows" --pool "$pool" --size 200 | tail -1
stop_serve
rate taxi-arrow "$t0"
