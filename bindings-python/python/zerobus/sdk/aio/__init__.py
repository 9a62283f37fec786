"""The asyncio SDK. Every awaitable is completed by the core on the running loop (no thread per
call); cancelling one cancels the core call, and an ingest still waiting for room gives up its
place in line and queues nothing.

Example::

    from zerobus.sdk.aio import ZerobusSdk
    from zerobus.sdk.shared import TableProperties

    async with ZerobusSdk(host, unity_catalog_url) as sdk:
        stream = await sdk.create_stream(client_id, client_secret, TableProperties("main.default.events"))
        async with stream:
            offset = await stream.ingest_record_offset({"id": 1})
            await stream.ingest_records_offset(rows)
            await stream.wait_for_offset(offset)

        arrow = await sdk.create_arrow_stream("main.default.events", table.schema, client_id, client_secret)
        async with arrow:
            await arrow.ingest_batch(table)       # a pyarrow Table: one call, one offset
"""

import weakref
from typing import Any, Awaitable, Iterable, List, Optional, Sequence, Union

from zerobus import _asyncio, _core
from zerobus.sdk.shared import (
    AckCallback,
    ArrowStreamConfigurationOptions,
    HeadersProvider,
    IPCCompression,
    IpcCompression,
    NonRetriableException,
    RecordType,
    StreamConfigurationOptions,
    StreamMetrics,
    TableProperties,
    TableSchema,
    ZerobusException,
)

__all__ = [
    "AckCallback",
    "ArrowStreamConfigurationOptions",
    "HeadersProvider",
    "IPCCompression",
    "IpcCompression",
    "NonRetriableException",
    "RecordType",
    "StreamConfigurationOptions",
    "StreamMetrics",
    "TableProperties",
    "TableSchema",
    "ZerobusArrowStream",
    "ZerobusException",
    "ZerobusSdk",
    "ZerobusStream",
]


class ZerobusStream:
    """An ingest stream into one table, for asyncio. A record is a ``dict`` (written as JSON in
    Rust), a ``str`` (JSON text), ``bytes`` (an encoded proto message) or a protobuf message.

    Calls keep their order even when not awaited one by one: each takes its place in line when
    it is made."""

    __slots__ = ("_native", "__weakref__")

    def __init__(self, native: _core.ZerobusStream) -> None:
        self._native = native

    async def ingest_record_offset(self, record: Any) -> int:
        """Queues one record; its offset once queued (waits while the in-flight bounds are reached)."""
        queued = self._native._queue(record)
        if isinstance(queued, int):
            return queued
        offset: int = await _asyncio.run(lambda loop, fut: queued._wait_async(loop, fut, True))
        return offset

    def ingest_record_nowait(self, record: Any) -> Awaitable[None]:
        """Queues one record now, or takes its place in line when the bounds are reached (then
        queued by the core as room appears; ``flush()`` and ``close()`` cover it). Returns an
        awaitable that ends once it is queued: await it for backpressure, or ignore it."""
        queued = self._native._queue(record)
        if isinstance(queued, int):
            return _asyncio.DONE
        return _asyncio.in_line(queued, False)

    async def ingest_records_offset(self, records: Iterable[Any]) -> Optional[int]:
        """Queues a batch under one offset, in one call into the core; ``None`` for an empty one."""
        queued = self._native._queue_batch(records)
        if queued is None or isinstance(queued, int):
            return queued
        offset: int = await _asyncio.run(lambda loop, fut: queued._wait_async(loop, fut, True))
        return offset

    def ingest_records_nowait(self, records: Iterable[Any]) -> Awaitable[None]:
        """``ingest_record_nowait`` for a batch."""
        queued = self._native._queue_batch(records)
        if queued is None or isinstance(queued, int):
            return _asyncio.DONE
        return _asyncio.in_line(queued, False)

    def try_ingest_record_offset(self, record: Any) -> int:
        """Queues one record if the in-flight bounds allow it now, else raises ``QUEUE_FULL``
        (retryable) at once and queues nothing. Never waits, so it needs no ``await``."""
        return self._native.try_ingest_record_offset(record)

    def try_ingest_records_offset(self, records: Iterable[Any]) -> Optional[int]:
        """``try_ingest_record_offset`` for a batch under one offset."""
        return self._native.try_ingest_records_offset(records)

    async def wait_for_offset(self, offset: int) -> None:
        """Waits until ``offset`` is acknowledged."""
        await _asyncio.run(lambda loop, fut: self._native._wait_for_offset_async(offset, loop, fut))

    async def flush(self) -> None:
        """Waits until every record ingested before this call is acknowledged."""
        await _asyncio.run(self._native._flush_async)

    async def close(self) -> None:
        """Flushes and closes. Cancelling the wait does not stop the close, which runs to its end."""
        await _asyncio.run_to_end(self._native._close_async)

    async def get_unacked_records(self) -> List[bytes]:
        """The records of every unacknowledged call, in offset order."""
        return self._native.get_unacked_records()

    async def get_unacked_batches(self) -> List[List[bytes]]:
        """Every unacknowledged call as its list of records, in offset order."""
        return self._native.get_unacked_batches()

    @property
    def stream_id(self) -> str:
        """The server's id for the current connection."""
        return self._native.stream_id

    @property
    def table_name(self) -> str:
        """The table this stream writes to."""
        return self._native.table_name

    @property
    def table_schema(self) -> Optional[TableSchema]:
        """The table's schema when the stream was created from the table, else None."""
        return self._native.table_schema

    @property
    def is_closed(self) -> bool:
        """Whether the stream no longer accepts records."""
        return self._native.is_closed

    def metrics(self) -> StreamMetrics:
        """A snapshot of the stream's counters."""
        return self._native.metrics()

    async def __aenter__(self) -> "ZerobusStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return repr(self._native)


