//! `zerobus ingest --file trips.parquet | trips.arrow`: columnar files loaded through an Arrow
//! stream against `zerobus serve`, every row counted by the server; file columns fitted to the
//! table by name and type; a file that does not fit fails naming the column.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

mod common;

use common::{scratch, text, Serve};

const TRIPS: &str = "main.default.trips";
const TRIPS_DEF: &str =
    "main.default.trips(vendor STRING NOT NULL, distance DOUBLE, passengers INT, pickup TIMESTAMP, note STRING)";

/// Rows as pyarrow would write them: Utf8 strings, int64 counts, every column nullable, columns
/// in another order and case than the table's, and no `note` column.
fn trips(from: usize, rows: usize) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("Distance", DataType::Float64, true),
        Field::new("vendor", DataType::Utf8, true),
        Field::new("passengers", DataType::Int64, true),
        Field::new("pickup", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
    ]);
    let ids = from..from + rows;
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Float64Array::from_iter_values(ids.clone().map(|i| i as f64 / 10.0))) as ArrayRef,
            Arc::new(StringArray::from_iter_values(ids.clone().map(|i| format!("v{}", i % 3)))),
            Arc::new(Int64Array::from_iter_values(ids.clone().map(|i| (i % 5) as i64))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(ids.map(|i| 1_700_000_000_000_000 + i as i64))
                    .with_timezone("UTC"),
            ),
        ],
    )
    .unwrap()
}

fn write_parquet(path: &Path, batches: &[RecordBatch]) {
    let file = std::fs::File::create(path).unwrap();
    // Snappy, as pyarrow writes by default.
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn stats_records(path: &Path, table: &str) -> u64 {
    let stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    stats["tables"][table]["records"].as_u64().expect("table in stats file")
}

#[test]
fn parquet_and_arrow_files_load_every_row() {
    let dir = scratch("arrow-files");
    let stats = dir.join("stats.json");
    let parquet = dir.join("trips.parquet");
    write_parquet(&parquet, &[trips(0, 12_000), trips(12_000, 13_000)]);
    let arrow = dir.join("trips.arrow");
    {
        let file = std::fs::File::create(&arrow).unwrap();
        let mut w = arrow_ipc::writer::FileWriter::try_new(file, &trips(0, 1).schema()).unwrap();
        w.write(&trips(0, 700)).unwrap();
        w.write(&trips(700, 300)).unwrap();
        w.finish().unwrap();
    }
    let serve = Serve::start(&["--table", TRIPS_DEF, "--stats-file", stats.to_str().unwrap()]);

    let out = serve.ingest(TRIPS, &["--file", parquet.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.starts_with("queued: 25000  acked: 25000"), "{summary}");
    assert!(summary.contains("rows/s"), "{summary}");

    let out = serve.ingest(
        TRIPS,
        &["--file", arrow.to_str().unwrap(), "--batch-size", "250", "--ipc-compression", "lz4_frame"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("queued: 1000  acked: 1000"), "{}", text(&out.stdout));
    serve.stop();
    assert_eq!(stats_records(&stats, TRIPS), 26_000);
}

#[test]
fn a_file_that_does_not_fit_the_table_names_the_column() {
    let dir = scratch("arrow-bad");
    let serve = Serve::start(&["--table", TRIPS_DEF]);
    let extra = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("vendor", DataType::Utf8, false),
            Field::new("color", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
            Arc::new(StringArray::from(vec![Some("red")])) as ArrayRef,
        ],
    )
    .unwrap();
    let path = dir.join("extra.parquet");
    write_parquet(&path, &[extra]);
    let out = serve.ingest(TRIPS, &["--file", path.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("column \"color\" that table main.default.trips does not have"), "{err}");

    // A NOT NULL column with nulls in it fails in core, naming the column.
    let nulls = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("vendor", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef],
    )
    .unwrap();
    let path = dir.join("nulls.parquet");
    write_parquet(&path, &[nulls]);
    let out = serve.ingest(TRIPS, &["--file", path.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("column vendor is NOT NULL but the batch has 1 null"), "{err}");
    serve.stop();
}
