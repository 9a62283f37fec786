//! Arrow streams against the mock's Flight `DoPut` (PROTOCOL.md §9): offsets per call, acks by
//! rows, IPC input passed through, recovery from the first unacked row, schema checks on both
//! sides, the close signal, callbacks, backpressure and `get_unacked_batches`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::{ArrayRef, Int32Array, LargeStringArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use zerobus_conformance::mock::{
    FaultScript, GrpcCode, MockServer, MockServerConfig, StreamAction, StreamFault,
};
use zerobus_core::schema::parse_table;
use zerobus_core::{
    AckCallback, ArrowStreamConfigurationOptions, ArrowTableProperties, ErrorCode, IpcCompression,
    ZerobusArrowStream, ZerobusSdk,
};

const CARS: &str = "main.default.cars";

async fn server() -> (MockServer, MockServerConfig) {
    let config = MockServerConfig {
        table_schemas: vec![parse_table("main.default.cars(name STRING NOT NULL, seats INT)").unwrap()],
        ..Default::default()
    };
    (MockServer::start(config.clone()).await.unwrap(), config)
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::LargeUtf8, false),
        Field::new("seats", DataType::Int32, true),
    ]))
}

/// Rows `from..from + rows`, so the server's copy can be checked row by row.
fn cars(from: usize, rows: usize) -> RecordBatch {
    let names: Vec<String> = (from..from + rows).map(|i| format!("car-{i}")).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(LargeStringArray::from_iter_values(names)) as ArrayRef,
            Arc::new(Int32Array::from_iter_values((from..from + rows).map(|i| i as i32))) as ArrayRef,
        ],
    )
    .unwrap()
}

/// Every row the server stored, as the `seats` column (row `i` holds `i`).
fn stored_rows(server: &MockServer) -> Vec<i32> {
    let mut out = Vec::new();
    for batch in server.arrow_batches(CARS) {
        let seats = batch.column(1).as_any().downcast_ref::<Int32Array>().unwrap();
        out.extend(seats.values().iter().copied());
    }
    out
}

async fn open(
    server: &MockServer,
    config: &MockServerConfig,
    options: ArrowStreamConfigurationOptions,
) -> ZerobusArrowStream {
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    sdk.create_arrow_stream(
        ArrowTableProperties::new(CARS, schema()),
        &config.client_id,
        &config.client_secret,
        options,
    )
    .await
    .unwrap()
}

fn quick_recovery() -> ArrowStreamConfigurationOptions {
    ArrowStreamConfigurationOptions {
        recovery_backoff_ms: 10,
        recovery_backoff_max_ms: 50,
        ..Default::default()
    }
}

#[tokio::test]
async fn each_call_gets_one_offset_and_every_row_arrives() {
    let (server, config) = server().await;
    let stream = open(&server, &config, Default::default()).await;
    assert_eq!(stream.ingest_batch(cars(0, 10)).await.unwrap(), 0);
    assert_eq!(stream.ingest_batch(cars(10, 5)).await.unwrap(), 1);
    // An IPC stream of two batches is one call, one offset, sent as two physical batches.
    let mut ipc = Vec::new();
    {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &schema()).unwrap();
        w.write(&cars(15, 3)).unwrap();
        w.write(&cars(18, 2)).unwrap();
        w.finish().unwrap();
    }
    let last = stream.ingest_ipc_batch(Bytes::from(ipc)).await.unwrap();
    assert_eq!(last, 2);
    // A table's batches go as one call too, and a call of no rows is acked like any other.
    assert_eq!(stream.ingest_batches(&[cars(20, 1), cars(21, 1)]).await.unwrap(), 3);
    assert_eq!(stream.ingest_batches(&[]).await.unwrap(), 4);
    assert_eq!(stream.ingest_batch(cars(22, 0)).await.unwrap(), 5);
    let last = stream.ingest_batch(cars(22, 2)).await.unwrap();
    stream.wait_for_offset(last).await.unwrap();
    let m = stream.metrics();
    assert_eq!(m.last_acked_offset, Some(6));
    assert_eq!(m.records_sent, 24);
    assert_eq!(m.inflight_records, 0);
    assert_eq!(m.inflight_requests, 0);
    stream.close().await.unwrap();
    assert_eq!(stored_rows(&server), (0..24).collect::<Vec<_>>());
    assert_eq!(server.arrow_batches(CARS).len(), 9);
    assert_eq!(server.table_stats(CARS).records, 24);
}