class ZerobusArrowStream:
    """An Arrow stream into one table, for asyncio (see ``zerobus.sdk.sync.ZerobusArrowStream``).
    Each ``ingest_batch`` is one call and one offset; calls keep their order even when not
    awaited one by one: each takes its place in line when it is made (the Arrow data is read and
    encoded then, before the first ``await``)."""

    __slots__ = ("_native", "__weakref__")

    def __init__(self, native: _core.ZerobusArrowStream) -> None:
        self._native = native

    async def ingest_batch(self, data: Any) -> int:
        """Queues Arrow data as one call: anything with ``__arrow_c_stream__`` (a pyarrow
        ``Table`` or ``RecordBatchReader``, Polars, DuckDB) or ``__arrow_c_array__`` (a pyarrow
        ``RecordBatch``), or an Arrow IPC stream as ``bytes``. Its offset once queued."""
        queued = self._native._queue_batch(data)
        if isinstance(queued, int):
            return queued
        offset: int = await _asyncio.run(lambda loop, fut: queued._wait_async(loop, fut, True))
        return offset

    async def ingest_ipc_batch(self, data: Union[bytes, bytearray, memoryview]) -> int:
        """Queues an Arrow IPC stream (schema, then record batches) as one call, sent as it is."""
        queued = self._native._queue_ipc_batch(data)
        if isinstance(queued, int):
            return queued
        offset: int = await _asyncio.run(lambda loop, fut: queued._wait_async(loop, fut, True))
        return offset

    async def wait_for_offset(self, offset: int) -> None:
        """Waits until ``offset`` is acknowledged."""
        await _asyncio.run(lambda loop, fut: self._native._wait_for_offset_async(offset, loop, fut))

    async def flush(self) -> None:
        """Waits until every batch ingested before this call is acknowledged."""
        await _asyncio.run(self._native._flush_async)

    async def close(self) -> None:
        """Flushes and closes. Cancelling the wait does not stop the close, which runs to its end."""
        await _asyncio.run_to_end(self._native._close_async)

    async def get_unacked_batches(self) -> List[Any]:
        """The unacknowledged rows as ``pyarrow.RecordBatch``es, in offset order (needs pyarrow)."""
        return self._native.get_unacked_batches()

    async def get_unacked_ipc(self) -> bytes:
        """The unacknowledged rows as one Arrow IPC stream."""
        return self._native.get_unacked_ipc()

    @property
    def schema(self) -> Any:
        """The schema batches must have, as a ``pyarrow.Schema`` (needs pyarrow)."""
        return self._native.schema

    @property
    def table_name(self) -> str:
        """The table this stream writes to."""
        return self._native.table_name

    @property
    def is_closed(self) -> bool:
        """Whether the stream no longer accepts batches."""
        return self._native.is_closed

    def metrics(self) -> StreamMetrics:
        """A snapshot of the stream's counters (records are rows)."""
        return self._native.metrics()

    async def __aenter__(self) -> "ZerobusArrowStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return repr(self._native)


