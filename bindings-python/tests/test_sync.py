"""The blocking API against a real `zerobus serve`."""

import json
import sys
import threading
import time
from typing import Any, List, Tuple

import pytest

from conftest import TABLE, Server
from zerobus import _core
from zerobus.sdk.shared import (
    AckCallback,
    HeadersProvider,
    NonRetriableException,
    RecordType,
    StreamConfigurationOptions,
    TableProperties,
    ZerobusException,
)
from zerobus.sdk.sync import ZerobusSdk, ZerobusStream


def open_stream(server: Server, **options: Any) -> ZerobusStream:
    sdk = ZerobusSdk(server.endpoint, server.workspace)
    return sdk.create_stream(
        server.client_id, server.client_secret, TableProperties(TABLE), StreamConfigurationOptions(**options)
    )


def test_dicts_text_and_batches_get_offsets_and_acks(server: Server) -> None:
    with open_stream(server) as stream:
        assert stream.ingest_record_offset({"a": 1}) == 0
        assert stream.ingest_record_offset('{"a": 2}') == 1
        assert stream.ingest_records_offset([{"a": 3}, '{"a": 4}']) == 2
        assert stream.ingest_records_offset([]) is None
        assert stream.ingest_records_offset(({"n": i} for i in range(5))) == 3
        stream.ingest_record_nowait({"a": 5})
        stream.ingest_records_nowait([{"a": 6}])
        stream.flush()
        assert stream.metrics().last_acked_offset == 5
        assert stream.stream_id and stream.table_name == TABLE
        assert stream.record_type == RecordType.JSON
    assert stream.is_closed


def test_dicts_are_written_as_json(silent_server: Server) -> None:
    import datetime
    import decimal
    import uuid

    row = {
        "s": 'quote " backslash \\ newline \n tab \t ctl \x01 é 😀',
        "i": -(2**63),
        "u": 2**64 - 1,
        "big": 2**80,
        "f": 0.1,
        "e": 1e300,
        "t": True,
        "n": None,
        "list": [1, [2, {"k": "v"}]],
        "tuple": (1, 2),
        "at": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc),
        "day": datetime.date(2024, 5, 6),
        "dec": decimal.Decimal("12.345"),
        "id": uuid.UUID(int=1),
        "raw": b"\x00\xffab",
        7: "int key",
    }
    stream = open_stream(silent_server, flush_timeout_ms=1)
    stream.ingest_record_offset(row)
    [sent] = stream.get_unacked_records()
    assert json.loads(sent) == {
        "s": row["s"],
        "i": -(2**63),
        "u": 2**64 - 1,
        "big": 2**80,
        "f": 0.1,
        "e": 1e300,
        "t": True,
        "n": None,
        "list": [1, [2, {"k": "v"}]],
        "tuple": [1, 2],
        "at": "2024-05-06T07:08:09.123456+00:00",
        "day": "2024-05-06",
        "dec": "12.345",
        "id": "00000000-0000-0000-0000-000000000001",
        "raw": "AP9hYg==",
        "7": "int key",
    }


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"loc": {"lat": {1, 2}}}, 'record 1 of the batch: key "loc.lat": set cannot be written as JSON'),
        ({"xs": [1, float("nan")]}, 'record 1 of the batch: key "xs[1]": nan is not a JSON number'),
        ({(1, 2): 1}, "record 1 of the batch: a dict key must be str, int, float, bool or None, not tuple"),
        (3.5, "record 1 of the batch is a float; pass str (JSON text), dict"),
    ],
)
def test_a_bad_record_names_its_index_and_path_and_nothing_is_queued(
    server: Server, bad: Any, message: str
) -> None:
    with open_stream(server) as stream:
        with pytest.raises(NonRetriableException) as caught:
            stream.ingest_records_offset([{"ok": 1}, bad, {"ok": 2}])
        assert caught.value.code == "INVALID_RECORD"
        assert caught.value.retryable is False
        assert message in str(caught.value)
        assert stream.metrics().records_sent == 0
        assert stream.ingest_record_offset({"ok": 3}) == 0, "nothing of the failed call took an offset"


def test_a_single_record_of_a_wrong_kind_is_refused(server: Server) -> None:
    with open_stream(server) as stream:
        with pytest.raises(NonRetriableException, match="the record is a list"):
            stream.ingest_record_offset([1, 2])
        with pytest.raises(NonRetriableException, match="not one record"):
            stream.ingest_records_offset({"a": 1})
        with pytest.raises(NonRetriableException) as caught:
            stream.ingest_record_offset(b"\x08\x01")  # proto bytes on a JSON stream
        assert caught.value.code == "INVALID_RECORD"


