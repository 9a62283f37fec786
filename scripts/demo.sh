#!/usr/bin/env bash
# `make demo`: a local Zerobus that writes real Delta tables (`zerobus serve --data-dir`), trips
# ingested four ways into one declared table (JSON and typed PROTO through `zerobus ingest`, a
# Parquet file as Arrow batches through `zerobus ingest`, a pyarrow Table through the Python
# binding), then the table read back: `zerobus table show` and, as a reader we did not write, the
# `deltalake` package. Everything runs on loopback and stops by itself; the table stays in
# target/demo-data (DEMO_DATA_DIR) to look at afterwards.
set -euo pipefail

bin=${1:-target/debug/zerobus}
py=${2:-target/python-venv/bin/python}
per=${DEMO_ROWS:-50000}
data=${DEMO_DATA_DIR:-target/demo-data}
table=main.demo.trips
definition="$table(trip_id BIGINT NOT NULL, vendor STRING, fare DOUBLE, pickup TIMESTAMP, tags ARRAY<STRING>)"

work=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null || true; kill "$serve_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkfifo "$work/serve-stdin"
rm -rf "$data"

# serve exits when its stdin closes; fd 3 keeps it open until the ingests are done.
"$bin" serve --no-payloads --exit-on-stdin-close --data-dir "$data" --table "$definition" \
  <"$work/serve-stdin" >"$work/serve.env" 2>"$work/serve.err" &
serve_pid=$!
exec 3>"$work/serve-stdin"

for _ in $(seq 300); do
  [ "$(grep -c '^ZEROBUS_' "$work/serve.env" 2>/dev/null || true)" -ge 5 ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
  sleep 0.1
done
set -a
# shellcheck disable=SC1091
. "$work/serve.env"
ZEROBUS_TABLE=$table
set +a
echo "== zerobus serve --data-dir $data: $definition"

echo "== JSON: zerobus ingest --file trips.jsonl (trips 0..$((per - 1)))"
"$py" scripts/demo.py rows 0 "$per" "$work/trips.jsonl"
"$bin" ingest --file "$work/trips.jsonl" --batch-size 1000

echo "== typed PROTO: zerobus ingest --format proto (trips $per..$((2 * per - 1)); the SDK encodes by the table's columns)"
"$py" scripts/demo.py rows "$per" "$per" "$work/trips-proto.jsonl"
"$bin" ingest --format proto --file "$work/trips-proto.jsonl" --batch-size 1000

echo "== Arrow: zerobus ingest --file trips.parquet (trips $((2 * per))..$((3 * per - 1)), Arrow Flight)"
"$py" scripts/demo.py parquet "$((2 * per))" "$per" "$work/trips.parquet"
"$bin" ingest --file "$work/trips.parquet"

echo "== Python binding: a pyarrow Table through create_arrow_stream (trips $((3 * per))..$((4 * per - 1)))"
"$py" scripts/demo.py ingest "$((3 * per))" "$per"

exec 3>&-
wait "$serve_pid"
grep -v '^zerobus serve: stopped' "$work/serve.err" | grep -v '^  main\.' || true

echo "== zerobus table show $table --data-dir $data"
"$bin" table show "$table" --data-dir "$data"

echo "== read back by another Delta reader"
"$py" scripts/demo.py check "$data" "$table" "$((4 * per))"
echo "demo: all $((4 * per)) rows acknowledged, committed to Delta and read back; the table is in $data"
