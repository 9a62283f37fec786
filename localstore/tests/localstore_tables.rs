//! A mock server with a data directory: JSON, typed PROTO and Arrow Flight calls into one
//! declared table are acked once logged, committed to its Delta table, and read back; a call
//! that does not fit the columns is refused and names the record and the column; a log read
//! again after a lost checkpoint commits nothing twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Int32Array, LargeStringArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use zerobus_conformance::mock::{CallStore, MockServer, MockServerConfig};
use zerobus_core::schema::{parse_table, TableSchema};
use zerobus_core::{
    ArrowStreamConfigurationOptions, ArrowTableProperties, ErrorCode, RecordType, StreamConfigurationOptions,
    TableProperties, ZerobusSdk,
};
use zerobus_localstore::{read_rows, LocalStore, StoreOptions};

const TABLE: &str = "main.demo.cars";

fn declared() -> TableSchema {
    parse_table("main.demo.cars(name STRING NOT NULL, seats INT, at TIMESTAMP)").unwrap()
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zerobus-localstore-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn open_store(dir: &Path) -> Arc<LocalStore> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || LocalStore::open(&dir, &[declared()])).await.unwrap().unwrap()
}

async fn server(store: &Arc<LocalStore>) -> (MockServer, MockServerConfig) {
    let config = MockServerConfig {
        table_schemas: vec![declared()],
        store: Some(store.clone() as Arc<dyn CallStore>),
        keep_payloads: false,
        ..Default::default()
    };
    (MockServer::start(config.clone()).await.unwrap(), config)
}

async fn shut(store: Arc<LocalStore>) {
    tokio::task::spawn_blocking(move || store.shutdown()).await.unwrap();
}

