//! Arrow Flight `DoPut` on the mock (PROTOCOL.md §9), through arrow-flight's own client over a
//! real channel: the ready signal, cumulative row acks, storage, schema checks, auth, table
//! checks, offsets and faults.

use super::*;
use arrow_array::{ArrayRef, Int32Array, LargeStringArray, RecordBatch, StringArray};
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, PutResult};
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;
use zerobus_schema::{parse_table, TableSchema};

use crate::mock::tablecheck::{ErrorInfo, RpcStatus};

const CARS: &str = "main.default.cars";

fn cars() -> TableSchema {
    parse_table("main.default.cars(name STRING NOT NULL, seats INT)").unwrap()
}

async fn declared_server() -> MockServer {
    MockServer::start(MockServerConfig { table_schemas: vec![cars()], ..Default::default() }).await.unwrap()
}

fn cars_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::LargeUtf8, false),
        Field::new("seats", DataType::Int32, true),
    ]))
}

fn cars_batch(rows: usize) -> RecordBatch {
    let names: Vec<String> = (0..rows).map(|i| format!("car-{i}")).collect();
    let seats: Vec<Option<i32>> = (0..rows).map(|i| Some(i as i32)).collect();
    RecordBatch::try_new(
        cars_schema(),
        vec![
            Arc::new(LargeStringArray::from_iter_values(names)) as ArrayRef,
            Arc::new(Int32Array::from(seats)) as ArrayRef,
        ],
    )
    .unwrap()
}

fn schema_message(schema: &Schema) -> FlightData {
    arrow_flight::utils::batches_to_flight_data(schema, vec![]).unwrap().remove(0)
}

fn batch_message(batch: &RecordBatch, offset: Option<i64>) -> FlightData {
    let mut data = arrow_flight::utils::batches_to_flight_data(&batch.schema(), vec![batch.clone()])
        .unwrap()
        .pop()
        .unwrap();
    if let Some(offset) = offset {
        data.app_metadata = serde_json::json!({ "offset_id": offset }).to_string().into();
    }
    data
}

struct Put {
    tx: Option<mpsc::Sender<FlightData>>,
    rx: Streaming<PutResult>,
}

impl Put {
    async fn send(&self, data: FlightData) {
        self.tx.as_ref().unwrap().send(data).await.unwrap();
    }

    async fn next(&mut self) -> Result<Option<serde_json::Value>, Status> {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("server answered in time")
            .map(|m| m.map(|r| serde_json::from_slice(&r.app_metadata).unwrap()))
    }

    async fn expect_ready(&mut self) {
        let ready = self.next().await.unwrap().unwrap();
        assert_eq!(ready, serde_json::json!({"ack_up_to_offset": -1, "ack_up_to_records": 0}));
    }

    async fn expect_ready_or_status(&mut self) -> Result<(), Status> {
        let ready = self.next().await?.expect("an answer to the schema");
        assert_eq!(ready, serde_json::json!({"ack_up_to_offset": -1, "ack_up_to_records": 0}));
        Ok(())
    }
}

async fn put(server: &MockServer, token: Option<&str>, table: Option<&str>) -> Result<Put, Status> {
    let channel = tonic::transport::Channel::from_shared(server.grpc_url()).unwrap().connect().await.unwrap();
    let mut client = FlightServiceClient::new(channel);
    let (tx, rx) = mpsc::channel(64);
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    if let Some(table) = table {
        request.metadata_mut().insert("x-databricks-zerobus-table-name", table.parse().unwrap());
    }
    let rx = tokio::time::timeout(WAIT, client.do_put(request)).await.expect("headers in time")?.into_inner();
    Ok(Put { tx: Some(tx), rx })
}

/// Opens a put on `table` and sends `schema`; the call, or the status it failed with.
async fn open(server: &MockServer, table: &str, schema: &Schema) -> Result<Put, Status> {
    let mut p = put(server, Some(DEFAULT_STATIC_TOKEN), Some(table)).await?;
    p.send(schema_message(schema)).await;
    p.expect_ready_or_status().await.map(|()| p)
}