class ZerobusSdk:
    """As ``zerobus.sdk.sync.ZerobusSdk``, with awaitables. ``async with`` closes the streams it
    opened that are still open."""

    def __init__(
        self,
        host: str,
        unity_catalog_url: str,
        application_name: Optional[str] = None,
        *,
        ca_certificates_pem: Optional[Sequence[bytes]] = None,
    ) -> None:
        pems = list(ca_certificates_pem) if ca_certificates_pem is not None else None
        self._native = _core.Sdk(host, unity_catalog_url, application_name, pems)
        self._streams: "weakref.WeakSet[Union[ZerobusStream, ZerobusArrowStream]]" = weakref.WeakSet()

    async def create_stream(
        self,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        table_properties: Optional[TableProperties] = None,
        options: Optional[StreamConfigurationOptions] = None,
        headers_provider: Optional[HeadersProvider] = None,
    ) -> ZerobusStream:
        """Opens a stream (see ``zerobus.sdk.sync.ZerobusSdk.create_stream``)."""
        if table_properties is None:
            raise TypeError("create_stream() needs table_properties")
        table = table_properties
        native: _core.ZerobusStream = await _asyncio.run(
            lambda loop, fut: self._native._create_stream_async(
                table.table_name,
                table.descriptor_proto,
                client_id,
                client_secret,
                options,
                headers_provider,
                loop,
                fut,
            )
        )
        stream = ZerobusStream(native)
        self._streams.add(stream)
        return stream

    async def get_table_schema(
        self,
        table_name: str,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        headers_provider: Optional[HeadersProvider] = None,
    ) -> TableSchema:
        """Reads ``table_name``'s schema (see ``zerobus.sdk.sync.ZerobusSdk.get_table_schema``)."""
        schema: TableSchema = await _asyncio.run(
            lambda loop, fut: self._native._get_table_schema_async(
                table_name, client_id, client_secret, headers_provider, loop, fut
            )
        )
        return schema

    async def recreate_stream(self, old_stream: ZerobusStream) -> ZerobusStream:
        """A new stream that first sends again what ``old_stream`` left unacknowledged."""
        native: _core.ZerobusStream = await _asyncio.run(
            lambda loop, fut: self._native._recreate_stream_async(old_stream._native, loop, fut)
        )
        stream = ZerobusStream(native)
        self._streams.add(stream)
        return stream

    async def create_arrow_stream(
        self,
        table_name: str,
        schema: Any,
        client_id: str,
        client_secret: str,
        options: Optional[ArrowStreamConfigurationOptions] = None,
    ) -> ZerobusArrowStream:
        """Opens an Arrow stream (see ``zerobus.sdk.sync.ZerobusSdk.create_arrow_stream``)."""
        return await self._open_arrow(table_name, schema, client_id, client_secret, options, None)

    async def create_arrow_stream_with_headers_provider(
        self,
        table_name: str,
        schema: Any,
        headers_provider: HeadersProvider,
        options: Optional[ArrowStreamConfigurationOptions] = None,
    ) -> ZerobusArrowStream:
        """``create_arrow_stream`` authenticated by ``headers_provider`` instead of OAuth."""
        return await self._open_arrow(table_name, schema, None, None, options, headers_provider)

    async def _open_arrow(
        self,
        table_name: str,
        schema: Any,
        client_id: Optional[str],
        client_secret: Optional[str],
        options: Optional[ArrowStreamConfigurationOptions],
        headers_provider: Optional[HeadersProvider],
    ) -> ZerobusArrowStream:
        native: _core.ZerobusArrowStream = await _asyncio.run(
            lambda loop, fut: self._native._create_arrow_stream_async(
                table_name, schema, client_id, client_secret, options, headers_provider, loop, fut
            )
        )
        stream = ZerobusArrowStream(native)
        self._streams.add(stream)
        return stream

    async def recreate_arrow_stream(self, old_stream: ZerobusArrowStream) -> ZerobusArrowStream:
        """A new Arrow stream that first queues again what ``old_stream`` left unacknowledged."""
        native: _core.ZerobusArrowStream = await _asyncio.run(
            lambda loop, fut: self._native._recreate_arrow_stream_async(old_stream._native, loop, fut)
        )
        stream = ZerobusArrowStream(native)
        self._streams.add(stream)
        return stream

    async def close(self) -> None:
        """Closes every stream this SDK opened that is still open."""
        for stream in list(self._streams):
            if not stream.is_closed:
                await stream.close()

    async def __aenter__(self) -> "ZerobusSdk":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