/// `rows` cars through a mock server on `store`, `per_call` in each JSON call; then the server
/// stops (the store stays open).
async fn ingest_cars(store: &Arc<LocalStore>, rows: usize, per_call: usize) {
    let (server, config) = server(store).await;
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let json = StreamConfigurationOptions { record_type: RecordType::Json, ..Default::default() };
    let stream = sdk
        .create_stream(TableProperties::new(TABLE), &config.client_id, &config.client_secret, json)
        .await
        .unwrap();
    let records: Vec<String> =
        (0..rows).map(|i| format!(r#"{{"name": "car-{i:03}", "seats": {i}}}"#)).collect();
    for chunk in records.chunks(per_call) {
        stream.ingest_records_offset(chunk.iter().map(String::as_str)).await.unwrap();
    }
    stream.close().await.unwrap();
    server.shutdown().await;
}

/// (name, seats) of every committed row, sorted.
async fn rows(dir: &Path) -> Vec<(String, Option<i32>)> {
    let mut out = Vec::new();
    for batch in read_rows(dir, TABLE).await.unwrap() {
        let names = batch.column(0);
        let names: Vec<String> = match names.as_any().downcast_ref::<StringArray>() {
            Some(a) => a.iter().map(|v| v.unwrap().to_owned()).collect(),
            None => names
                .as_any()
                .downcast_ref::<LargeStringArray>()
                .unwrap()
                .iter()
                .map(|v| v.unwrap().to_owned())
                .collect(),
        };
        let seats = batch.column(1).as_any().downcast_ref::<Int32Array>().unwrap();
        out.extend(names.into_iter().zip(seats.iter()));
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_proto_and_arrow_calls_land_in_one_delta_table() {
    let dir = scratch("three-ways");
    let store = open_store(&dir).await;
    let (server, config) = server(&store).await;
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let (id, secret) = (&config.client_id, &config.client_secret);

    let json = StreamConfigurationOptions { record_type: RecordType::Json, ..Default::default() };
    let stream = sdk.create_stream(TableProperties::new(TABLE), id, secret, json.clone()).await.unwrap();
    stream
        .ingest_records_offset([
            r#"{"name": "json-0", "seats": 4, "at": 1700000000000000}"#,
            r#"{"name": "json-1", "at": "2024-05-01T12:00:00Z"}"#,
        ])
        .await
        .unwrap();
    stream.flush().await.unwrap();
    stream.close().await.unwrap();

    // PROTO, opened from the table: the core encodes each JSON record by the columns' types.
    let proto = StreamConfigurationOptions { record_type: RecordType::Proto, ..Default::default() };
    let stream = sdk.create_stream(TableProperties::new(TABLE), id, secret, proto).await.unwrap();
    stream.ingest_record_offset(r#"{"name": "proto-0", "seats": 2}"#).await.unwrap();
    stream.ingest_record_offset(r#"{"name": "proto-1"}"#).await.unwrap();
    stream.close().await.unwrap();

    let schema = Arc::new(zerobus_core::schema::arrow_schema(&declared()));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(LargeStringArray::from(vec!["arrow-0", "arrow-1", "arrow-2"])) as ArrayRef,
            Arc::new(Int32Array::from(vec![Some(7), None, Some(9)])) as ArrayRef,
            Arc::new(TimestampMicrosecondArray::from(vec![Some(1), None, Some(3)]).with_timezone("UTC"))
                as ArrayRef,
        ],
    )
    .unwrap();
    let arrow = sdk
        .create_arrow_stream(
            ArrowTableProperties::new(TABLE, schema),
            id,
            secret,
            ArrowStreamConfigurationOptions::default(),
        )
        .await
        .unwrap();
    arrow.ingest_batch(batch).await.unwrap();
    arrow.close().await.unwrap();

    // A record with a column the table does not have: refused, named, nothing stored.
    let stream = sdk.create_stream(TableProperties::new(TABLE), id, secret, json).await.unwrap();
    let err =
        match stream.ingest_records_offset([r#"{"name": "ok"}"#, r#"{"name": "bad", "wheels": 4}"#]).await {
            Err(e) => e,
            Ok(_) => stream.flush().await.unwrap_err(),
        };
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    assert!(err.message().contains("record 1") && err.message().contains("wheels"), "{err}");
    let _ = stream.close().await;

    server.shutdown().await;
    shut(store).await;
    assert_eq!(
        rows(&dir).await,
        vec![
            ("arrow-0".into(), Some(7)),
            ("arrow-1".into(), None),
            ("arrow-2".into(), Some(9)),
            ("json-0".into(), Some(4)),
            ("json-1".into(), None),
            ("proto-0".into(), Some(2)),
            ("proto-1".into(), None),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_read_again_commits_nothing_twice() {
    let dir = scratch("replay");
    let store = open_store(&dir).await;
    ingest_cars(&store, 500, 50).await;
    shut(store).await;
    let once = rows(&dir).await;
    assert_eq!(once.len(), 500);

    // As if the process died after its commits but before the checkpoint: the whole log is read
    // again, and every entry is found committed already.
    std::fs::remove_file(dir.join("_wal").join("checkpoint")).unwrap();
    let store = open_store(&dir).await;
    assert_eq!(store.progress().commits, 0, "nothing committed again");
    shut(store).await;
    assert_eq!(rows(&dir).await, once);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_commits_a_backlog_of_many_rounds_and_returns() {
    let dir = scratch("backlog");
    let options = StoreOptions { round_bytes: 1024, commit_interval: std::time::Duration::from_secs(3600) };
    let store = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || LocalStore::open_with(&dir, &[declared()], options))
            .await
            .unwrap()
            .unwrap()
    };
    ingest_cars(&store, 300, 10).await;
    // 300 rows of about 40 bytes in rounds of 1 KiB: the stop takes several rounds, and ends.
    // On a plain thread, so a shutdown that never returns fails the test instead of hanging it.
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        store.shutdown();
        let _ = done.send(());
    });
    let waited =
        tokio::task::spawn_blocking(move || stopped.recv_timeout(std::time::Duration::from_secs(60)));
    assert!(waited.await.unwrap().is_ok(), "shutdown did not return with a backlog of several rounds");
    assert_eq!(rows(&dir).await.len(), 300);
    let _ = std::fs::remove_dir_all(&dir);
}
