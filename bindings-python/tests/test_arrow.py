"""Arrow streams (Arrow Flight `DoPut`) against a real `zerobus serve` with a declared table:
pyarrow data through the Arrow PyCapsule interface (one call, one offset), IPC bytes, the schema
from the table, schema errors that name the column, compression, callbacks, backpressure, and
the unacknowledged rows after a terminal failure (sync and asyncio)."""

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, List

import pyarrow as pa
import pytest

from conftest import Server
from zerobus.sdk import aio
from zerobus.sdk.shared import (
    AckCallback,
    ArrowStreamConfigurationOptions,
    IPCCompression,
    IpcCompression,
    NonRetriableException,
    ZerobusException,
)
from zerobus.sdk.sync import ZerobusArrowStream, ZerobusSdk

TABLE = "main.default.cars"
DEFINITION = TABLE + "(name STRING NOT NULL, seats INT)"
#: The table's Arrow schema (PROTOCOL.md §9: STRING → large_string, INT → int32).
SCHEMA = pa.schema([pa.field("name", pa.large_string(), nullable=False), pa.field("seats", pa.int32())])


def cars(start: int, rows: int) -> pa.RecordBatch:
    """Rows start..start+rows-1; row i has seats == i, so the rows can be checked one by one."""
    return pa.record_batch(
        {"name": [f"car-{i}" for i in range(start, start + rows)], "seats": list(range(start, start + rows))},
        schema=SCHEMA,
    )


def ipc(*batches: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, SCHEMA) as writer:
        for b in batches:
            writer.write_batch(b)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def seats(batches: List[pa.RecordBatch]) -> List[int]:
    return [s for b in batches for s in b.column("seats").to_pylist()]


@pytest.fixture(scope="module")
def cars_server() -> Iterator[Server]:
    s = Server("--table", DEFINITION)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def silent_cars() -> Iterator[Server]:
    """Takes batches but never acknowledges them."""
    s = Server("--table", DEFINITION, "--withhold-acks")
    yield s
    s.stop()


def open_stream(server: Server, schema: Any = SCHEMA, **options: Any) -> ZerobusArrowStream:
    sdk = ZerobusSdk(server.endpoint, server.workspace)
    return sdk.create_arrow_stream(
        TABLE, schema, server.client_id, server.client_secret, ArrowStreamConfigurationOptions(**options)
    )


