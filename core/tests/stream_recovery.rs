//! Recovery details the conformance cases cannot see from outside a binding: the stream id
//! follows reconnects, PERMISSION_DENIED drops the cached token, and options out of range are
//! refused before anything is sent.

use zerobus_conformance::mock::{
    FaultScript, GrpcCode, MockServer, MockServerConfig, StreamAction, StreamFault, DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
};
use zerobus_core::{ErrorCode, RecordType, StreamConfigurationOptions, TableProperties, ZerobusSdk};

const TABLE: &str = "main.default.events";

fn json_options() -> StreamConfigurationOptions {
    StreamConfigurationOptions {
        record_type: RecordType::Json,
        recovery_backoff_ms: 20,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_id_is_the_current_connections() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    server.set_faults(FaultScript {
        streams: vec![StreamFault { connection: Some(1), action: StreamAction::DropAfter { messages: 3 } }],
        ..Default::default()
    });
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let stream = sdk
        .create_stream(TableProperties::new(TABLE), DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, json_options())
        .await
        .unwrap();
    let first = stream.stream_id();
    for i in 0..10 {
        stream.ingest_record_offset(format!(r#"{{"n":{i}}}"#).as_str()).await.unwrap();
    }
    stream.flush().await.unwrap();
    assert!(stream.metrics().recoveries >= 1);
    let ids: Vec<String> = server.connections().iter().filter_map(|c| c.stream_id.clone()).collect();
    assert_eq!(ids.first(), Some(&first));
    assert_eq!(stream.stream_id(), *ids.last().unwrap(), "stream_id() names the current connection");
    assert_ne!(stream.stream_id(), first);
    stream.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_denied_drops_the_cached_token() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let open = || {
        sdk.create_stream(
            TableProperties::new(TABLE),
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            json_options(),
        )
    };
    // A first stream caches a token for (client, table).
    open().await.unwrap().close().await.unwrap();
    assert_eq!(server.token_requests().len(), 1);
    // The server refuses it: PERMISSION_DENIED is final, and the cached token goes.
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: None,
            action: StreamAction::CreateStatus { code: GrpcCode::PermissionDenied },
        }],
        ..Default::default()
    });
    let e = open().await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::PermissionDenied);
    assert_eq!(e.grpc_status(), Some(7));
    assert_eq!(server.connections().len(), 1, "not retried");
    // Privileges granted: the next stream asks for a new token instead of reusing the old one.
    server.set_faults(FaultScript::default());
    open().await.unwrap().close().await.unwrap();
    assert_eq!(server.token_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_out_of_range_are_refused_before_anything_is_sent() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let cases: Vec<(&str, StreamConfigurationOptions)> = vec![
        ("flush_timeout_ms", StreamConfigurationOptions { flush_timeout_ms: 0, ..json_options() }),
        (
            "recovery_timeout_ms",
            StreamConfigurationOptions { recovery_timeout_ms: u64::MAX, ..json_options() },
        ),
        (
            "recovery_backoff_max_ms",
            StreamConfigurationOptions {
                recovery_backoff_ms: 5_000,
                recovery_backoff_max_ms: 1_000,
                ..json_options()
            },
        ),
    ];
    for (name, options) in cases {
        let e = sdk
            .create_stream(TableProperties::new(TABLE), DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, options)
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{name}: {e}");
        assert!(e.message().contains(name), "{name}: {e}");
    }
    assert_eq!(server.token_requests().len(), 0);
    assert_eq!(server.connections().len(), 0);
}
