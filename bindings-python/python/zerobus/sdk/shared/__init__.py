"""What the sync and asyncio SDKs share: table properties, options (of record and of Arrow
streams), callbacks, exceptions.

Defaults are the core's (``zerobus._core.default_options()``), the same in every language: in
particular the in-flight bounds are 50,000 calls and 64 MiB (the published SDK's 1,000,000 records
and no byte bound let memory grow to gigabytes).
"""

import enum
from typing import Any, List, Optional, Tuple, Union

from zerobus import _core
from zerobus._errors import NonRetriableException, ZerobusException

__all__ = [
    "AckCallback",
    "ArrowStreamConfigurationOptions",
    "Column",
    "HeadersProvider",
    "IPCCompression",
    "IpcCompression",
    "NonRetriableException",
    "RecordType",
    "StreamConfigurationOptions",
    "StreamMetrics",
    "TableProperties",
    "TableSchema",
    "ZerobusException",
]

StreamMetrics = _core.StreamMetrics
#: A table's schema from Unity Catalog: ``table_name``, ``columns``, ``descriptor_proto``,
#: ``proto_file()``, ``to_json()``.
TableSchema = _core.TableSchema
#: One column of a ``TableSchema``: ``name``, ``type_text``, ``type_name``, ``nullable``,
#: ``position``, ``comment``.
Column = _core.Column


class RecordType(enum.IntEnum):
    """The record format of a stream. ``UNSPECIFIED`` (the default) takes it from the table
    properties: a descriptor means ``PROTO``, none means ``JSON``."""

    UNSPECIFIED = 0
    PROTO = 1
    JSON = 2


def _descriptor_bytes(descriptor: Any) -> Optional[bytes]:
    """A serialized ``DescriptorProto`` from what ``TableProperties`` accepts."""
    if descriptor is None:
        return None
    if isinstance(descriptor, (bytes, bytearray)):
        return bytes(descriptor)
    if hasattr(descriptor, "CopyToProto"):  # a protobuf Descriptor, e.g. MyMessage.DESCRIPTOR
        # protobuf is optional (only for this case) and ships no type stubs.
        from google.protobuf import descriptor_pb2  # type: ignore[import-untyped,unused-ignore]

        proto = descriptor_pb2.DescriptorProto()
        descriptor.CopyToProto(proto)
        return proto.SerializeToString()
    if hasattr(descriptor, "SerializeToString"):  # a DescriptorProto message
        data = descriptor.SerializeToString()
        if isinstance(data, bytes):
            return data
    raise TypeError(
        "descriptor must be a protobuf Descriptor (MyMessage.DESCRIPTOR), a DescriptorProto, or "
        f"its serialized bytes, not {type(descriptor).__name__}"
    )


class TableProperties:
    """The table a stream writes to, and for a PROTO stream the record's descriptor.

    Args:
        table_name: ``catalog.schema.table``.
        descriptor_proto: a protobuf ``Descriptor`` (``MyMessage.DESCRIPTOR``), a
            ``DescriptorProto``, or a serialized ``DescriptorProto``; ``None`` for JSON.
        descriptor: the same, by the other name (either may be given).
    """

    table_name: str
    descriptor_proto: Optional[bytes]

    def __init__(
        self,
        table_name: str,
        descriptor_proto: Optional[Any] = None,
        *,
        descriptor: Optional[Any] = None,
    ) -> None:
        if descriptor_proto is not None and descriptor is not None:
            raise TypeError("give descriptor_proto or descriptor, not both")
        self.table_name = table_name
        self.descriptor_proto = _descriptor_bytes(descriptor_proto if descriptor is None else descriptor)

    @property
    def record_format(self) -> str:
        """``"proto"`` with a descriptor, else ``"json"``."""
        return "proto" if self.descriptor_proto is not None else "json"

    def __repr__(self) -> str:
        return f"TableProperties(table_name={self.table_name!r}, record_format={self.record_format!r})"


class AckCallback:
    """Subclass and pass as ``StreamConfigurationOptions(ack_callback=...)`` to hear of every
    ingest call: ``on_ack(offset)`` once it is durable, ``on_error(offset, message)`` if it failed
    for good. One call per ingest call (a batch is one). They run on a core thread, in offset
    order; ``close()`` returns after the last (or after ``callback_max_wait_time_ms``). An exception
    raised in one is reported through ``sys.unraisablehook`` and the stream goes on."""

    def on_ack(self, offset: int) -> None:
        """The call at ``offset`` is acknowledged."""

    def on_error(self, offset: int, error_message: str) -> None:
        """The call at ``offset`` failed for good."""