fn error_info(status: &Status) -> Option<ErrorInfo> {
    let details = RpcStatus::decode(status.details()).ok()?;
    let any = details.details.iter().find(|a| a.type_url.ends_with("google.rpc.ErrorInfo"))?;
    ErrorInfo::decode(&any.value[..]).ok()
}

#[tokio::test]
async fn flight_ready_signal_then_cumulative_row_acks() {
    let server = declared_server().await;
    let mut p = put(&server, Some(DEFAULT_STATIC_TOKEN), Some(CARS)).await.unwrap();
    p.send(schema_message(&cars_schema())).await;
    p.expect_ready().await;
    let mut rows = 0;
    for (offset, n) in [(0, 3), (1, 5), (2, 2)] {
        p.send(batch_message(&cars_batch(n), Some(offset))).await;
        rows += n as u64;
        let ack = p.next().await.unwrap().unwrap();
        assert_eq!(ack, serde_json::json!({"ack_up_to_offset": offset, "ack_up_to_records": rows}));
    }
    p.tx = None;
    assert!(p.next().await.unwrap().is_none(), "clean end after half-close");
    assert_eq!(server.table_stats(CARS).records, 10);
    assert!(server.table_stats(CARS).bytes > 0);
    let stored = server.arrow_batches(CARS);
    assert_eq!(stored.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), vec![3, 5, 2]);
    assert_eq!(stored[1], cars_batch(5));
    let log = server.connections();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].messages, log[0].records, log[0].acked_up_to), (3, 10, Some(2)));
    server.reset();
    assert!(server.arrow_batches(CARS).is_empty());
    assert_eq!(server.table_stats(CARS).records, 0);
}

#[tokio::test]
async fn flight_accepts_utf8_for_string_and_undeclared_tables() {
    let server = declared_server().await;
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("seats", DataType::Int32, true),
    ]));
    let mut p = open(&server, CARS, &schema).await.unwrap();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
            Arc::new(Int32Array::from(vec![None])) as ArrayRef,
        ],
    )
    .unwrap();
    p.send(batch_message(&batch, Some(0))).await;
    assert_eq!(p.next().await.unwrap().unwrap()["ack_up_to_records"], 1);
    // A table without declared columns takes any schema.
    let mut p = open(&server, EVENTS, &cars_schema()).await.unwrap();
    p.send(batch_message(&cars_batch(4), Some(0))).await;
    assert_eq!(p.next().await.unwrap().unwrap()["ack_up_to_records"], 4);
    assert_eq!(server.table_stats(EVENTS).records, 4);
}

