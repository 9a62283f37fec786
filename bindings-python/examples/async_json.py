"""Ingest JSON rows with the asyncio SDK, and print what was acknowledged.

Run it against ``zerobus serve`` like ``sync_json.py`` (the same four environment variables)::

    python examples/async_json.py

The awaitables are completed by the Rust core on the running loop: no thread per call. Calls
that are not awaited one by one keep their order, and ``flush()`` covers them all.
"""

import asyncio
import os
from typing import Any, Dict, List

from zerobus.sdk.aio import ZerobusSdk
from zerobus.sdk.shared import TableProperties

TABLE = os.environ.get("ZEROBUS_TABLE", "main.default.events")


def row(i: int) -> Dict[str, Any]:
    return {"device_name": f"sensor-{i % 10}", "temp": 20 + i % 15, "humidity": 40 + i % 30}


async def main() -> None:
    records = 0
    async with ZerobusSdk(os.environ["ZEROBUS_ENDPOINT"], os.environ["ZEROBUS_WORKSPACE_URL"]) as sdk:
        stream = await sdk.create_stream(
            os.environ["ZEROBUS_CLIENT_ID"], os.environ["ZEROBUS_CLIENT_SECRET"], TableProperties(TABLE)
        )
        async with stream:
            last = -1
            for i in range(1000):
                last = await stream.ingest_record_offset(row(i))
                records += 1
            batch: List[Dict[str, Any]] = [row(i) for i in range(1000)]
            for _ in range(10):
                # Fire and forget: queued (or in line) when the call returns; no await needed.
                stream.ingest_records_nowait(batch)
                records += len(batch)
            await stream.wait_for_offset(last)  # the single records are durable
            await stream.flush()  # and so is everything else
            acked = stream.metrics().last_acked_offset
    print(f"acked: {records} records, last acked offset {acked}")


if __name__ == "__main__":
    asyncio.run(main())
