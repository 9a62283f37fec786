"""Ingest JSON rows into a table with the blocking SDK, and print what was acknowledged.

Start a local Zerobus and export what it prints, then run this::

    zerobus serve                  # prints ZEROBUS_ENDPOINT=... and three more lines
    export ZEROBUS_ENDPOINT=... ZEROBUS_WORKSPACE_URL=... ZEROBUS_CLIENT_ID=... ZEROBUS_CLIENT_SECRET=...
    python examples/sync_json.py

Rows are plain dicts: the SDK writes them as JSON in Rust (datetimes as RFC 3339 strings), so no
``json.dumps`` runs in Python. A batch crosses into Rust in one call.
"""

import datetime
import os
import threading
from typing import Any, Dict, List

from zerobus.sdk.shared import AckCallback, StreamConfigurationOptions, TableProperties
from zerobus.sdk.sync import ZerobusSdk

TABLE = os.environ.get("ZEROBUS_TABLE", "main.default.events")


class AckCounter(AckCallback):
    """Counts acknowledged ingest calls (a batch is one call). Runs on a core thread."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def on_ack(self, offset: int) -> None:
        with self.lock:
            self.calls += 1

    def on_error(self, offset: int, error_message: str) -> None:
        print(f"call {offset} failed: {error_message}")


def row(i: int) -> Dict[str, Any]:
    return {
        "device_name": f"sensor-{i % 10}",
        "temp": 20 + i % 15,
        "humidity": 40 + i % 30,
        "at": datetime.datetime.now(datetime.timezone.utc),
    }


def main() -> None:
    counter = AckCounter()
    options = StreamConfigurationOptions(ack_callback=counter)
    records = 0
    with ZerobusSdk(os.environ["ZEROBUS_ENDPOINT"], os.environ["ZEROBUS_WORKSPACE_URL"]) as sdk:
        with sdk.create_stream(
            os.environ["ZEROBUS_CLIENT_ID"],
            os.environ["ZEROBUS_CLIENT_SECRET"],
            TableProperties(TABLE),
            options,
        ) as stream:
            # One record per call: the offset comes back once it is queued.
            for i in range(1000):
                stream.ingest_record_offset(row(i))
                records += 1
            # A batch per call: one offset for all of it.
            batch: List[Dict[str, Any]] = [row(i) for i in range(1000)]
            for _ in range(10):
                stream.ingest_records_offset(batch)
                records += len(batch)
            stream.flush()  # every record above is durable once this returns
        # Leaving the block closed the stream: every callback has run.
    print(f"acked: {records} records in {counter.calls} calls")


if __name__ == "__main__":
    main()
