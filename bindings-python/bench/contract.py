"""What bench/DRIVER.md fixes for every driver, shared by the Python drivers (ours and the
published SDK's): the command line, the environment, the record pools and the timed loop.

The one difference from DRIVER.md's pool: a Python user ingests rows as dicts, so record ``k`` is
the dict ``{"i": k, "p": "xx…x"}`` whose compact JSON text ``{"i":K,"p":"xx…x"}`` is exactly
``--size`` bytes (what both SDKs send), and the driver passes the dict itself. The pool (and, for
``batch``, the lists of ``B`` dicts) is built before the clock starts.

``--format taxi``, ``taxi-typed`` and ``taxi-arrow`` read the taxi rows of the runner's pool
directory (``--pool DIR``, DRIVER.md "Taxi rows from the pool directory"), before the clock too:
``taxi`` and ``taxi-typed`` the dicts of ``DIR/rows.jsonl`` in lists of ``B`` (:func:`taxi_dicts`;
``taxi-typed`` on a PROTO stream created from the table, ours only), ``taxi-arrow`` each
``DIR/{j}.arrows`` as one pyarrow ``Table`` (:func:`arrow_tables`); :func:`run_batches` times the
calls.

Standard library only, but for pyarrow, imported by :func:`arrow_tables` alone (both bench
virtualenvs have it; the JSON formats do not need it).
"""

import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, NamedTuple, NoReturn, Optional, Sequence

#: Records in the pool.
POOL = 1000

#: The formats; the taxi ones read ``--pool DIR`` and run in ``--mode batch``.
FORMATS = ("json", "taxi", "taxi-typed", "taxi-arrow")

USAGE = (
    "usage: DRIVER --mode single|nowait|batch [--format json] --size BYTES --records N [--batch B] "
    "[--seconds S] [--max-inflight-requests N]\n"
    "       DRIVER --mode batch --format taxi|taxi-typed|taxi-arrow --pool DIR --records N --batch B [--seconds S]\n"
    "  (env ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET, "
    "ZEROBUS_TABLE)"
)


class Args(NamedTuple):
    mode: str
    format: str
    size: int
    records: int
    batch: int
    seconds: Optional[float]
    max_inflight_requests: Optional[int]
    pool: Optional[str]
    endpoint: str
    workspace_url: str
    client_id: str
    client_secret: str
    table: str


def fail(message: str) -> NoReturn:
    print(f"driver: {message}", file=sys.stderr)
    print(USAGE, file=sys.stderr)
    sys.exit(2)


def parse_args(argv: List[str]) -> Args:
    """The command line and the ZEROBUS_* environment; exits 2 with the usage on a mistake."""

    def env(k: str) -> str:
        v = os.environ.get(k)
        if not v:
            fail(f"{k} is not set")
        return v

    def whole(flag: str, v: str) -> int:
        if not v.isdigit():
            fail(f"{flag} {v!r} is not a number")
        return int(v)

    mode, fmt, size, records, batch = "single", "json", 220, 100_000, 1000
    seconds: Optional[float] = None
    max_inflight: Optional[int] = None
    pool: Optional[str] = None
    if len(argv) % 2:
        fail(f"{argv[-1]} needs a value")
    for flag, value in zip(argv[::2], argv[1::2]):
        if flag == "--mode":
            if value not in ("single", "nowait", "batch"):
                fail(f"unknown mode {value!r}")
            mode = value
        elif flag == "--format":
            # No proto: proto records are for the drivers the runner names in --proto-surfaces.
            if value not in FORMATS:
                fail(f"--format {value!r}: this driver takes {', '.join(FORMATS)}")
            fmt = value
        elif flag == "--pool":
            pool = value
        elif flag == "--size":
            size = whole(flag, value)
        elif flag == "--records":
            records = whole(flag, value)
        elif flag == "--batch":
            batch = max(1, whole(flag, value))
        elif flag == "--seconds":
            try:
                seconds = float(value)
            except ValueError:
                fail(f"--seconds {value!r} is not a number")
        elif flag == "--max-inflight-requests":
            max_inflight = whole(flag, value)
        else:
            fail(f"unknown option {flag}")
    if fmt == "json":
        if size < 20:
            fail(f"--size {size} is below the 20-byte minimum")
        if mode == "batch" and POOL % batch != 0:
            fail(f"--batch {batch} does not divide the pool of {POOL}")
    else:
        # --size is ignored: the rows are the pool's.
        if mode != "batch":
            fail(f"--format {fmt} runs in --mode batch (rows per call: --batch)")
        if pool is None:
            fail(f"--format {fmt} needs --pool DIR")
    return Args(
        mode,
        fmt,
        size,
        records,
        batch,
        seconds,
        max_inflight,
        pool,
        env("ZEROBUS_ENDPOINT"),
        env("ZEROBUS_WORKSPACE_URL"),
        env("ZEROBUS_CLIENT_ID"),
        env("ZEROBUS_CLIENT_SECRET"),
        env("ZEROBUS_TABLE"),
    )


def record_pool(size: int) -> List[Dict[str, Any]]:
    """Record k is ``{"i": k, "p": "x…x"}``, whose compact JSON text is exactly ``size`` bytes."""
    pool = []
    for k in range(POOL):
        head = len('{"i":') + len(str(k)) + len(',"p":"')
        pool.append({"i": k, "p": "x" * max(0, size - head - 2)})
    return pool