class HeadersProvider:
    """Subclass and pass as ``create_stream(headers_provider=...)`` to authenticate yourself:
    ``get_headers()`` is asked on every connect and returns ``(name, value)`` pairs, among them
    ``("authorization", "Bearer ...")`` and ``("x-databricks-zerobus-table-name", table)``. A
    ``ZerobusException`` it raises keeps its code; any other exception counts as ``UNAVAILABLE``
    (the stream retries within its recovery budget)."""

    def get_headers(self) -> List[Tuple[str, str]]:
        raise NotImplementedError("subclasses of HeadersProvider return the call's headers")

    def invalidate(self) -> None:
        """Kept for code written against the published SDK; never called by this one."""


_DEFAULTS = _core.default_options()


class StreamConfigurationOptions:
    """How a stream behaves. Every argument is optional; the defaults are the core's.

    Args:
        max_inflight_records: ingest calls queued and not yet acknowledged before an ingest waits
            for room (a batch counts once). Default 50,000.
        max_inflight_bytes: record bytes held for unacknowledged calls before an ingest waits.
            Default 64 MiB. Not in the published SDK.
        recovery: reconnect and resend after a retryable failure. Default True.
        recovery_timeout_ms: bound on one connection attempt. Default 15,000.
        recovery_backoff_ms: first wait between failed attempts (doubling). Default 2,000.
        recovery_backoff_max_ms: the longest wait between attempts. Default 30,000.
        recovery_retries: failed attempts in a row before the stream fails. Default 4.
        server_lack_of_ack_timeout_ms: silence from the server, with records waiting, that counts
            as a lost connection. Default 60,000.
        flush_timeout_ms: bound on ``flush`` and ``wait_for_offset``. Default 300,000.
        record_type: ``RecordType``; ``UNSPECIFIED`` takes it from the table properties.
        stream_paused_max_wait_time_ms: after the server's close signal, how long to wait for
            acks before reconnecting; ``None`` waits as long as the server said.
        callback_max_wait_time_ms: how long ``close()`` waits for callbacks; ``None`` waits for all.
            Default 5,000.
        ack_callback: an ``AckCallback``.
    """

    def __init__(
        self,
        max_inflight_records: int = _DEFAULTS["max_inflight_records"],
        recovery: bool = _DEFAULTS["recovery"],
        recovery_timeout_ms: int = _DEFAULTS["recovery_timeout_ms"],
        recovery_backoff_ms: int = _DEFAULTS["recovery_backoff_ms"],
        recovery_retries: int = _DEFAULTS["recovery_retries"],
        server_lack_of_ack_timeout_ms: int = _DEFAULTS["server_lack_of_ack_timeout_ms"],
        flush_timeout_ms: int = _DEFAULTS["flush_timeout_ms"],
        record_type: Union[RecordType, int] = RecordType.UNSPECIFIED,
        stream_paused_max_wait_time_ms: Optional[int] = _DEFAULTS["stream_paused_max_wait_time_ms"],
        callback_max_wait_time_ms: Optional[int] = _DEFAULTS["callback_max_wait_time_ms"],
        ack_callback: Optional[AckCallback] = None,
        max_inflight_bytes: int = _DEFAULTS["max_inflight_bytes"],
        recovery_backoff_max_ms: int = _DEFAULTS["recovery_backoff_max_ms"],
    ) -> None:
        self.max_inflight_records = max_inflight_records
        self.recovery = recovery
        self.recovery_timeout_ms = recovery_timeout_ms
        self.recovery_backoff_ms = recovery_backoff_ms
        self.recovery_retries = recovery_retries
        self.server_lack_of_ack_timeout_ms = server_lack_of_ack_timeout_ms
        self.flush_timeout_ms = flush_timeout_ms
        self.record_type = record_type
        self.stream_paused_max_wait_time_ms = stream_paused_max_wait_time_ms
        self.callback_max_wait_time_ms = callback_max_wait_time_ms
        self.ack_callback = ack_callback
        self.max_inflight_bytes = max_inflight_bytes
        self.recovery_backoff_max_ms = recovery_backoff_max_ms

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"StreamConfigurationOptions({fields})"


_ARROW_DEFAULTS = _core.default_arrow_options()