#[tokio::test]
async fn the_schema_can_come_from_the_table_and_bodies_can_be_compressed() {
    let (server, config) = server().await;
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    for (i, compression) in [IpcCompression::Lz4Frame, IpcCompression::Zstd].into_iter().enumerate() {
        let options = ArrowStreamConfigurationOptions { ipc_compression: compression, ..Default::default() };
        let stream = sdk
            .create_arrow_stream(
                ArrowTableProperties::from_table(CARS),
                &config.client_id,
                &config.client_secret,
                options,
            )
            .await
            .unwrap();
        assert_eq!(
            stream.schema().as_ref(),
            schema().as_ref(),
            "PROTOCOL.md §9: STRING → LargeUtf8, INT → Int32"
        );
        stream.ingest_batch(cars(i * 100, 100)).await.unwrap();
        stream.close().await.unwrap();
    }
    let mut expected: Vec<i32> = (0..100).collect();
    expected.extend(100..200);
    assert_eq!(stored_rows(&server), expected);
}

#[tokio::test]
async fn a_partly_acked_batch_is_resent_from_its_first_unacked_row() {
    let (server, config) = server().await;
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: Some(1),
            action: StreamAction::PartialAckAfter { messages: 2, unacked_rows: 4 },
        }],
        ..Default::default()
    });
    let stream = open(&server, &config, quick_recovery()).await;
    for i in 0..3 {
        stream.ingest_batch(cars(i * 10, 10)).await.unwrap();
    }
    stream.flush().await.unwrap();
    let m = stream.metrics();
    assert_eq!(m.recoveries, 1);
    stream.close().await.unwrap();
    // Rows 16..20 were not durable: they are sent again, and nothing is stored twice.
    assert_eq!(stored_rows(&server), (0..30).collect::<Vec<_>>());
    let connections = server.connections();
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[1].records, 14, "the second connection carries rows 16..30");
}

#[tokio::test]
async fn the_close_signal_moves_the_stream_to_a_new_connection() {
    let (server, config) = server().await;
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: Some(1),
            action: StreamAction::CloseSignalAfter { messages: 1, duration_ms: 100 },
        }],
        ..Default::default()
    });
    let stream = open(&server, &config, quick_recovery()).await;
    for i in 0..4 {
        stream.ingest_batch(cars(i * 5, 5)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stream.close().await.unwrap();
    assert_eq!(stored_rows(&server), (0..20).collect::<Vec<_>>());
    assert!(server.connections().len() >= 2);
}

#[tokio::test]
async fn bad_batches_fail_their_call_and_name_the_column() {
    let (server, config) = server().await;
    let stream = open(&server, &config, Default::default()).await;
    let wrong = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("name", DataType::LargeUtf8, false),
            Field::new("seats", DataType::Int64, true),
        ])),
        vec![
            Arc::new(LargeStringArray::from_iter_values(["a"])) as ArrayRef,
            Arc::new(arrow_array::Int64Array::from(vec![1])) as ArrayRef,
        ],
    )
    .unwrap();
    let e = stream.ingest_batch(wrong).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidRecord);
    assert!(e.message().contains("table main.default.cars: column seats: expected Int32, got Int64"), "{e}");
    let e = stream.ingest_ipc_batch(Bytes::from_static(b"not arrow")).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidRecord);
    assert!(e.message().contains("Arrow IPC stream"), "{e}");
    // The stream carries on.
    assert_eq!(stream.ingest_batch(cars(0, 1)).await.unwrap(), 0);
    stream.close().await.unwrap();
    assert_eq!(server.table_stats(CARS).records, 1);
}