def json_text(record: Dict[str, Any]) -> str:
    """The compact JSON text of a pool record, as both SDKs send it (for the self-check)."""
    return '{"i":%d,"p":"%s"}' % (record["i"], record["p"])


def run_calls(
    args: Args,
    pool: List[Dict[str, Any]],
    single: Callable[[Dict[str, Any]], Any],
    nowait: Callable[[Dict[str, Any]], Any],
    batch: Callable[[List[Dict[str, Any]]], Any],
    flush: Callable[[], Any],
) -> None:
    """DRIVER.md's loop and clock: ``single(record)``, ``nowait(record)`` or ``batch(records)``
    until ``args.records`` are ingested or the time cap passes; then ``flush()``, which stops the
    clock, and the RESULT line."""
    # Not one byte off: the rates are records of exactly --size bytes.
    bad = [r["i"] for r in pool if len(json_text(r)) != args.size]
    if bad:
        raise RuntimeError(f"pool record {bad[0]} is not {args.size} bytes of JSON")
    if args.mode == "batch":
        B = args.batch
        run_batches(args, [pool[q : q + B] for q in range(0, POOL, B)], batch, flush)
        return
    cap = args.seconds
    total = args.records
    clock = time.perf_counter
    one = nowait if args.mode == "nowait" else single
    t0 = clock()
    done = 0
    # Chunks of 1024 calls between clock checks; the inner loop is the calls alone.
    while done < total:
        if cap is not None and clock() - t0 >= cap:
            break
        end = min(total, done + 1024)
        for j in range(done, end):
            one(pool[j % POOL])
        done = end
    flush()
    report(done, clock() - t0)


def run_arrow(args: Args, create_arrow_stream: Callable[[str, Any, str, str], Any]) -> None:
    """``--format taxi-arrow``: the pool's pyarrow Tables, one ``ingest_batch`` each, on the stream
    ``create_arrow_stream(table, schema, client_id, client_secret)`` opens; then close."""
    tables = arrow_tables(args)
    stream = create_arrow_stream(args.table, tables[0].schema, args.client_id, args.client_secret)
    run_batches(args, tables, stream.ingest_batch, stream.flush)
    stream.close()


def run_batches(
    args: Args, batches: Sequence[Any], call: Callable[[Any], Any], flush: Callable[[], Any]
) -> None:
    """DRIVER.md's batch loop and clock: call ``j`` is ``call(batches[j % len(batches)])``, each
    of ``args.batch`` records (a list of dicts, or a pyarrow ``Table`` of that many rows), the last
    one cut to what is left (``[:n]`` or ``.slice(0, n)``, outside the steady loop), until
    ``args.records`` are ingested or the time cap passes; then ``flush()``, which stops the clock,
    and the RESULT line."""
    B = args.batch
    K = len(batches)
    cap = args.seconds
    total = args.records
    clock = time.perf_counter
    t0 = clock()
    done = 0
    j = 0
    while done < total:
        # Every call: one clock read per batch costs nothing next to the batch.
        if cap is not None and clock() - t0 >= cap:
            break
        n = min(B, total - done)
        b = batches[j % K]
        call(b if n == B else (b[:n] if isinstance(b, list) else b.slice(0, n)))
        done += n
        j += 1
    flush()
    report(done, clock() - t0)


def report(records: int, seconds: float) -> None:
    """The one line on stdout."""
    sys.stdout.write(f"RESULT records={records} seconds={seconds:.6f}\n")
    sys.stdout.flush()


def taxi_dicts(args: Args) -> List[List[Dict[str, Any]]]:
    """``--format taxi`` / ``taxi-typed``: the rows of ``DIR/rows.jsonl`` as dicts (``json.loads`` per line), in
    lists of ``B``: list ``q`` holds rows ``q*B .. +B``, so call ``j`` passes rows
    ``(j*B) % (K×B) .. +B``."""
    assert args.pool is not None
    path = os.path.join(args.pool, "rows.jsonl")
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    B = args.batch
    if not rows or len(rows) % B:
        raise RuntimeError(f"{path}: {len(rows)} rows, not a multiple of --batch {B}")
    return [rows[q : q + B] for q in range(0, len(rows), B)]


def arrow_tables(args: Args) -> List[Any]:
    """``--format taxi-arrow``: ``DIR/0.arrows``, ``DIR/1.arrows``, … (until the next number is
    missing), each an Arrow IPC stream read whole into a pyarrow ``Table`` of ``--batch`` rows.
    The stream's schema is ``tables[0].schema``."""
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

    assert args.pool is not None
    tables: List[Any] = []
    while True:
        path = os.path.join(args.pool, f"{len(tables)}.arrows")
        if not os.path.exists(path):
            break
        with open(path, "rb") as f:
            table = pa.ipc.open_stream(f.read()).read_all()
        if table.num_rows != args.batch:
            raise RuntimeError(f"{path}: {table.num_rows} rows, not --batch {args.batch}")
        if tables and table.schema != tables[0].schema:
            raise RuntimeError(f"{path}: not the schema of 0.arrows")
        tables.append(table)
    if not tables:
        raise RuntimeError(f"no {os.path.join(args.pool, '0.arrows')}")
    return tables
