//! The published Rust client's Arrow stream (`databricks-zerobus-ingest-sdk` with its
//! `arrow-flight` feature) against the mock's Flight `DoPut` (PROTOCOL.md §9): the schema message,
//! the ready signal, `{"offset_id": N}` batches, acks by rows, flush and close; then the rows the
//! mock stored. The mock declares the table, so it also checks the schema the client sent.

use std::sync::Arc;
use std::time::Duration;

use databricks_zerobus_ingest_sdk::{ArrowSchema, DataType, Field, RecordBatch};
use zerobus_compat::plaintext_sdk;
use zerobus_conformance::mock::{
    ConnectionEnd, MockServer, MockServerConfig, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
};

const TABLE: &str = "main.default.cars";

fn schema() -> Arc<ArrowSchema> {
    Arc::new(ArrowSchema::new(vec![
        Field::new("name", DataType::LargeUtf8, false),
        Field::new("seats", DataType::Int32, true),
    ]))
}

fn cars(from: i32, rows: i32) -> RecordBatch {
    use arrow_array::{ArrayRef, Int32Array, LargeStringArray};
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(LargeStringArray::from_iter_values((from..from + rows).map(|i| format!("car-{i}"))))
                as ArrayRef,
            Arc::new(Int32Array::from_iter_values(from..from + rows)) as ArrayRef,
        ],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_arrow_stream_against_the_flight_mock() {
    let config = MockServerConfig {
        table_schemas: vec![zerobus_schema::parse_table(
            "main.default.cars(name STRING NOT NULL, seats INT)",
        )
        .unwrap()],
        ..Default::default()
    };
    let server = MockServer::start(config).await.unwrap();
    let sdk = plaintext_sdk(&server.grpc_url(), &server.workspace_url()).build().unwrap();
    let mut stream = sdk
        .stream_builder()
        .table(TABLE)
        .oauth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        .arrow(schema())
        .build_arrow()
        .await
        .unwrap();
    let mut last = 0;
    for i in 0..5 {
        last = stream.ingest_batch(cars(i * 100, 100)).await.unwrap();
    }
    stream.wait_for_offset(last).await.unwrap();
    stream.flush().await.unwrap();
    stream.close().await.unwrap();

    let seats: Vec<i32> = server
        .arrow_batches(TABLE)
        .iter()
        .flat_map(|b| {
            let col = b.column(1).as_any().downcast_ref::<arrow_array::Int32Array>().unwrap();
            col.values().to_vec()
        })
        .collect();
    assert_eq!(seats, (0..500).collect::<Vec<_>>(), "every row once, in order");
    assert_eq!(server.table_stats(TABLE).records, 500);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let connections = loop {
        let c = server.connections();
        if c.iter().all(|c| c.end != ConnectionEnd::Open) || tokio::time::Instant::now() >= deadline {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(connections.len(), 1, "{connections:?}");
    let c = &connections[0];
    assert_eq!(c.table_header.as_deref(), Some(TABLE));
    assert!(c.authorization.as_deref().is_some_and(|a| a.starts_with("Bearer ")));
    assert_eq!(c.records, 500);
    println!("published arrow stream ended: {:?}", c.end);
    server.shutdown().await;
}
