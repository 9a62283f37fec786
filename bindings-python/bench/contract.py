"""What bench/DRIVER.md fixes for every driver, shared by the Python drivers (ours and the
published SDK's): the command line, the environment, the record pool and the timed loop.

The one difference from DRIVER.md's pool: a Python user ingests rows as dicts, so record ``k`` is
the dict ``{"i": k, "p": "xx…x"}`` whose compact JSON text ``{"i":K,"p":"xx…x"}`` is exactly
``--size`` bytes (what both SDKs send), and the driver passes the dict itself. The pool (and, for
``batch``, the lists of ``B`` dicts) is built before the clock starts.

Standard library only: the published SDK's virtualenv has nothing else.
"""

import os
import sys
import time
from typing import Any, Callable, Dict, List, NamedTuple, NoReturn, Optional

#: Records in the pool.
POOL = 1000

USAGE = (
    "usage: DRIVER --mode single|nowait|batch [--format json] --size BYTES --records N [--batch B] "
    "[--seconds S] [--max-inflight-requests N]  (env ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, "
    "ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET, ZEROBUS_TABLE)"
)


class Args(NamedTuple):
    mode: str
    size: int
    records: int
    batch: int
    seconds: Optional[float]
    max_inflight_requests: Optional[int]
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

    mode, size, records, batch = "single", 220, 100_000, 1000
    seconds: Optional[float] = None
    max_inflight: Optional[int] = None
    if len(argv) % 2:
        fail(f"{argv[-1]} needs a value")
    for flag, value in zip(argv[::2], argv[1::2]):
        if flag == "--mode":
            if value not in ("single", "nowait", "batch"):
                fail(f"unknown mode {value!r}")
            mode = value
        elif flag == "--format":
            # JSON only: proto records are for the drivers the runner names in --proto-surfaces.
            if value != "json":
                fail(f"--format {value!r}: this driver takes json only")
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
    if size < 20:
        fail(f"--size {size} is below the 20-byte minimum")
    if mode == "batch" and POOL % batch != 0:
        fail(f"--batch {batch} does not divide the pool of {POOL}")
    return Args(
        mode,
        size,
        records,
        batch,
        seconds,
        max_inflight,
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
    B = args.batch
    batches = [pool[q : q + B] for q in range(0, POOL, B)] if args.mode == "batch" else []
    cap = args.seconds
    total = args.records
    clock = time.perf_counter
    t0 = clock()
    done = 0
    if args.mode == "batch":
        j = 0
        while done < total:
            # Every call: one clock read per batch costs nothing next to the batch.
            if cap is not None and clock() - t0 >= cap:
                break
            n = min(B, total - done)
            q = (j * B) % POOL
            # The last call may be shorter: sliced then, outside the steady loop.
            batch(batches[q // B] if n == B else pool[q : q + n])
            done += n
            j += 1
    else:
        one = nowait if args.mode == "nowait" else single
        # Chunks of 1024 calls between clock checks; the inner loop is the calls alone.
        while done < total:
            if cap is not None and clock() - t0 >= cap:
                break
            end = min(total, done + 1024)
            for j in range(done, end):
                one(pool[j % POOL])
            done = end
    flush()
    seconds = clock() - t0
    sys.stdout.write(f"RESULT records={done} seconds={seconds:.6f}\n")
    sys.stdout.flush()
