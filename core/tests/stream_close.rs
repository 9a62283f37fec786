//! `close()` keeps its promise on time: when the flush inside it fails (its timeout passed with
//! acks still withheld), close returns that error at once instead of also waiting for the
//! server to end the call, and the unacknowledged records stay available.

use std::time::{Duration, Instant};

use zerobus_conformance::mock::{
    FaultScript, MockServer, MockServerConfig, StreamAction, StreamFault, DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
};
use zerobus_core::{ErrorCode, RecordType, StreamConfigurationOptions, TableProperties, ZerobusSdk};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_after_a_flush_timeout_returns_at_once() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: None,
            action: StreamAction::WithholdAcksAfter { messages: 0 },
        }],
        ..Default::default()
    });
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let options = StreamConfigurationOptions {
        record_type: RecordType::Json,
        flush_timeout_ms: 200,
        // Long enough that waiting for the server's end would show.
        recovery_timeout_ms: 10_000,
        server_lack_of_ack_timeout_ms: 60_000,
        ..Default::default()
    };
    let stream = sdk
        .create_stream(
            TableProperties::new("main.default.events"),
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            options,
        )
        .await
        .unwrap();
    stream.ingest_record_offset(r#"{"a":1}"#).await.unwrap();
    let started = Instant::now();
    let err = stream.close().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "close took {:?}", started.elapsed());
    assert!(stream.is_closed());
    assert_eq!(stream.get_unacked_records().len(), 1);
    server.shutdown().await;
}
