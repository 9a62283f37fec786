"""Ingest a pyarrow Table into a table over an Arrow stream, and print what was acknowledged.

Start a local Zerobus with the table declared, export what it prints, then run this::

    zerobus serve --table 'main.default.air_quality(device_name STRING NOT NULL, temp INT, at TIMESTAMP)'
    export ZEROBUS_ENDPOINT=... ZEROBUS_WORKSPACE_URL=... ZEROBUS_CLIENT_ID=... ZEROBUS_CLIENT_SECRET=...
    pip install pyarrow
    python examples/arrow_table.py

The stream's schema is read from the table (``schema=None``): STRING is ``large_string``, INT is
``int32``, TIMESTAMP is ``timestamp("us", "UTC")``. A Table crosses into Rust through the Arrow
C Stream interface, without a copy or an IPC round trip, and however many chunks it has it is one
call with one offset.
"""

import datetime
import os
import threading

import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

from zerobus.sdk.shared import AckCallback, ArrowStreamConfigurationOptions, IpcCompression
from zerobus.sdk.sync import ZerobusSdk

TABLE = os.environ.get("ZEROBUS_TABLE", "main.default.air_quality")
ROWS = 100_000


class AckCounter(AckCallback):
    """Counts acknowledged ingest calls (a Table is one call). Runs on a core thread."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def on_ack(self, offset: int) -> None:
        with self.lock:
            self.calls += 1

    def on_error(self, offset: int, error_message: str) -> None:
        print(f"call {offset} failed: {error_message}")


def readings(start: int, rows: int) -> "pa.Table":
    now = datetime.datetime.now(datetime.timezone.utc)
    return pa.table(
        {
            "device_name": pa.array([f"sensor-{i % 10}" for i in range(start, start + rows)], pa.large_string()),
            "temp": pa.array([20 + i % 15 for i in range(start, start + rows)], pa.int32()),
            "at": pa.array([now] * rows, pa.timestamp("us", tz="UTC")),
        }
    )


def main() -> None:
    counter = AckCounter()
    options = ArrowStreamConfigurationOptions(ack_callback=counter, ipc_compression=IpcCompression.LZ4_FRAME)
    with ZerobusSdk(os.environ["ZEROBUS_ENDPOINT"], os.environ["ZEROBUS_WORKSPACE_URL"]) as sdk:
        with sdk.create_arrow_stream(
            TABLE, None, os.environ["ZEROBUS_CLIENT_ID"], os.environ["ZEROBUS_CLIENT_SECRET"], options
        ) as stream:
            print("schema from the table:", stream.schema.to_string().replace("\n", ", "))
            # Ten chunks of 10,000 rows: one call, one offset.
            table = pa.Table.from_batches(readings(0, ROWS).to_batches(max_chunksize=10_000))
            offset = stream.ingest_batch(table)
            # A RecordBatch per call: one offset each.
            for batch in readings(ROWS, 5_000).to_batches(max_chunksize=1_000):
                offset = stream.ingest_batch(batch)
            stream.wait_for_offset(offset)  # durable, and every call before it
        # Leaving the block flushed and closed the stream: every callback has run.
        rows = stream.metrics().records_sent
    print(f"acked: {rows} rows in {counter.calls} calls")


if __name__ == "__main__":
    main()
