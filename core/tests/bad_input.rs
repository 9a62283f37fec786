//! Bad input through the Rust API: each gets a clear error with the right code, names the
//! problem, and leaves what was already accepted alone (docs/bad-input.md points here).

use std::sync::Arc;

use zerobus_conformance::mock::{
    MockServer, MockServerConfig, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_STATIC_TOKEN,
};
use zerobus_core::{
    ErrorCode, HeadersProvider, RecordRef, RecordType, StreamConfigurationOptions, TableProperties,
    ZerobusError, ZerobusResult, ZerobusSdk, ZerobusStream,
};

const TABLE: &str = "main.default.events";

fn json() -> StreamConfigurationOptions {
    StreamConfigurationOptions {
        record_type: RecordType::Json,
        recovery_backoff_ms: 20,
        ..Default::default()
    }
}

async fn json_stream(server: &MockServer) -> ZerobusStream {
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    sdk.create_stream(TableProperties::new(TABLE), DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, json())
        .await
        .unwrap()
}

fn assert_error(e: &ZerobusError, code: ErrorCode, mentions: &[&str]) {
    assert_eq!(e.code(), code, "{e}");
    for m in mentions {
        assert!(e.message().contains(m), "{e} does not mention {m:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_and_calls_fail_alone() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let stream = json_stream(&server).await;
    stream.ingest_record_offset(r#"{"ok":1}"#).await.unwrap();

    let e = stream.wait_for_offset(5).await.unwrap_err();
    assert_error(&e, ErrorCode::InvalidArgument, &["offset 5", "never assigned"]);
    let e = stream.ingest_records_contiguous_offset(b"{}{}", &[2, 3]).await.unwrap_err();
    assert_error(&e, ErrorCode::InvalidArgument, &["add up to 5", "holds 4"]);
    let e = stream.ingest_records_contiguous_offset(b"{}\xff\xfe", &[2, 2]).await.unwrap_err();
    assert_error(&e, ErrorCode::InvalidRecord, &["record 1", "UTF-8"]);
    let e = stream.ingest_record_offset(r#"{"a": tru}"#).await.unwrap_err();
    assert_error(&e, ErrorCode::InvalidRecord, &["one JSON object"]);
    let e = stream.ingest_records_offset([r#"{"a":1}"#, "7"]).await.unwrap_err();
    assert_error(&e, ErrorCode::InvalidRecord, &["record 1 of the batch"]);
    let e = stream.ingest_record_offset(RecordRef::Proto(&[8, 1])).await.unwrap_err();
    assert_error(&e, ErrorCode::InvalidRecord, &["proto bytes", TABLE]);

    // What was accepted before is delivered, and the stream goes on.
    stream.ingest_record_offset(r#"{"ok":2}"#).await.unwrap();
    stream.flush().await.unwrap();
    assert_eq!(server.records(TABLE).len(), 2);
    stream.close().await.unwrap();
    // After close, even an empty batch (which sends nothing) says the stream is closed.
    let none: [&str; 0] = [];
    assert_error(
        &stream.ingest_records_offset(none).await.unwrap_err(),
        ErrorCode::StreamClosed,
        &["closed"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sdk_and_stream_settings_are_refused_before_anything_is_sent() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let e = ZerobusSdk::builder().workspace_url(server.workspace_url()).build().unwrap_err();
    assert_error(&e, ErrorCode::InvalidArgument, &["endpoint is required"]);
    let e = ZerobusSdk::new("ftp://h:1", server.workspace_url()).unwrap_err();
    assert_error(&e, ErrorCode::InvalidArgument, &["must start with https://"]);
    let e = ZerobusSdk::new("http://", server.workspace_url()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    let e = ZerobusSdk::builder()
        .endpoint(server.grpc_url())
        .workspace_url(server.workspace_url())
        .add_ca_certificate_pem("not a certificate")
        .build()
        .unwrap_err();
    assert_error(&e, ErrorCode::InvalidArgument, &["CERTIFICATE"]);

    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let e =
        sdk.create_stream(TableProperties::new(TABLE), "", DEFAULT_CLIENT_SECRET, json()).await.unwrap_err();
    assert_error(&e, ErrorCode::InvalidArgument, &["client id"]);
    let proto = StreamConfigurationOptions { record_type: RecordType::Proto, ..json() };
    let e = sdk
        .create_stream(TableProperties::new(TABLE), DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, proto)
        .await
        .unwrap_err();
    // No descriptor means "from the table": this table has no schema in Unity Catalog.
    assert_error(&e, ErrorCode::NotFound, &["reading the schema of table", TABLE, "TABLE_DOES_NOT_EXIST"]);
    assert_eq!(server.connections().len(), 0);
}

struct Headers(Vec<(String, String)>);

impl HeadersProvider for Headers {
    fn get_headers(&self) -> ZerobusResult<Vec<(String, String)>> {
        Ok(self.0.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_headers_from_a_provider_are_named() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let bad_name = Arc::new(Headers(vec![("bad header".into(), "x".into())]));
    let e = sdk
        .create_stream_with_headers_provider(TableProperties::new(TABLE), bad_name, json())
        .await
        .unwrap_err();
    assert_error(&e, ErrorCode::InvalidArgument, &["\"bad header\"", "header name"]);
    let bad_value = Arc::new(Headers(vec![
        ("authorization".into(), format!("Bearer {DEFAULT_STATIC_TOKEN}\r\nx: y")),
        ("x-databricks-zerobus-table-name".into(), TABLE.into()),
    ]));
    let e = sdk
        .create_stream_with_headers_provider(TableProperties::new(TABLE), bad_value, json())
        .await
        .unwrap_err();
    assert_error(&e, ErrorCode::InvalidArgument, &["authorization", "header value"]);
    // A provider that leaves out the token: the server refuses, once (no retry of a final code).
    let no_token = Arc::new(Headers(vec![("x-databricks-zerobus-table-name".into(), TABLE.into())]));
    let e = sdk
        .create_stream_with_headers_provider(TableProperties::new(TABLE), no_token, json())
        .await
        .unwrap_err();
    assert_error(&e, ErrorCode::Unauthenticated, &["authorization"]);
    assert_eq!(e.grpc_status(), Some(16));
}
