"""`zerobus serve --data-dir`: what the Python binding ingests (dict records on a JSON stream,
a pyarrow Table on an Arrow stream) is in the table's Delta table once the server stops, as a
Delta reader we did not write (the `deltalake` package) reads it."""

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from conftest import Server
from zerobus.sdk.shared import RecordType, StreamConfigurationOptions, TableProperties
from zerobus.sdk.sync import ZerobusSdk

TABLE = "main.demo.rides"
DEFINITION = TABLE + "(ride_id BIGINT NOT NULL, rider STRING, fare DOUBLE)"


def test_records_and_arrow_tables_are_read_back_from_delta(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server("--data-dir", str(data), "--table", DEFINITION)
    try:
        sdk = ZerobusSdk(server.endpoint, server.workspace)
        json = StreamConfigurationOptions(record_type=RecordType.JSON)
        with sdk.create_stream(server.client_id, server.client_secret, TableProperties(TABLE), json) as stream:
            stream.ingest_records_offset([{"ride_id": i, "rider": f"r{i}", "fare": i / 2} for i in range(1000)])
        with sdk.create_arrow_stream(TABLE, None, server.client_id, server.client_secret) as arrow:
            table = pa.table(
                {
                    "ride_id": pa.array(range(1000, 3000), pa.int64()),
                    "rider": pa.array([None] * 2000, pa.large_string()),
                    "fare": pa.array([1.5] * 2000, pa.float64()),
                },
                schema=arrow.schema,
            )
            arrow.ingest_batch(table)
    finally:
        server.stop()

    delta = DeltaTable(str(data / "main" / "demo" / "rides"))
    read = delta.to_pyarrow_table()
    assert read.num_rows == 3000
    assert sorted(read.column("ride_id").to_pylist()) == list(range(3000))
    assert read.column("rider").null_count == 2000
    assert [f.name for f in read.schema] == ["ride_id", "rider", "fare"]
    assert delta.version() >= 1
    assert delta.history()[-1]["operation"] == "CREATE TABLE"