/// pyarrow and most writers give strings as `Utf8`; the table maps STRING to `LargeUtf8`.
#[tokio::test]
async fn small_string_columns_are_widened_to_the_tables_large_ones() {
    let (server, config) = server().await;
    let stream = open(&server, &config, Default::default()).await;
    let small = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("seats", DataType::Int32, true),
    ]));
    let batch = |from: i32| {
        RecordBatch::try_new(
            small.clone(),
            vec![
                Arc::new(arrow_array::StringArray::from_iter_values([format!("car-{from}")])) as ArrayRef,
                Arc::new(Int32Array::from(vec![from])) as ArrayRef,
            ],
        )
        .unwrap()
    };
    assert_eq!(stream.ingest_batch(batch(0)).await.unwrap(), 0);
    let mut ipc = Vec::new();
    {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &small).unwrap();
        w.write(&batch(1)).unwrap();
        w.write(&batch(2)).unwrap();
        w.finish().unwrap();
    }
    assert_eq!(stream.ingest_ipc_batch(Bytes::from(ipc)).await.unwrap(), 1);
    stream.close().await.unwrap();
    assert_eq!(stored_rows(&server), vec![0, 1, 2]);
    let names: Vec<String> = server
        .arrow_batches(CARS)
        .iter()
        .flat_map(|b| {
            let col = b.column(0).as_any().downcast_ref::<LargeStringArray>().expect("sent as LargeUtf8");
            col.iter().map(|v| v.unwrap().to_owned()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(names, ["car-0", "car-1", "car-2"]);
}

#[tokio::test]
async fn the_server_refuses_a_schema_that_does_not_fit_the_table() {
    let (server, config) = server().await;
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let extra = Arc::new(Schema::new(vec![
        Field::new("name", DataType::LargeUtf8, false),
        Field::new("seats", DataType::Int32, true),
        Field::new("color", DataType::LargeUtf8, true),
    ]));
    let e = sdk
        .create_arrow_stream(
            ArrowTableProperties::new(CARS, extra),
            &config.client_id,
            &config.client_secret,
            Default::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument, "{e}");
    assert!(e.message().contains("color"), "{e}");
}

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);
impl AckCallback for Seen {
    fn on_ack(&self, offset: i64) {
        self.0.lock().unwrap().push(format!("ack {offset}"));
    }
    fn on_error(&self, offset: i64, _message: &str) {
        self.0.lock().unwrap().push(format!("error {offset}"));
    }
}

#[tokio::test]
async fn after_a_terminal_failure_the_unacked_rows_come_back_as_batches() {
    let (server, config) = server().await;
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: Some(1),
            action: StreamAction::PartialAckAfter { messages: 1, unacked_rows: 2 },
        }],
        ..Default::default()
    });
    let seen = Arc::new(Seen::default());
    let options = ArrowStreamConfigurationOptions {
        recovery: false,
        ack_callback: Some(seen.clone()),
        ..Default::default()
    };
    let stream = open(&server, &config, options).await;
    let first = stream.ingest_batch(cars(0, 5)).await.unwrap();
    let e = stream.wait_for_offset(first).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Unavailable, "{e}");
    // Only the last two rows of the batch are unacked.
    let unacked = stream.get_unacked_batches().unwrap();
    assert_eq!(unacked, vec![cars(3, 2)]);
    let _ = stream.close().await;
    assert_eq!(seen.0.lock().unwrap().as_slice(), ["error 0"]);

    // A new stream re-ingests them: every row arrives once.
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let next = sdk.recreate_arrow_stream(&stream).await.unwrap();
    next.close().await.unwrap();
    assert_eq!(stored_rows(&server), (0..5).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_inflight_bound_counts_batches() {
    let (server, config) = server().await;
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: None,
            action: StreamAction::WithholdAcksAfter { messages: 0 },
        }],
        ..Default::default()
    });
    let options = ArrowStreamConfigurationOptions { max_inflight_batches: 2, ..Default::default() };
    let stream = open(&server, &config, options).await;
    stream.try_ingest_batch(&cars(0, 1)).unwrap();
    stream.try_ingest_batch(&cars(1, 1)).unwrap();
    let e = stream.try_ingest_batch(&cars(2, 1)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::QueueFull);
    assert_eq!(stream.metrics().inflight_requests, 2);
    // Options are checked under their Arrow names.
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let bad = ArrowStreamConfigurationOptions { max_inflight_batches: usize::MAX, ..Default::default() };
    let e = sdk
        .create_arrow_stream(ArrowTableProperties::new(CARS, schema()), "id", "secret", bad)
        .await
        .unwrap_err();
    assert!(e.message().contains("max_inflight_batches"), "{e}");
}

#[tokio::test]
async fn status_codes_end_the_stream_like_record_streams() {
    let (server, config) = server().await;
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: Some(1),
            action: StreamAction::StatusAfter { messages: 1, code: GrpcCode::PermissionDenied },
        }],
        ..Default::default()
    });
    let stream = open(&server, &config, quick_recovery()).await;
    stream.ingest_batch(cars(0, 3)).await.unwrap();
    let second = stream.ingest_batch(cars(3, 3)).await;
    let flushed = stream.flush().await;
    let e = second.and(flushed.map(|_| 0)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::PermissionDenied, "{e}");
    assert!(stream.is_closed());
}