#[tokio::test]
async fn flight_schema_mismatch_is_invalid_argument_with_causes() {
    let server = declared_server().await;
    let schema = Schema::new(vec![
        Field::new("seats", DataType::Utf8, true),
        Field::new("colour", DataType::Utf8, true),
    ]);
    let status = open(&server, CARS, &schema).await.err().expect("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let info = error_info(&status).expect("ErrorInfo in the details");
    assert_eq!(info.reason, "SCHEMA_VALIDATION_FAILED");
    assert_eq!(info.domain, "zerobus.databricks.com");
    assert_eq!(info.metadata["error_code"], "8001");
    let causes: Vec<&str> = info.metadata["causes"].split(',').collect();
    for cause in ["FIELD_OUT_OF_ORDER", "TYPE_INCOMPATIBLE", "FIELD_NOT_IN_TABLE", "MISSING_REQUIRED_COLUMN"]
    {
        assert!(causes.contains(&cause), "{cause} in {causes:?}");
    }
    // One column short, nullable: the count differs.
    let status = open(&server, CARS, &Schema::new(vec![Field::new("name", DataType::LargeUtf8, false)]))
        .await
        .err()
        .expect("refused");
    assert_eq!(error_info(&status).unwrap().metadata["causes"], "FIELD_COUNT_MISMATCH");
    // A nullable field for a NOT NULL column.
    let schema = Schema::new(vec![
        Field::new("name", DataType::LargeUtf8, true),
        Field::new("seats", DataType::Int32, true),
    ]);
    let status = open(&server, CARS, &schema).await.err().expect("refused");
    assert_eq!(error_info(&status).unwrap().metadata["causes"], "TYPE_INCOMPATIBLE");
}

#[tokio::test]
async fn flight_checks_token_and_table() {
    let server = declared_server().await;
    let status = put(&server, None, Some(CARS)).await.err().expect("refused");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = put(&server, Some("not-a-token"), Some(CARS)).await.err().expect("refused");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status =
        put(&server, Some(DEFAULT_STATIC_TOKEN), Some("main.default.nope")).await.err().expect("refused");
    assert_eq!(status.code(), Code::NotFound);
    let status = put(&server, Some(DEFAULT_STATIC_TOKEN), None).await.err().expect("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    // An issued token speaks for its own table only.
    let token = fetch_token(&server, EVENTS).await;
    let status = put(&server, Some(&token), Some(CARS)).await.err().expect("refused");
    assert_eq!(status.code(), Code::PermissionDenied);
    let p = put(&server, Some(&token), Some(EVENTS)).await;
    assert!(p.is_ok());
}

#[tokio::test]
async fn flight_wrong_or_missing_offset_id_is_invalid_argument() {
    let server = declared_server().await;
    let mut p = open(&server, CARS, &cars_schema()).await.unwrap();
    p.send(batch_message(&cars_batch(1), Some(1))).await;
    let status = p.next().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("offset_id"), "{status:?}");
    let mut p = open(&server, CARS, &cars_schema()).await.unwrap();
    p.send(batch_message(&cars_batch(1), None)).await;
    let status = p.next().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("offset_id"), "{status:?}");
    assert_eq!(server.table_stats(CARS).records, 0);
}

#[tokio::test]
async fn flight_drop_after_ends_the_call() {
    let server = declared_server().await;
    server.set_faults(FaultScript {
        streams: vec![StreamFault { connection: Some(1), action: StreamAction::DropAfter { messages: 2 } }],
        ..Default::default()
    });
    let mut p = open(&server, CARS, &cars_schema()).await.unwrap();
    for offset in 0..2 {
        p.send(batch_message(&cars_batch(2), Some(offset))).await;
        assert_eq!(p.next().await.unwrap().unwrap()["ack_up_to_offset"], offset);
    }
    let status = p.next().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(server.table_stats(CARS).records, 4);
}

#[tokio::test]
async fn flight_withheld_acks_and_close_signal() {
    let server = declared_server().await;
    server.set_faults(FaultScript {
        streams: vec![
            StreamFault { connection: Some(1), action: StreamAction::WithholdAcksAfter { messages: 1 } },
            StreamFault {
                connection: Some(2),
                action: StreamAction::CloseSignalAfter { messages: 1, duration_ms: 200 },
            },
        ],
        ..Default::default()
    });
    let mut p = open(&server, CARS, &cars_schema()).await.unwrap();
    p.send(batch_message(&cars_batch(2), Some(0))).await;
    assert_eq!(p.next().await.unwrap().unwrap()["ack_up_to_records"], 2);
    p.send(batch_message(&cars_batch(3), Some(1))).await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), p.rx.message()).await;
    assert!(quiet.is_err(), "no ack after the first: {quiet:?}");
    assert_eq!(server.table_stats(CARS).records, 5, "withheld batches are still stored");

    let mut p = open(&server, CARS, &cars_schema()).await.unwrap();
    p.send(batch_message(&cars_batch(1), Some(0))).await;
    assert_eq!(p.next().await.unwrap().unwrap()["ack_up_to_records"], 1);
    let signal = p.next().await.unwrap().unwrap();
    assert_eq!(signal["close_stream_duration_ms"], 200);
    assert_eq!(signal["ack_up_to_offset"], 0);
    assert!(p.next().await.unwrap().is_none(), "the server ends the call after the duration");
}

