"""The blocking SDK. Every call that waits (for room in the in-flight bounds, acks, flush, close)
releases the GIL while it waits, and Ctrl-C ends the wait.

Example::

    from zerobus.sdk.sync import ZerobusSdk
    from zerobus.sdk.shared import TableProperties

    with ZerobusSdk(host, unity_catalog_url) as sdk:
        with sdk.create_stream(client_id, client_secret, TableProperties("main.default.events")) as stream:
            for row in rows:                      # dicts become JSON in Rust
                stream.ingest_record_nowait(row)
            stream.ingest_records_offset(batch)   # a whole list in one call
            stream.flush()

    # Arrow: a pyarrow Table (or RecordBatch, RecordBatchReader, Polars or DuckDB result) per call
    with sdk.create_arrow_stream("main.default.events", table.schema, client_id, client_secret) as arrow:
        arrow.ingest_batch(table)                 # one call, one offset, however many chunks
        arrow.flush()
"""

import weakref
from typing import Any, Optional, Sequence, Union

from zerobus import _core
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

#: The stream: the native class itself, so an ingest call is one call into Rust.
ZerobusStream = _core.ZerobusStream
#: The Arrow stream: the native class too (``ingest_batch``, ``ingest_ipc_batch``, ...).
ZerobusArrowStream = _core.ZerobusArrowStream


class ZerobusSdk:
    """One per Zerobus endpoint; opens streams.

    Args:
        host: the Zerobus endpoint, ``https://<workspace-id>.zerobus.<region>.cloud.databricks.com``
            (``http://`` for a local server such as ``zerobus serve``).
        unity_catalog_url: the workspace URL, where OAuth tokens come from.
        application_name: appended to the ``user-agent`` the server sees (``"product/1.0"``).
        ca_certificates_pem: PEM certificates to trust besides the system roots.

    ``with ZerobusSdk(...) as sdk:`` closes, at the end of the block, every stream it opened that
    is still open.
    """

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
        self._streams: "weakref.WeakSet[Union[_core.ZerobusStream, _core.ZerobusArrowStream]]" = weakref.WeakSet()

    def create_stream(
        self,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        table_properties: Optional[TableProperties] = None,
        options: Optional[StreamConfigurationOptions] = None,
        headers_provider: Optional[HeadersProvider] = None,
    ) -> _core.ZerobusStream:
        """Opens a stream into ``table_properties.table_name``, authenticated with the service
        principal's OAuth ``client_id`` / ``client_secret``, or by ``headers_provider`` when given.
        Returns once the server accepted the stream."""
        if table_properties is None:
            raise TypeError("create_stream() needs table_properties")
        stream = self._native.create_stream(
            table_properties.table_name,
            table_properties.descriptor_proto,
            client_id,
            client_secret,
            options,
            headers_provider,
        )
        self._streams.add(stream)
        return stream

    def get_table_schema(
        self,
        table_name: str,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        headers_provider: Optional[HeadersProvider] = None,
    ) -> TableSchema:
        """Reads ``table_name``'s schema from Unity Catalog with the same credentials a stream on
        it uses. A stream created with ``RecordType.PROTO`` and no descriptor reads it itself."""
        return self._native.get_table_schema(table_name, client_id, client_secret, headers_provider)

    def recreate_stream(self, old_stream: _core.ZerobusStream) -> _core.ZerobusStream:
        """A new stream on ``old_stream``'s table, credentials and options that first sends
        again every call ``old_stream`` left unacknowledged, in order. ``old_stream`` must be
        closed or failed."""
        stream = self._native.recreate_stream(old_stream)
        self._streams.add(stream)
        return stream

    def create_arrow_stream(
        self,
        table_name: str,
        schema: Any,
        client_id: str,
        client_secret: str,
        options: Optional[ArrowStreamConfigurationOptions] = None,
    ) -> _core.ZerobusArrowStream:
        """Opens an Arrow stream (Arrow Flight) into ``table_name`` with the service principal's
        OAuth credentials; returns once the server is ready for batches.

        ``schema`` is the schema every batch must have: an object with ``__arrow_c_schema__``
        (a ``pyarrow.Schema``), an Arrow IPC stream of the schema as ``bytes``, or ``None`` to
        read it from the table (Unity Catalog), mapped as PROTOCOL.md §9 says (``STRING`` is
        ``large_string``, ``INT`` is ``int32``, ``TIMESTAMP`` is ``timestamp("us", "UTC")``, ...).
        """
        stream = self._native.create_arrow_stream(table_name, schema, client_id, client_secret, options)
        self._streams.add(stream)
        return stream

    def create_arrow_stream_with_headers_provider(
        self,
        table_name: str,
        schema: Any,
        headers_provider: HeadersProvider,
        options: Optional[ArrowStreamConfigurationOptions] = None,
    ) -> _core.ZerobusArrowStream:
        """``create_arrow_stream`` authenticated by ``headers_provider`` instead of OAuth."""
        stream = self._native.create_arrow_stream(table_name, schema, None, None, options, headers_provider)
        self._streams.add(stream)
        return stream

    def recreate_arrow_stream(self, old_stream: _core.ZerobusArrowStream) -> _core.ZerobusArrowStream:
        """A new Arrow stream on ``old_stream``'s table, schema, credentials and options that
        first queues again every row ``old_stream`` left unacknowledged, in order.
        ``old_stream`` must be closed or failed."""
        stream = self._native.recreate_arrow_stream(old_stream)
        self._streams.add(stream)
        return stream

    def close(self) -> None:
        """Closes every stream this SDK opened that is still open."""
        for stream in list(self._streams):
            if not stream.is_closed:
                stream.close()

    def __enter__(self) -> "ZerobusSdk":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
