//! The published Rust client (`databricks-zerobus-ingest-sdk`, version pinned in `Cargo.toml`) against the in-process mock
//! server: OAuth against the mock's token endpoint, a JSON stream and a PROTO stream (runtime
//! `DescriptorProto`), single records and a batch, flush and close; then what the mock saw.

use std::time::Duration;

use databricks_zerobus_ingest_sdk::{JsonString, ProtoBytes, DEFAULT_SDK_IDENTIFIER};
use zerobus_compat::plaintext_sdk;
use zerobus_conformance::mock::{
    ConnectionEnd, ConnectionLog, MockServer, MockServerConfig, ReceivedRecord, RecordKind,
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
};
use zerobus_conformance::records::{json_record, proto_record, record_descriptor};

const TABLE: &str = "main.default.events";
const SINGLES: u64 = 100;
const BATCH: u64 = 10;
const RECORD_TYPE_PROTO: i32 = 1;
const RECORD_TYPE_JSON: i32 = 2;

/// The connection log once every call has ended (the server records the end after the client's
/// `close()` returns).
async fn ended_connections(server: &MockServer) -> Vec<ConnectionLog> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let connections = server.connections();
        if connections.iter().all(|c| c.end != ConnectionEnd::Open) || tokio::time::Instant::now() >= deadline
        {
            return connections;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Prints what the client sent, bearer token elided, so a test run documents it.
fn report(connection: &ConnectionLog) {
    for (name, value) in &connection.headers {
        let shown = if name == "authorization" { "Bearer <elided>" } else { value };
        println!("header {name}: {shown}");
    }
    println!("end: {:?}", connection.end);
}

/// `SINGLES` single-record calls, then one batch call of `BATCH` records.
fn check_records(records: &[ReceivedRecord], kind: RecordKind, expected: &[Vec<u8>]) {
    assert_eq!(records.len(), expected.len());
    for (i, (record, payload)) in records.iter().zip(expected).enumerate() {
        assert_eq!(record.payload.as_ref(), payload.as_slice(), "record {i}");
        assert_eq!(record.kind, kind);
        assert_eq!(record.connection, 1);
        if (i as u64) < SINGLES {
            assert_eq!(record.wire_offset, i as i64, "record {i}");
            assert!(!record.batched, "record {i}");
            assert_eq!((record.index_in_batch, record.batch_len), (0, 1));
        } else {
            assert_eq!(record.wire_offset, SINGLES as i64, "record {i}");
            assert!(record.batched, "record {i}");
            assert_eq!(record.index_in_batch as u64, i as u64 - SINGLES);
            assert_eq!(record.batch_len as u64, BATCH);
        }
    }
}

/// tonic appends its own product token to the value the client sets on its `Endpoint`:
/// `<sdk identifier>[ <application name>] tonic/<version>`.
fn assert_user_agent(connection: &ConnectionLog, client_part: &str) {
    let user_agent = connection.user_agent.as_deref().unwrap_or_default();
    let tonic = user_agent.strip_prefix(client_part).and_then(|rest| rest.strip_prefix(" tonic/"));
    assert!(tonic.is_some_and(|v| !v.is_empty()), "user-agent {user_agent:?}");
}

fn check_connection(connection: &ConnectionLog, record_type: i32, token: &str, total: u64) {
    assert_eq!(connection.table.as_deref(), Some(TABLE));
    assert_eq!(connection.table_header.as_deref(), Some(TABLE));
    assert_eq!(connection.authorization.as_deref(), Some(format!("Bearer {token}").as_str()));
    assert_eq!(connection.record_type, Some(record_type));
    assert!(connection.stream_id.is_some());
    assert_eq!(connection.messages, SINGLES + 1);
    assert_eq!(connection.records, total);
    assert_eq!(connection.acked_up_to, Some(SINGLES as i64));
    assert_eq!(connection.end, ConnectionEnd::ClientHalfClosed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_stream_with_oauth() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let sdk = plaintext_sdk(&server.grpc_url(), &server.workspace_url()).build().unwrap();
    let mut stream = sdk
        .stream_builder()
        .table(TABLE)
        .oauth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        .json()
        .build()
        .await
        .unwrap();

    let records: Vec<String> = (0..SINGLES + BATCH).map(|i| json_record(7, i, 120)).collect();
    for (i, record) in records[..SINGLES as usize].iter().enumerate() {
        let offset = stream.ingest_record_offset(JsonString(record.clone())).await.unwrap();
        assert_eq!(offset, i as i64);
    }
    let batch = records[SINGLES as usize..].iter().cloned().map(JsonString);
    let offset = stream.ingest_records_offset(batch).await.unwrap();
    assert_eq!(offset, Some(SINGLES as i64));
    stream.flush().await.unwrap();
    stream.close().await.unwrap();

    let expected: Vec<Vec<u8>> = records.into_iter().map(String::into_bytes).collect();
    check_records(&server.records(TABLE), RecordKind::Json, &expected);

    // One token request: client credentials in HTTP Basic, the documented form fields.
    let tokens = server.token_requests();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let token = &tokens[0];
    assert_eq!(token.basic_client_id.as_deref(), Some(DEFAULT_CLIENT_ID));
    assert!(token.basic_secret_matched);
    assert_eq!(token.status, 200);
    assert_eq!(token.form_value("grant_type"), Some("client_credentials"));
    assert_eq!(token.form_value("scope"), Some("all-apis"));
    // The workspace id is the first DNS label of the endpoint host: "127" of 127.0.0.1.
    assert_eq!(token.form_value("resource"), Some("api://databricks/workspaces/127/zerobusDirectWriteApi"));
    let details = token.authorization_details.as_ref().unwrap();
    let table_entry = details.as_array().unwrap().iter().find(|e| e["object_type"] == "TABLE").unwrap();
    assert_eq!(table_entry["object_full_path"], TABLE);
    let issued = token.issued_token.clone().unwrap();

    let connections = ended_connections(&server).await;
    assert_eq!(connections.len(), 1, "{connections:?}");
    let connection = &connections[0];
    report(connection);
    check_connection(connection, RECORD_TYPE_JSON, &issued, SINGLES + BATCH);
    assert!(DEFAULT_SDK_IDENTIFIER.starts_with("zerobus-sdk-rs/"));
    assert_user_agent(connection, DEFAULT_SDK_IDENTIFIER);

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proto_stream_with_runtime_descriptor() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let sdk = plaintext_sdk(&server.grpc_url(), &server.workspace_url())
        .application_name("zerobus-compat/0.1")
        .build()
        .unwrap();
    // `compiled_proto` takes any `prost_types::DescriptorProto`, built at run time here.
    let mut stream = sdk
        .stream_builder()
        .table(TABLE)
        .oauth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        .compiled_proto(record_descriptor())
        .build()
        .await
        .unwrap();

    let records: Vec<Vec<u8>> = (0..SINGLES + BATCH).map(|i| proto_record(11, i, 64)).collect();
    for (i, record) in records[..SINGLES as usize].iter().enumerate() {
        let offset = stream.ingest_record_offset(ProtoBytes(record.clone())).await.unwrap();
        assert_eq!(offset, i as i64);
    }
    let batch = records[SINGLES as usize..].iter().cloned().map(ProtoBytes);
    let offset = stream.ingest_records_offset(batch).await.unwrap();
    assert_eq!(offset, Some(SINGLES as i64));
    stream.flush().await.unwrap();
    stream.close().await.unwrap();

    check_records(&server.records(TABLE), RecordKind::Proto, &records);

    let tokens = server.token_requests();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let issued = tokens[0].issued_token.clone().unwrap();
    let connections = ended_connections(&server).await;
    assert_eq!(connections.len(), 1, "{connections:?}");
    let connection = &connections[0];
    report(connection);
    check_connection(connection, RECORD_TYPE_PROTO, &issued, SINGLES + BATCH);
    assert_user_agent(connection, &format!("{DEFAULT_SDK_IDENTIFIER} zerobus-compat/0.1"));

    server.shutdown().await;
}