def test_exceptions_carry_code_status_and_retryable(server: Server) -> None:
    stream = open_stream(server)
    stream.close()
    with pytest.raises(ZerobusException) as caught:
        stream.ingest_record_offset({"a": 1})
    e = caught.value
    assert isinstance(e, NonRetriableException)
    assert (e.code, e.retryable, e.grpc_status) == ("STREAM_CLOSED", False, None)
    assert e.code in _core.ERROR_CODES


def test_bad_credentials_are_unauthenticated(server: Server) -> None:
    sdk = ZerobusSdk(server.endpoint, server.workspace)
    with pytest.raises(NonRetriableException) as caught:
        sdk.create_stream(server.client_id, "wrong-secret", TableProperties(TABLE))
    assert caught.value.code == "UNAUTHENTICATED"
    assert "wrong-secret" not in str(caught.value), "secrets never appear in errors"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_inflight_records": 200_000_000}, "max_inflight_requests"),
        ({"recovery_timeout_ms": -1}, "option recovery_timeout_ms must be a non-negative integer, got -1"),
        ({"recovery": "yes"}, "option recovery must be True or False"),
        ({"record_type": 7}, "record_type 7 is not one of"),
    ],
)
def test_options_out_of_range_are_refused_before_anything_is_sent(
    server: Server, options: Any, message: str
) -> None:
    sdk = ZerobusSdk(server.endpoint, server.workspace)
    with pytest.raises(NonRetriableException) as caught:
        sdk.create_stream(server.client_id, server.client_secret, TableProperties(TABLE), StreamConfigurationOptions(**options))
    assert caught.value.code == "INVALID_ARGUMENT"
    assert message in str(caught.value)


def test_defaults_are_the_cores() -> None:
    o = StreamConfigurationOptions()
    assert o.max_inflight_records == _core.default_options()["max_inflight_records"] == 50_000
    assert o.max_inflight_bytes == 64 * 1024 * 1024
    assert o.record_type == RecordType.UNSPECIFIED


