"""The Python half of `make demo` (scripts/demo.sh), run with the test virtualenv's Python:

    demo.py rows START N OUT.jsonl    trips START..START+N-1 as JSON lines
    demo.py parquet START N OUT       the same trips as a Parquet file (pyarrow)
    demo.py ingest START N            the same trips as a pyarrow Table through the Python
                                      binding's Arrow stream (ZEROBUS_* from `zerobus serve`)
    demo.py check DIR TABLE ROWS      reads the Delta table with the `deltalake` package (a
                                      reader we did not write) and checks it holds ROWS rows
"""

import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

VENDORS = ["CMT", "VTS", "DDS"]
#: 2026-12-01 00:00:00 UTC in microseconds.
START_US = 1_796_083_200_000_000


def trip(i: int) -> dict:
    return {
        "trip_id": i,
        "vendor": VENDORS[i % 3],
        "fare": round(2.5 + (i % 400) * 0.25, 2),
        "pickup": START_US + i * 1_000_000,
        "tags": ["airport"] if i % 7 == 0 else [],
    }


def table(start: int, n: int) -> pa.Table:
    trips = [trip(i) for i in range(start, start + n)]
    return pa.table(
        {
            "trip_id": pa.array([t["trip_id"] for t in trips], pa.int64()),
            "vendor": pa.array([t["vendor"] for t in trips], pa.large_string()),
            "fare": pa.array([t["fare"] for t in trips], pa.float64()),
            "pickup": pa.array([t["pickup"] for t in trips], pa.timestamp("us", tz="UTC")),
            "tags": pa.array([t["tags"] for t in trips], pa.list_(pa.field("element", pa.large_string()))),
        }
    )


def main() -> None:
    command, args = sys.argv[1], sys.argv[2:]
    if command == "rows":
        start, n, out = int(args[0]), int(args[1]), args[2]
        with open(out, "w") as f:
            for i in range(start, start + n):
                f.write(json.dumps(trip(i)) + "\n")
    elif command == "parquet":
        pq.write_table(table(int(args[0]), int(args[1])), args[2])
    elif command == "ingest":
        from zerobus.sdk.sync import ZerobusSdk

        env = os.environ
        with ZerobusSdk(env["ZEROBUS_ENDPOINT"], env["ZEROBUS_WORKSPACE_URL"]) as sdk:
            with sdk.create_arrow_stream(
                env["ZEROBUS_TABLE"], None, env["ZEROBUS_CLIENT_ID"], env["ZEROBUS_CLIENT_SECRET"]
            ) as stream:
                data = table(int(args[0]), int(args[1])).cast(stream.schema)
                offset = stream.ingest_batch(data)
                stream.wait_for_offset(offset)
            print(f"python: {data.num_rows} rows in one ingest_batch call, acknowledged")
    elif command == "check":
        from deltalake import DeltaTable

        path, name, rows = Path(args[0]).joinpath(*args[1].split(".")), args[1], int(args[2])
        delta = DeltaTable(str(path))
        read = delta.to_pyarrow_table()
        ids = read.column("trip_id").to_pylist()
        print(
            f"deltalake {__import__('deltalake').__version__} reads {name} at version {delta.version()}: "
            f"{read.num_rows} rows, {len(set(ids))} distinct trip ids"
        )
        if read.num_rows != rows or sorted(ids) != list(range(rows)):
            sys.exit(f"demo: the Delta table holds {read.num_rows} rows, expected trips 0..{rows - 1} once each")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
