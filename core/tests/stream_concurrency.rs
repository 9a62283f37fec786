//! Many tasks share one stream: offsets stay unique and continuous, and every record arrives once.

use std::collections::HashSet;
use std::sync::Arc;

use zerobus_conformance::mock::{MockServer, MockServerConfig};
use zerobus_conformance::records::json_record;
use zerobus_core::{RecordType, StreamConfigurationOptions, TableProperties, ZerobusSdk};

const TABLE: &str = "main.default.events";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingests_get_unique_continuous_offsets() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let config = MockServerConfig::default();
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let options = StreamConfigurationOptions {
        record_type: RecordType::Json,
        max_inflight_requests: 64, // small, so tasks contend for room
        ..Default::default()
    };
    let stream = Arc::new(
        sdk.create_stream(TableProperties::new(TABLE), &config.client_id, &config.client_secret, options)
            .await
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let stream = stream.clone();
        tasks.push(tokio::spawn(async move {
            let mut offsets = Vec::new();
            for i in 0..250u64 {
                let record = json_record(t, i, 120);
                offsets.push(stream.ingest_record_offset(record.as_str()).await.unwrap());
            }
            offsets
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    stream.flush().await.unwrap();
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(unique.len(), 2000);
    assert_eq!(unique, (0..2000).collect::<HashSet<i64>>());
    assert_eq!(stream.metrics().last_acked_offset, Some(1999));
    stream.close().await.unwrap();
    assert_eq!(server.records(TABLE).len(), 2000);
    server.shutdown().await;
}

#[tokio::test]
async fn debug_output_never_shows_the_secret() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let config = MockServerConfig::default();
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let options = StreamConfigurationOptions { record_type: RecordType::Json, ..Default::default() };
    let stream = sdk
        .create_stream(TableProperties::new(TABLE), &config.client_id, &config.client_secret, options)
        .await
        .unwrap();
    let shown = format!("{stream:?} {sdk:?}");
    assert!(!shown.contains(&config.client_secret), "{shown}");
    assert!(shown.contains("<redacted>"));
    stream.close().await.unwrap();
    server.shutdown().await;
}