#[tokio::test]
async fn flight_ack_delay_keeps_acks_in_order() {
    let server = declared_server().await;
    server.set_faults(FaultScript { ack_delay_ms: 50, ..Default::default() });
    let mut p = open(&server, CARS, &cars_schema()).await.unwrap();
    let started = std::time::Instant::now();
    for offset in 0..3 {
        p.send(batch_message(&cars_batch(1), Some(offset))).await;
    }
    for offset in 0..3 {
        let ack = p.next().await.unwrap().unwrap();
        assert_eq!(ack, serde_json::json!({"ack_up_to_offset": offset, "ack_up_to_records": offset + 1}));
    }
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[tokio::test]
async fn flight_counts_only_without_payloads() {
    let server =
        MockServer::start(MockServerConfig { keep_payloads: false, ..Default::default() }).await.unwrap();
    let mut p = open(&server, EVENTS, &cars_schema()).await.unwrap();
    p.send(batch_message(&cars_batch(7), Some(0))).await;
    assert_eq!(p.next().await.unwrap().unwrap()["ack_up_to_records"], 7);
    assert_eq!(server.table_stats(EVENTS).records, 7);
    assert!(server.arrow_batches(EVENTS).is_empty());
    // Counting from the header still refuses a body shorter than the header says.
    let mut short = batch_message(&cars_batch(7), Some(1));
    short.data_body = short.data_body.slice(..short.data_body.len() / 2);
    p.send(short).await;
    let status = p.next().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("body"), "{status:?}");
    assert_eq!(server.table_stats(EVENTS).records, 7);
}

fn compressed_batch_message(
    batch: &RecordBatch,
    offset: i64,
    codec: arrow_ipc::CompressionType,
) -> FlightData {
    let options = arrow_ipc::writer::IpcWriteOptions::default().try_with_compression(Some(codec)).unwrap();
    let mut tracker = arrow_ipc::writer::DictionaryTracker::new(false);
    let mut context = arrow_ipc::writer::CompressionContext::default();
    let (_, encoded) = arrow_ipc::writer::IpcDataGenerator::default()
        .encode(batch, &mut tracker, &options, &mut context)
        .unwrap();
    let mut data = FlightData::from(encoded);
    data.app_metadata = serde_json::json!({ "offset_id": offset }).to_string().into();
    data
}

#[tokio::test]
async fn flight_decodes_lz4_and_zstd_bodies() {
    let server = declared_server().await;
    let mut p = open(&server, CARS, &cars_schema()).await.unwrap();
    let batch = cars_batch(100);
    p.send(compressed_batch_message(&batch, 0, arrow_ipc::CompressionType::LZ4_FRAME)).await;
    p.send(compressed_batch_message(&batch, 1, arrow_ipc::CompressionType::ZSTD)).await;
    assert_eq!(p.next().await.unwrap().unwrap()["ack_up_to_records"], 100);
    assert_eq!(p.next().await.unwrap().unwrap()["ack_up_to_records"], 200);
    assert_eq!(server.arrow_batches(CARS), vec![batch.clone(), batch]);
}

#[test]
fn flight_schema_check_ignores_list_item_names_and_takes_utf8_decimals() {
    let table = parse_table(
        "main.default.t(tags ARRAY<STRING>, price DECIMAL(10,2), at TIMESTAMP, loc STRUCT<lat: DOUBLE>)",
    )
    .unwrap();
    let expected = zerobus_schema::arrow_schema(&table);
    let got = Schema::new(vec![
        Field::new("tags", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
        Field::new("price", DataType::Utf8, true),
        Field::new("at", DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into())), true),
        Field::new("loc", DataType::Struct(vec![Field::new("lat", DataType::Float64, true)].into()), true),
    ]);
    crate::mock::flight::check_schema("main.default.t", &expected, &got).unwrap();
    let wrong = Schema::new(vec![
        Field::new("tags", DataType::List(Arc::new(Field::new("item", DataType::Int32, true))), true),
        Field::new("price", DataType::Utf8, true),
        Field::new("at", DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, None), true),
        Field::new("loc", DataType::Struct(vec![Field::new("lat", DataType::Float64, true)].into()), true),
    ]);
    let mismatch = crate::mock::flight::check_schema("main.default.t", &expected, &wrong).unwrap_err();
    assert_eq!(mismatch.causes(), "TYPE_INCOMPATIBLE");
    assert_eq!(mismatch.problems.len(), 2, "{}", mismatch.message());
}