class IpcCompression(enum.Enum):
    """Body compression of the Arrow IPC batches an Arrow stream sends. The option also takes
    the values themselves (``"none"``, ``"lz4_frame"``, ``"zstd"``)."""

    NONE = "none"
    """Uncompressed (the default): the least client CPU."""
    LZ4_FRAME = "lz4_frame"
    """LZ4 frame: fast, about half the bytes on typical columns."""
    ZSTD = "zstd"
    """ZSTD: fewer bytes than LZ4 at several times its CPU cost."""


#: The published SDK's name for ``IpcCompression``.
IPCCompression = IpcCompression


class ArrowStreamConfigurationOptions:
    """How an Arrow stream behaves. Every argument is optional and keyword-only; the defaults
    are the core's, and the names the published SDK's where it has them.

    Args:
        max_inflight_batches: ingest calls (a batch, a table, an IPC stream: one each) queued and
            not yet acknowledged before an ingest waits for room. Default 1,000.
        max_inflight_bytes: encoded IPC bytes held for unacknowledged calls before an ingest
            waits. Default 64 MiB. Not in the published SDK.
        recovery: reconnect and resend after a retryable failure. Default True.
        recovery_timeout_ms: bound on one connection attempt. Default 15,000.
        recovery_backoff_ms: first wait between failed attempts (doubling). Default 2,000.
        recovery_backoff_max_ms: the longest wait between attempts. Default 30,000.
        recovery_retries: failed attempts in a row before the stream fails. Default 4.
        server_lack_of_ack_timeout_ms: silence from the server, with batches waiting, that counts
            as a lost connection. Default 60,000.
        flush_timeout_ms: bound on ``flush`` and ``wait_for_offset``. Default 300,000.
        connection_timeout_ms: bound on waiting for the server's ready signal on each
            connection. Default 30,000.
        ipc_compression: an ``IpcCompression`` or its name. Default ``IpcCompression.NONE``.
        stream_paused_max_wait_time_ms: after the server's close signal, how long to wait for
            acks before reconnecting; ``None`` waits as long as the server said.
        callback_max_wait_time_ms: how long ``close()`` waits for callbacks; ``None`` waits for all.
            Default 5,000.
        ack_callback: an ``AckCallback``, told of every call's offset once it is durable (the
            published SDK's Arrow streams take none).
    """

    def __init__(
        self,
        *,
        max_inflight_batches: int = _ARROW_DEFAULTS["max_inflight_batches"],
        recovery: bool = _ARROW_DEFAULTS["recovery"],
        recovery_timeout_ms: int = _ARROW_DEFAULTS["recovery_timeout_ms"],
        recovery_backoff_ms: int = _ARROW_DEFAULTS["recovery_backoff_ms"],
        recovery_retries: int = _ARROW_DEFAULTS["recovery_retries"],
        server_lack_of_ack_timeout_ms: int = _ARROW_DEFAULTS["server_lack_of_ack_timeout_ms"],
        flush_timeout_ms: int = _ARROW_DEFAULTS["flush_timeout_ms"],
        connection_timeout_ms: int = _ARROW_DEFAULTS["connection_timeout_ms"],
        ipc_compression: Union[IpcCompression, str] = IpcCompression.NONE,
        stream_paused_max_wait_time_ms: Optional[int] = _ARROW_DEFAULTS["stream_paused_max_wait_time_ms"],
        callback_max_wait_time_ms: Optional[int] = _ARROW_DEFAULTS["callback_max_wait_time_ms"],
        ack_callback: Optional[AckCallback] = None,
        max_inflight_bytes: int = _ARROW_DEFAULTS["max_inflight_bytes"],
        recovery_backoff_max_ms: int = _ARROW_DEFAULTS["recovery_backoff_max_ms"],
    ) -> None:
        self.max_inflight_batches = max_inflight_batches
        self.recovery = recovery
        self.recovery_timeout_ms = recovery_timeout_ms
        self.recovery_backoff_ms = recovery_backoff_ms
        self.recovery_retries = recovery_retries
        self.server_lack_of_ack_timeout_ms = server_lack_of_ack_timeout_ms
        self.flush_timeout_ms = flush_timeout_ms
        self.connection_timeout_ms = connection_timeout_ms
        self.ipc_compression = ipc_compression
        self.stream_paused_max_wait_time_ms = stream_paused_max_wait_time_ms
        self.callback_max_wait_time_ms = callback_max_wait_time_ms
        self.ack_callback = ack_callback
        self.max_inflight_bytes = max_inflight_bytes
        self.recovery_backoff_max_ms = recovery_backoff_max_ms

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"ArrowStreamConfigurationOptions({fields})"