def test_each_call_is_one_offset_and_every_row_arrives(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    server = Server("--table", DEFINITION, "--stats-file", str(stats))
    try:
        with open_stream(server) as stream:
            table = pa.Table.from_batches([cars(0, 3), cars(3, 4), cars(7, 5)])
            assert table.column("seats").num_chunks == 3
            assert stream.ingest_batch(table) == 0, "a table of three batches is one call"
            assert stream.ingest_batch(cars(12, 2)) == 1
            assert stream.ingest_batch(ipc(cars(14, 1), cars(15, 2))) == 2, "IPC bytes, one call"
            assert stream.ingest_ipc_batch(memoryview(ipc(cars(17, 3)))) == 3
            assert stream.ingest_ipc_batch(bytearray(ipc(cars(20, 1)))) == 4
            stream.wait_for_offset(2)
            stream.flush()
            m = stream.metrics()
            assert (m.last_acked_offset, m.records_sent, m.inflight_records) == (4, 21, 0), m
            assert stream.get_unacked_batches() == []
            assert stream.table_name == TABLE
        assert stream.is_closed
    finally:
        server.stop()
    assert json.loads(stats.read_text())["tables"][TABLE]["records"] == 21


def test_any_pycapsule_producer_is_taken(cars_server: Server) -> None:
    class OnlyStream:
        """What Polars or DuckDB hand over: `__arrow_c_stream__` and nothing of pyarrow's."""

        def __init__(self, table: pa.Table) -> None:
            self.table = table

        def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
            return self.table.__arrow_c_stream__(requested_schema)

    def generated() -> Iterator[pa.RecordBatch]:
        # A producer written in Python: it needs the GIL while the core reads it without.
        for i in range(3):
            yield cars(100 + 2 * i, 2)

    with open_stream(cars_server) as stream:
        assert stream.ingest_batch(OnlyStream(pa.Table.from_batches([cars(0, 2), cars(2, 2)]))) == 0
        assert stream.ingest_batch(pa.RecordBatchReader.from_batches(SCHEMA, generated())) == 1
        assert stream.ingest_batch(pa.Table.from_batches([], schema=SCHEMA)) == 2, "no rows is a call too"
        stream.flush()
        assert stream.metrics().records_sent == 10


def test_the_schema_can_come_from_the_table_or_as_ipc(cars_server: Server) -> None:
    with open_stream(cars_server, schema=None) as stream:
        assert stream.schema == SCHEMA
        assert stream.ingest_batch(cars(0, 5)) == 0
    with open_stream(cars_server, schema=SCHEMA.serialize().to_pybytes()) as stream:
        assert stream.schema == SCHEMA
        assert stream.ingest_batch(cars(0, 5)) == 0
    with pytest.raises(NonRetriableException) as caught:
        open_stream(cars_server, schema={"name": "string"})
    assert caught.value.code == "INVALID_ARGUMENT" and "__arrow_c_schema__" in str(caught.value)


def test_a_wrong_column_type_names_the_column_and_queues_nothing(cars_server: Server) -> None:
    with open_stream(cars_server) as stream:
        assert stream.ingest_batch(cars(0, 1)) == 0
        wrong = pa.record_batch(
            {"name": pa.array(["x"], pa.large_string()), "seats": pa.array([1], pa.int64())}
        )
        with pytest.raises(NonRetriableException) as caught:
            stream.ingest_batch(wrong)
        assert caught.value.code == "INVALID_RECORD"
        assert "seats" in str(caught.value) and "Int32" in str(caught.value) and "Int64" in str(caught.value)
        with pytest.raises(NonRetriableException, match="seats"):
            stream.ingest_batch(pa.Table.from_batches([wrong, wrong]))
        with pytest.raises(NonRetriableException) as bad_ipc:
            stream.ingest_ipc_batch(b"not arrow")
        assert bad_ipc.value.code == "INVALID_RECORD"
        assert stream.ingest_batch(cars(1, 1)) == 1, "the failed calls took no offset"
        stream.flush()
        assert stream.metrics().records_sent == 2, "nothing of a failed call was sent"


def test_pyarrow_default_strings_are_widened_to_the_tables_large_strings(cars_server: Server) -> None:
    # pa.table infers `string` (Utf8); the table maps STRING to large_string. Core widens it.
    small = pa.table({"name": pa.array(["a", "b"]), "seats": pa.array([1, 2], pa.int32())})
    assert small.schema.field("name").type == pa.string()
    with open_stream(cars_server) as stream:
        assert stream.ingest_batch(small) == 0
        assert stream.ingest_batch(small.to_batches()[0]) == 1
        stream.flush()
        assert stream.metrics().records_sent == 4


def test_what_is_not_arrow_data_is_refused_by_its_type(cars_server: Server) -> None:
    with open_stream(cars_server) as stream:
        with pytest.raises(NonRetriableException) as caught:
            stream.ingest_batch([{"name": "a", "seats": 1}])
        assert caught.value.code == "INVALID_ARGUMENT"
        assert "__arrow_c_stream__" in str(caught.value) and "list" in str(caught.value)
        with pytest.raises(NonRetriableException, match="record batch"):
            stream.ingest_batch(pa.array([1, 2, 3], pa.int32()))  # an array, not a batch
        with pytest.raises(NonRetriableException, match="bytes"):
            stream.ingest_ipc_batch("text")  # type: ignore[arg-type]


def test_compression_by_enum_or_name(cars_server: Server) -> None:
    assert IPCCompression is IpcCompression, "the published name"
    for i, compression in enumerate([IpcCompression.LZ4_FRAME, IpcCompression.ZSTD, "lz4_frame", "zstd", "none"]):
        with open_stream(cars_server, ipc_compression=compression) as stream:
            assert stream.ingest_batch(pa.Table.from_batches([cars(i * 1000, 500), cars(i * 1000 + 500, 500)])) == 0
            stream.flush()
            assert stream.metrics().records_sent == 1000
    with pytest.raises(NonRetriableException) as caught:
        open_stream(cars_server, ipc_compression="gzip")
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "ipc_compression" in str(caught.value) and "zstd" in str(caught.value)


def test_defaults_are_the_cores_and_ranges_are_checked_by_it(cars_server: Server) -> None:
    o = ArrowStreamConfigurationOptions()
    assert (o.max_inflight_batches, o.connection_timeout_ms, o.ipc_compression) == (1000, 30000, IpcCompression.NONE)
    assert (o.recovery, o.recovery_retries, o.flush_timeout_ms) == (True, 4, 300000)
    assert "max_inflight_batches=1000" in repr(o)
    with pytest.raises(NonRetriableException, match="max_inflight_batches"):
        open_stream(cars_server, max_inflight_batches=100_000_001)
    with pytest.raises(NonRetriableException, match="connection_timeout_ms"):
        open_stream(cars_server, connection_timeout_ms=0)
    with pytest.raises(TypeError):
        ArrowStreamConfigurationOptions(1000)  # type: ignore[misc]  # keyword-only, as published


class Acks(AckCallback):
    def __init__(self) -> None:
        self.acked: List[int] = []
        self.errors: List[int] = []

    def on_ack(self, offset: int) -> None:
        self.acked.append(offset)

    def on_error(self, offset: int, error_message: str) -> None:
        self.errors.append(offset)


def test_ack_callbacks_hear_of_every_call(cars_server: Server) -> None:
    cb = Acks()
    with open_stream(cars_server, ack_callback=cb) as stream:
        for i in range(5):
            stream.ingest_batch(pa.Table.from_batches([cars(i * 10, 3), cars(i * 10 + 3, 3)]))
    assert cb.acked == [0, 1, 2, 3, 4] and cb.errors == [], "close() returns after the last callback"


def test_a_full_stream_waits_for_room(silent_cars: Server) -> None:
    stream = open_stream(silent_cars, max_inflight_batches=2, flush_timeout_ms=300)
    stream.ingest_batch(cars(0, 1))
    stream.ingest_batch(cars(1, 1))
    done = threading.Event()
    threading.Thread(target=lambda: (stream.ingest_batch(cars(2, 1)), done.set()), daemon=True).start()
    assert not done.wait(0.5), "the third call waits for room"
    assert stream.metrics().inflight_requests == 2


def test_unacked_rows_after_a_terminal_failure_are_batches_and_ipc() -> None:
    server = Server("--table", DEFINITION, "--withhold-acks")
    stopped = False
    try:
        cb = Acks()
        stream = open_stream(server, recovery=False, ack_callback=cb, callback_max_wait_time_ms=2000)
        assert stream.ingest_batch(pa.Table.from_batches([cars(0, 2), cars(2, 3)])) == 0
        assert stream.ingest_batch(cars(5, 4)) == 1
        server.proc.kill()  # the connection drops, and without recovery the stream fails for good
        server.proc.wait(timeout=10)
        stopped = True
        with pytest.raises(ZerobusException):
            stream.flush()
        assert stream.is_closed
        with pytest.raises(ZerobusException):
            stream.ingest_batch(cars(9, 1))
        unacked = stream.get_unacked_batches()
        assert all(isinstance(b, pa.RecordBatch) and b.schema == SCHEMA for b in unacked)
        assert seats(unacked) == list(range(9)), "every unacked row, in order"
        assert unacked[0].column("name").to_pylist()[:2] == ["car-0", "car-1"]
        from_ipc = pa.ipc.open_stream(stream.get_unacked_ipc()).read_all()
        assert from_ipc.schema == SCHEMA and from_ipc.column("seats").to_pylist() == list(range(9))
        with pytest.raises(ZerobusException):
            stream.close()
        assert sorted(cb.errors) == [0, 1] and cb.acked == []
    finally:
        if not stopped:
            server.stop()


def test_recreate_queues_the_unacked_rows_again(silent_cars: Server) -> None:
    sdk = ZerobusSdk(silent_cars.endpoint, silent_cars.workspace)
    old = sdk.create_arrow_stream(
        TABLE, SCHEMA, silent_cars.client_id, silent_cars.client_secret,
        ArrowStreamConfigurationOptions(flush_timeout_ms=200),
    )
    old.ingest_batch(cars(0, 3))
    old.ingest_batch(cars(3, 2))
    with pytest.raises(NonRetriableException, match="close it first"):
        sdk.recreate_arrow_stream(old)
    with pytest.raises(ZerobusException):
        old.close()  # the acks never come
    new = sdk.recreate_arrow_stream(old)
    assert seats(new.get_unacked_batches()) == seats(old.get_unacked_batches()) == list(range(5))
    assert new.schema == SCHEMA


def test_a_headers_provider_replaces_oauth(cars_server: Server) -> None:
    from test_sync import Headers, dev_token

    provider = Headers(dev_token(cars_server))
    sdk = ZerobusSdk(cars_server.endpoint, cars_server.workspace)
    with sdk.create_arrow_stream_with_headers_provider(TABLE, SCHEMA, provider) as stream:
        assert stream.ingest_batch(cars(0, 2)) == 0
    assert provider.calls >= 1


def test_the_sdk_closes_its_arrow_streams(cars_server: Server) -> None:
    with ZerobusSdk(cars_server.endpoint, cars_server.workspace) as sdk:
        a = sdk.create_arrow_stream(TABLE, SCHEMA, cars_server.client_id, cars_server.client_secret)
        a.ingest_batch(cars(0, 1))
    assert a.is_closed


def test_asyncio_arrow_streams(cars_server: Server, silent_cars: Server) -> None:
    async def main() -> None:
        s = cars_server
        async with aio.ZerobusSdk(s.endpoint, s.workspace) as sdk:
            stream = await sdk.create_arrow_stream(TABLE, None, s.client_id, s.client_secret)
            async with stream:
                assert stream.schema == SCHEMA
                assert await stream.ingest_batch(pa.Table.from_batches([cars(0, 2), cars(2, 2)])) == 0
                assert await stream.ingest_ipc_batch(ipc(cars(4, 1))) == 1
                # Calls not awaited one by one keep their order: each takes its place when made.
                offsets = await asyncio.gather(*(stream.ingest_batch(cars(5 + i, 1)) for i in range(5)))
                assert offsets == [2, 3, 4, 5, 6]
                await stream.wait_for_offset(1)
                await stream.flush()
                assert await stream.get_unacked_batches() == []
                assert stream.metrics().records_sent == 10
            assert stream.is_closed

        q = silent_cars
        sdk2 = aio.ZerobusSdk(q.endpoint, q.workspace)
        full = await sdk2.create_arrow_stream(
            TABLE, SCHEMA, q.client_id, q.client_secret,
            ArrowStreamConfigurationOptions(max_inflight_batches=1, flush_timeout_ms=200),
        )
        await full.ingest_batch(cars(0, 1))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(full.ingest_batch(cars(1, 1)), 0.3)  # waits for room: cancelled
        assert seats(await full.get_unacked_batches()) == [0], "a cancelled call gives up its place"
        assert pa.ipc.open_stream(await full.get_unacked_ipc()).read_all().num_rows == 1
        with pytest.raises(ZerobusException):
            await full.close()
        again = await sdk2.recreate_arrow_stream(full)
        assert seats(await again.get_unacked_batches()) == [0]

    asyncio.run(main())


def test_pyarrow_is_optional(cars_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    code = (
        "import sys\n"
        "import zerobus.sdk.sync, zerobus.sdk.aio, zerobus.sdk.shared.arrow\n"
        "assert 'pyarrow' not in sys.modules, 'importing the SDK imports pyarrow'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    with open_stream(cars_server) as stream:
        stream.ingest_batch(cars(0, 1))
        monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now fails
        with pytest.raises(ImportError, match="pip install pyarrow"):
            stream.get_unacked_batches()
        assert stream.get_unacked_ipc()[:4] == b"\xff\xff\xff\xff", "the IPC form needs no pyarrow"


def test_the_example_prints_the_acked_rows() -> None:
    import os

    from conftest import example

    server = Server("--table", "main.default.air_quality(device_name STRING NOT NULL, temp INT, at TIMESTAMP)")
    try:
        done = subprocess.run(
            example("arrow_table.py"), env={**os.environ, **server.env}, capture_output=True, text=True, timeout=60
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert "acked: 105000 rows in 6 calls" in done.stdout
