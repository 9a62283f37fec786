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
"""

import weakref
from typing import Optional, Sequence

from zerobus import _core
from zerobus.sdk.shared import (
    AckCallback,
    HeadersProvider,
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
    "HeadersProvider",
    "NonRetriableException",
    "RecordType",
    "StreamConfigurationOptions",
    "StreamMetrics",
    "TableProperties",
    "TableSchema",
    "ZerobusException",
    "ZerobusSdk",
    "ZerobusStream",
]

#: The stream: the native class itself, so an ingest call is one call into Rust.
ZerobusStream = _core.ZerobusStream


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
        self._streams: "weakref.WeakSet[_core.ZerobusStream]" = weakref.WeakSet()

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

    def close(self) -> None:
        """Closes every stream this SDK opened that is still open."""
        for stream in list(self._streams):
            if not stream.is_closed:
                stream.close()

    def __enter__(self) -> "ZerobusSdk":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
