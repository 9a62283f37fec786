"""Streams from the table: the schema read from Unity Catalog (the `zerobus serve --table`
mock), dicts on a PROTO stream encoded in Rust by the columns' types, errors that name the
column, and `get_table_schema` (sync and asyncio)."""

import asyncio
import datetime
import decimal
from typing import Iterator

import pytest

from conftest import Server
from zerobus.sdk import aio
from zerobus.sdk.shared import NonRetriableException, RecordType, StreamConfigurationOptions, TableProperties
from zerobus.sdk.sync import ZerobusSdk

TABLE = "main.default.air_quality"
DEFINITION = (
    TABLE + "(device_name STRING NOT NULL, temp INT, humidity BIGINT, at TIMESTAMP, day DATE, "
    "price DECIMAL(10,2), raw BINARY, tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)"
)
PROTO = StreamConfigurationOptions(record_type=RecordType.PROTO)


@pytest.fixture(scope="module")
def table_server() -> Iterator[Server]:
    s = Server("--table", DEFINITION)
    yield s
    s.stop()


def test_dicts_are_encoded_by_the_tables_types(table_server: Server) -> None:
    s = table_server
    with ZerobusSdk(s.endpoint, s.workspace) as sdk:
        with sdk.create_stream(s.client_id, s.client_secret, TableProperties(TABLE), PROTO) as stream:
            schema = stream.table_schema
            assert schema is not None and [c.name for c in schema.columns][:2] == ["device_name", "temp"]
            first = stream.ingest_record_offset(
                {
                    "device_name": "d1",
                    "temp": 21,
                    "at": datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc),
                    "day": datetime.date(2024, 2, 29),
                    "price": decimal.Decimal("12.5"),
                    "raw": b"\x00\xff",
                    "tags": ["a", "b"],
                    "loc": {"lat": 52.5, "lon": 13.4},
                }
            )
            last = stream.ingest_records_offset([{"device_name": f"d{i}", "humidity": i} for i in range(100)])
            assert last == first + 1
            # JSON text takes the same path.
            stream.ingest_record_offset('{"device_name": "text", "at": 1714564800000000}')
            stream.flush()
            assert stream.metrics().last_acked_offset == first + 2


def test_a_bad_value_names_the_record_and_the_column(table_server: Server) -> None:
    s = table_server
    with ZerobusSdk(s.endpoint, s.workspace) as sdk:
        with sdk.create_stream(s.client_id, s.client_secret, TableProperties(TABLE), PROTO) as stream:
            with pytest.raises(NonRetriableException) as e:
                stream.ingest_records_offset([{"device_name": "ok"}, {"device_name": "x", "loc": {"lat": "north"}}])
            assert e.value.code == "INVALID_RECORD"
            assert 'record 1 of the batch: table main.default.air_quality: loc.lat: expected DOUBLE, got string "north"' in str(
                e.value
            )
            with pytest.raises(NonRetriableException, match="device_name: missing"):
                stream.ingest_record_offset({"temp": 1})
            with pytest.raises(NonRetriableException, match="price: .* has 3 digit"):
                stream.ingest_record_offset({"device_name": "x", "price": decimal.Decimal("1.005")})
            # Nothing of the failed calls was queued: the next call gets offset 0.
            assert stream.ingest_record_offset({"device_name": "ok"}) == 0


def test_get_table_schema(table_server: Server) -> None:
    s = table_server
    with ZerobusSdk(s.endpoint, s.workspace) as sdk:
        schema = sdk.get_table_schema(TABLE, s.client_id, s.client_secret)
        assert schema.table_name == TABLE
        cols = [(c.name, c.type_text, c.nullable, c.position) for c in schema.columns]
        assert cols[0] == ("device_name", "string", False, 0)
        assert cols[-1] == ("loc", "struct<lat:double,lon:double>", True, 8)
        assert 'required string device_name = 1;' in schema.proto_file()
        assert len(schema.descriptor_proto) > 0
        assert '"full_name":"main.default.air_quality"' in schema.to_json()
        with pytest.raises(NonRetriableException) as e:
            sdk.get_table_schema("main.default.nope", s.client_id, s.client_secret)
        assert e.value.code == "NOT_FOUND" and "TABLE_DOES_NOT_EXIST" in str(e.value)


def test_asyncio_schema_and_stream_from_the_table(table_server: Server) -> None:
    s = table_server

    async def main() -> None:
        async with aio.ZerobusSdk(s.endpoint, s.workspace) as sdk:
            schema = await sdk.get_table_schema(TABLE, s.client_id, s.client_secret)
            assert len(schema.columns) == 9
            stream = await sdk.create_stream(s.client_id, s.client_secret, TableProperties(TABLE), PROTO)
            async with stream:
                assert stream.table_schema is not None
                offset = await stream.ingest_record_offset({"device_name": "async", "temp": -3})
                await stream.wait_for_offset(offset)

    asyncio.run(main())