def row_type() -> Any:
    """A protobuf message class `Row { optional string name = 1; optional int64 n = 2; }`."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(name="row.proto", package="t", syntax="proto2")
    msg = file.message_type.add(name="Row")
    msg.field.add(name="name", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    msg.field.add(name="n", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("t.Row"))


def test_protobuf_messages_and_descriptors(server: Server) -> None:
    Row = row_type()
    sdk = ZerobusSdk(server.endpoint, server.workspace)
    for descriptor in (Row.DESCRIPTOR, None):
        if descriptor is None:  # the same as a serialized DescriptorProto
            from google.protobuf import descriptor_pb2

            proto = descriptor_pb2.DescriptorProto()
            Row.DESCRIPTOR.CopyToProto(proto)
            props = TableProperties(TABLE, descriptor=proto.SerializeToString())
        else:
            props = TableProperties(TABLE, descriptor)
        assert props.record_format == "proto"
        with sdk.create_stream(server.client_id, server.client_secret, props) as stream:
            assert stream.record_type == RecordType.PROTO
            assert stream.ingest_record_offset(Row(name="one", n=1)) == 0
            assert stream.ingest_records_offset([Row(name="two"), Row(n=3).SerializeToString()]) == 1
            with pytest.raises(NonRetriableException) as caught:
                stream.ingest_record_offset({"name": "a dict on a PROTO stream"})
            assert caught.value.code == "INVALID_RECORD"
            stream.flush()
            assert stream.metrics().last_acked_offset == 1
    with pytest.raises(NonRetriableException, match="carry a descriptor"):
        sdk.create_stream(server.client_id, server.client_secret, props, StreamConfigurationOptions(record_type=RecordType.JSON))
    with pytest.raises(NonRetriableException, match="not a serialized DescriptorProto"):
        sdk.create_stream(server.client_id, server.client_secret, TableProperties(TABLE, b"\xff\xff"))


class Recorder(AckCallback):
    def __init__(self, fail_at: int = -1) -> None:
        self.acked: List[int] = []
        self.fail_at = fail_at

    def on_ack(self, offset: int) -> None:
        self.acked.append(offset)
        if offset == self.fail_at:
            raise ValueError("raised on purpose")


def test_ack_callbacks_run_in_order_and_an_exception_in_one_is_reported(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(u.exc_value))
    cb = Recorder(fail_at=3)
    with open_stream(server, ack_callback=cb) as stream:
        for i in range(10):
            stream.ingest_record_offset({"i": i})
    assert cb.acked == list(range(10)), "close() returns after the last callback"
    assert len(reported) == 1 and "raised on purpose" in str(reported[0])


class Headers(HeadersProvider):
    def __init__(self, token: str, fail: bool = False) -> None:
        self.token, self.fail, self.calls = token, fail, 0

    def get_headers(self) -> List[Tuple[str, str]]:
        self.calls += 1
        if self.fail:
            raise NonRetriableException("no token for you", code="PERMISSION_DENIED")
        return [("authorization", f"Bearer {self.token}"), ("x-databricks-zerobus-table-name", TABLE)]


def dev_token(server: Server) -> str:
    """A token from the mock's OAuth endpoint, asked for as the core asks for one."""
    import base64
    import urllib.parse
    import urllib.request

    details = [
        {"type": "unity_catalog_privileges", "privileges": ["USE CATALOG"], "object_type": "CATALOG", "object_full_path": "main"},
        {"type": "unity_catalog_privileges", "privileges": ["USE SCHEMA"], "object_type": "SCHEMA", "object_full_path": "main.default"},
        {"type": "unity_catalog_privileges", "privileges": ["SELECT", "MODIFY"], "object_type": "TABLE",
         "object_full_path": TABLE, "operations": ["zerobuswrite"]},
    ]
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "scope": "all-apis", "authorization_details": json.dumps(details)}
    ).encode()
    basic = base64.b64encode(f"{server.client_id}:{server.client_secret}".encode()).decode()
    request = urllib.request.Request(f"{server.workspace}/oidc/v1/token", form, {"Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(request) as r:
        token: str = json.load(r)["access_token"]
    return token


def test_a_headers_provider_replaces_oauth(server: Server) -> None:
    token = dev_token(server)
    provider = Headers(token)
    sdk = ZerobusSdk(server.endpoint, server.workspace)
    with sdk.create_stream(table_properties=TableProperties(TABLE), headers_provider=provider) as stream:
        stream.ingest_record_offset({"a": 1})
    assert provider.calls >= 1
    with pytest.raises(NonRetriableException) as caught:
        sdk.create_stream(table_properties=TableProperties(TABLE), headers_provider=Headers("", fail=True))
    assert caught.value.code == "PERMISSION_DENIED"
    assert "no token for you" in str(caught.value)


def test_waits_release_the_gil(silent_server: Server) -> None:
    stream = open_stream(silent_server, flush_timeout_ms=1500)
    stream.ingest_record_offset({"a": 1})
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    with pytest.raises(ZerobusException) as caught:
        stream.flush()  # never acked: times out after 1.5 s
    stop.set()
    t.join()
    assert caught.value.code == "TIMEOUT"
    assert ticks > 100, f"the other thread ran only {ticks} times while flush() waited"


def test_the_in_flight_bound_holds_and_a_full_stream_waits(silent_server: Server) -> None:
    stream = open_stream(silent_server, max_inflight_records=3, flush_timeout_ms=500)
    for i in range(3):
        stream.ingest_record_offset({"i": i})
    done = threading.Event()
    threading.Thread(target=lambda: (stream.ingest_record_offset({"i": 3}), done.set()), daemon=True).start()
    assert not done.wait(0.5), "the fourth record waits for room"
    assert stream.metrics().inflight_requests == 3
    with pytest.raises(ZerobusException) as full:
        stream.try_ingest_record_offset({"i": "try"})
    assert (full.value.code, full.value.retryable) == ("QUEUE_FULL", True)
    assert not isinstance(full.value, NonRetriableException)
    with pytest.raises(ZerobusException, match="in-flight bound"):
        stream.try_ingest_records_offset([{"i": "try"}])
    assert stream.metrics().inflight_requests == 3, "nothing was queued"


def test_recreate_needs_a_closed_stream_and_resends_what_was_unacked(
    silent_server: Server, server: Server
) -> None:
    sdk = ZerobusSdk(silent_server.endpoint, silent_server.workspace)
    old = sdk.create_stream(
        silent_server.client_id, silent_server.client_secret, TableProperties(TABLE),
        StreamConfigurationOptions(flush_timeout_ms=200),
    )
    old.ingest_records_offset([{"b": 1}, {"b": 2}])
    old.ingest_record_offset({"s": 1})
    with pytest.raises(NonRetriableException, match="close it first"):
        sdk.recreate_stream(old)
    with pytest.raises(ZerobusException):
        old.close()  # the acks never come
    assert old.get_unacked_batches() == [[b'{"b":1}', b'{"b":2}'], [b'{"s":1}']]
    new = sdk.recreate_stream(old)
    assert new.get_unacked_batches() == old.get_unacked_batches(), "re-sent first, batches kept"
    assert new.ingest_record_offset({"after": 1}) == 2


def test_the_sdk_closes_its_open_streams(server: Server) -> None:
    with ZerobusSdk(server.endpoint, server.workspace) as sdk:
        a = sdk.create_stream(server.client_id, server.client_secret, TableProperties(TABLE))
        b = sdk.create_stream(server.client_id, server.client_secret, TableProperties(TABLE))
        b.close()
    assert a.is_closed and b.is_closed
