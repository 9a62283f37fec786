#!/usr/bin/env bash
# `make demo`: a local Zerobus (`zerobus serve`), 100,000 generated records through `zerobus ingest`,
# then what the server holds. Everything runs on loopback and stops by itself.
set -euo pipefail

bin=${1:-target/debug/zerobus}
records=${DEMO_RECORDS:-100000}
size=${DEMO_RECORD_SIZE:-220}
table=main.default.events

work=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null || true; kill "$serve_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkfifo "$work/serve-stdin"

# serve exits when its stdin closes; fd 3 keeps it open until the ingest is done.
"$bin" serve --no-payloads --exit-on-stdin-close --stats-file "$work/stats.json" \
  <"$work/serve-stdin" >"$work/serve.env" &
serve_pid=$!
exec 3>"$work/serve-stdin"

for _ in $(seq 100); do
  [ "$(grep -c '^ZEROBUS_' "$work/serve.env" 2>/dev/null || true)" -ge 5 ] && break
  sleep 0.1
done
set -a
# shellcheck disable=SC1091
. "$work/serve.env"
set +a
echo "== zerobus serve is up: endpoint $ZEROBUS_ENDPOINT, token endpoint $ZEROBUS_WORKSPACE_URL"

echo "== zerobus ingest --generate $records --size $size --table $table"
"$bin" ingest --table "$table" --generate "$records" --size "$size"

exec 3>&-
wait "$serve_pid"
echo "== what the server holds"
cat "$work/stats.json"
echo
held=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tables"][sys.argv[2]]["records"])' \
  "$work/stats.json" "$table")
if [ "$held" != "$records" ]; then
  echo "demo: the server holds $held records of $table, expected $records" >&2
  exit 1
fi
echo "demo: all $records records acknowledged and held by the server"
