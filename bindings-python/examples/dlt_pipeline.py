"""A dlt pipeline whose destination is Zerobus: every batch of rows dlt loads goes through the SDK.

Run it from the repository root::

    cargo build -p zerobus-cli                         # the local server, target/debug/zerobus
    make -f bindings-python/python.mk python-build     # the SDK, into target/python-venv
    target/python-venv/bin/python bindings-python/examples/dlt_pipeline.py --rows 100000 --check

What it shows:

- a dlt resource, a generator of dict rows with typed columns (int, str, float, Decimal, bool,
  timezone-aware datetime);
- a custom destination (``@dlt.destination``) that dlt calls with ``batch_size`` rows at a time;
  it hands each batch to ``ZerobusStream.ingest_records_offset`` in one call (the SDK turns the
  dicts into JSON in Rust: datetimes as ISO 8601 strings, Decimal as a string);
- each batch durable before dlt counts it as loaded (``wait_for_offset`` on the batch's offset);
- one Zerobus stream per dlt table (here one, ``events``), opened on the table's first batch (a
  run with nothing to load opens none) and kept for every batch and load job of the run, then
  flushed and closed once ``pipeline.run`` returns.

With ``ZEROBUS_ENDPOINT``, ``ZEROBUS_WORKSPACE_URL``, ``ZEROBUS_CLIENT_ID`` and
``ZEROBUS_CLIENT_SECRET`` in the environment it writes there. Without them it starts its own
``zerobus serve`` (``$ZEROBUS_BIN``, else ``target/debug/zerobus``) and stops it at the end; the
server then reports how many records the table received, and ``--check`` makes the script fail
unless that is the number of rows dlt produced. (The server also stops if the script dies: it
exits when its stdin, a pipe from the script, closes.)

dlt runs offline and leaves nothing behind: its data and pipeline directories are a temporary
directory, and its telemetry is off.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional

import dlt
from dlt.common.destination import Destination
from dlt.common.destination.exceptions import DestinationTerminalException
from dlt.common.schema import TTableSchema
from dlt.common.typing import TDataItems
from dlt.pipeline.exceptions import PipelineStepFailed

from zerobus.sdk.shared import TableProperties, ZerobusException
from zerobus.sdk.sync import ZerobusSdk, ZerobusStream

REPO_ROOT = Path(__file__).resolve().parents[2]
CONNECTION_VARS = ("ZEROBUS_ENDPOINT", "ZEROBUS_WORKSPACE_URL", "ZEROBUS_CLIENT_ID", "ZEROBUS_CLIENT_SECRET")


# --- The source: a dlt resource ------------------------------------------------------------------


def events(rows: int, page_size: int = 1_000) -> Iterator[List[Dict[str, Any]]]:
    """``rows`` synthetic events, one dict per row; dlt infers the column types from the values.

    It yields pages (lists of rows) rather than single rows: dlt takes a yielded list as that many
    rows, and extracts them several times faster than one yield per row.
    """
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    for first in range(0, rows, page_size):
        yield [
            {
                "id": i,
                "name": f"event-{i}",
                "score": i / 7,
                "amount": Decimal(i % 10_000) / 100,  # dlt keeps it a Decimal: a "decimal" column
                "active": i % 3 != 0,
                "created_at": start + datetime.timedelta(milliseconds=i),
            }
            for i in range(first, min(first + page_size, rows))
        ]


# --- The destination: Zerobus streams behind @dlt.destination ------------------------------------


class ZerobusSink:
    """Zerobus streams for a dlt run: dlt table ``t`` goes to ``<catalog>.<schema>.t``.

    A table's stream opens on its first batch and stays open across batches and load jobs, so
    the run pays for one stream (one connection and token) per table, not one per batch or file.
    dlt runs load jobs on worker threads, hence the lock around the streams and counters.
    """

    def __init__(self, sdk: ZerobusSdk, client_id: str, client_secret: str, catalog_schema: str) -> None:
        self._sdk = sdk
        self._client_id = client_id
        self._client_secret = client_secret
        self._catalog_schema = catalog_schema
        self._lock = threading.Lock()
        self._streams: Dict[str, ZerobusStream] = {}
        self.rows = 0
        self.batches = 0

    def _stream(self, dlt_table: str) -> ZerobusStream:
        with self._lock:
            stream = self._streams.get(dlt_table)
            if stream is None:
                table = TableProperties(f"{self._catalog_schema}.{dlt_table}")  # JSON records
                stream = self._sdk.create_stream(self._client_id, self._client_secret, table)
                self._streams[dlt_table] = stream
            return stream

    def ingest(self, dlt_table: str, rows: List[Dict[str, Any]]) -> None:
        """Sends the batch under one offset and returns once the server has acknowledged it:
        dlt records a batch as loaded when this returns, so a crash after that must not lose it.
        That is one round trip per batch (``batch_size`` rows); the rows themselves cross into
        Rust in one call and are written as JSON there."""
        try:
            stream = self._stream(dlt_table)
            offset = stream.ingest_records_offset(rows)
            if offset is not None:
                stream.wait_for_offset(offset)
        except ZerobusException as e:
            # A retryable failure (network, server) has already been retried by the stream itself,
            # within its recovery budget (StreamConfigurationOptions.recovery_*); once it raises,
            # the stream is closed and raises the same again, so dlt retrying the job would not
            # help: fail the load. (sdk.recreate_stream(stream) would resend what it left unacked.)
            raise DestinationTerminalException(f"Zerobus {e.code}: {e}") from e
        with self._lock:
            self.rows += len(rows)
            self.batches += 1

    def close(self) -> None:
        """Waits until every queued batch is acknowledged, then closes the streams."""
        with self._lock:
            streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            try:
                stream.flush()
            finally:
                stream.close()


def zerobus_destination(sink: ZerobusSink, batch_size: int) -> Destination[Any, Any]:
    """A dlt destination that passes each batch of ``batch_size`` rows to ``sink``."""

    @dlt.destination(
        name="zerobus",
        batch_size=batch_size,  # rows per call; dlt reads them back from its load files
        loader_file_format="typed-jsonl",  # so rows come back as dicts with datetime, Decimal
        # One load job per table at a time: a table's batches reach its stream in order, from
        # one thread. (Different tables, on different streams, may still load in parallel.)
        loader_parallelism_strategy="table-sequential",
    )
    def zerobus(items: TDataItems, table: TTableSchema) -> None:
        # items: a list of up to batch_size row dicts; table: dlt's schema of the table they go to.
        name = table["name"]
        assert name is not None  # the tables dlt loads are always named
        sink.ingest(name, items)

    return zerobus()


# --- A local server when none is configured -----------------------------------------------------


class LocalServer:
    """``zerobus serve`` as a child process on loopback ports it picks itself.

    It prints its endpoints and the dev credentials as ``KEY=value`` lines, and with
    ``--exit-on-stdin-close`` it stops when we close its stdin, writing what each table received
    to ``--stats-file``.
    """

    def __init__(self, workdir: Path) -> None:
        self.binary = Path(os.environ.get("ZEROBUS_BIN") or REPO_ROOT / "target" / "debug" / "zerobus")
        if not self.binary.exists():
            sys.exit(f"{self.binary} not found: build it with `cargo build -p zerobus-cli` or set ZEROBUS_BIN")
        self.stats_file = workdir / "zerobus-stats.json"
        self.log_file = workdir / "zerobus-serve.log"
        self._log: Optional[IO[str]] = None
        self._proc: Optional["subprocess.Popen[str]"] = None

    def start(self) -> Dict[str, str]:
        """Starts the server; returns the variables it printed (ZEROBUS_ENDPOINT, ...)."""
        self._log = open(self.log_file, "w")
        self._proc = subprocess.Popen(
            [str(self.binary), "serve", "--grpc-addr", "127.0.0.1:0", "--token-addr", "127.0.0.1:0",
             "--no-payloads", "--exit-on-stdin-close", "--stats-file", str(self.stats_file)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
        )  # fmt: skip
        assert self._proc.stdout is not None
        env: Dict[str, str] = {}
        while not all(name in env for name in CONNECTION_VARS):
            line = self._proc.stdout.readline()
            if not line:
                self.stop()
                sys.exit(f"zerobus serve exited before printing its endpoints:\n{self.log()}")
            key, _, value = line.strip().partition("=")
            env[key] = value
        return env

    def stop(self) -> Dict[str, Any]:
        """Closes the server's stdin, waits for it to exit; returns its stats file's tables."""
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if not self.stats_file.exists():
            return {}
        tables: Dict[str, Any] = json.loads(self.stats_file.read_text())["tables"]
        return tables

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""


# --- The run ------------------------------------------------------------------------------------


@dataclass
class RunResult:
    produced: int  # rows dlt normalized for the table
    ingested: int  # rows the destination handed to the SDK
    batches: int  # destination calls, one ingest_records_offset each
    elapsed: float  # seconds for pipeline.run and the final flush


def run_pipeline(env: Dict[str, str], args: argparse.Namespace, workdir: Path) -> RunResult:
    """Runs the dlt pipeline into Zerobus; returns what it counted."""
    catalog_schema, _, table_name = args.table.rpartition(".")
    with ZerobusSdk(env["ZEROBUS_ENDPOINT"], env["ZEROBUS_WORKSPACE_URL"]) as sdk:
        sink = ZerobusSink(sdk, env["ZEROBUS_CLIENT_ID"], env["ZEROBUS_CLIENT_SECRET"], catalog_schema)
        pipeline = dlt.pipeline(
            pipeline_name="zerobus_dlt_example",
            pipelines_dir=str(workdir / "pipelines"),
            destination=zerobus_destination(sink, args.batch_size),
        )
        resource = dlt.resource(events(args.rows), name=table_name)
        started = time.perf_counter()
        try:
            pipeline.run(resource)  # extract, normalize, load: the destination sees the batches
        finally:
            sink.close()  # flush: every batch acknowledged (or an exception)
        elapsed = time.perf_counter() - started

    trace = pipeline.last_trace
    normalized = trace.last_normalize_info if trace is not None else None
    produced = normalized.row_counts.get(table_name, 0) if normalized is not None else 0
    return RunResult(produced=produced, ingested=sink.rows, batches=sink.batches, elapsed=elapsed)


def root_cause(error: BaseException) -> str:
    """The SDK's exception behind a dlt failure (dlt wraps it a few times), else the innermost."""
    cause: Optional[BaseException] = error
    while cause is not None and not isinstance(cause, ZerobusException):
        error, cause = cause, cause.__cause__
    if isinstance(cause, ZerobusException):
        return f"{type(cause).__name__} {cause.code}: {cause}"
    return f"{type(error).__name__}: {error}"


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:  # dlt reads batch_size 0 as "pass the load file's path instead of rows"
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows the resource yields (default 10,000)")
    parser.add_argument("--batch-size", type=positive, default=5_000, help="rows per destination call (default 5,000)")
    parser.add_argument(
        "--table",
        default=os.environ.get("ZEROBUS_TABLE", "main.default.events"),
        help="catalog.schema.table; the dlt table is its last part (default: $ZEROBUS_TABLE or %(default)s)",
    )
    parser.add_argument("--check", action="store_true", help="fail unless the server received every row dlt produced")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="zerobus-dlt-") as tmp:
        workdir = Path(tmp)
        # dlt offline and self-contained: no ~/.dlt, no .dlt/ config from the current directory,
        # no anonymous telemetry. (dlt reads these when the pipeline is created, not at import.)
        os.environ["DLT_DATA_DIR"] = str(workdir / "dlt")
        os.environ["DLT_PROJECT_DIR"] = str(workdir)
        os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"

        server: Optional[LocalServer] = None
        if os.environ.get("ZEROBUS_ENDPOINT"):
            missing = [name for name in CONNECTION_VARS if not os.environ.get(name)]
            if missing:
                sys.exit(f"ZEROBUS_ENDPOINT is set but not {', '.join(missing)}")
            env = {name: os.environ[name] for name in CONNECTION_VARS}
        else:
            server = LocalServer(workdir)
            env = server.start()

        try:
            result = run_pipeline(env, args, workdir)
        except PipelineStepFailed as e:
            # dlt has logged the job's traceback; name the cause in one line.
            print(f"dlt's {e.step} step failed: {root_cause(e)}", file=sys.stderr)
            return 1
        finally:
            tables = server.stop() if server is not None else {}

    received: Optional[int] = tables[args.table]["records"] if args.table in tables else None
    print(f"rows:     {result.produced} produced by dlt, {result.ingested} ingested")
    print(f"batches:  {result.batches} (batch_size {args.batch_size})")
    rate = result.produced / result.elapsed
    print(f"elapsed:  {result.elapsed:.2f}s (extract, normalize, load, flush)  {rate:,.0f} rows/s")
    if received is None:
        print(f"server:   {args.table}: count unknown (only the script's own `zerobus serve` reports it)")
    else:
        print(f"server:   {args.table} received {received} records")

    if args.check:
        if received is None:
            print("check: FAILED: the record count is known only for the script's own `zerobus serve`")
            return 1
        if not received == result.ingested == result.produced == args.rows:
            print(
                f"check: FAILED: asked for {args.rows} rows; dlt produced {result.produced}, "
                f"the destination ingested {result.ingested}, the server received {received}"
            )
            return 1
        print("check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
