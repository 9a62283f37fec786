use super::*;
use crate::records::{json_record, proto_record, record_descriptor};
use prost::Message;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};
use zerobus_proto::ephemeral_stream_request::Payload;
use zerobus_proto::ephemeral_stream_response::Payload as Resp;
use zerobus_proto::zerobus_client::ZerobusClient;
use zerobus_proto::*;

const EVENTS: &str = "main.default.events";
const PROTO_TABLE: &str = "main.default.proto_table";
const WAIT: Duration = Duration::from_secs(3);

// ---- helpers ----

async fn server() -> MockServer {
    MockServer::start(MockServerConfig::default()).await.unwrap()
}

/// A minimal HTTP/1.1 POST over a raw socket, so the test doesn't trust our own client code.
async fn post(
    server: &MockServer,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &str,
) -> (u16, serde_json::Value) {
    use base64::Engine as _;
    let mut tcp = tokio::net::TcpStream::connect(server.token_addr()).await.unwrap();
    let auth = basic
        .map(|(id, secret)| {
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            format!("Authorization: Basic {b}\r\n")
        })
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn token_form(table: &str) -> String {
    let (c, rest) = table.split_once('.').unwrap();
    let (s, _) = rest.split_once('.').unwrap();
    let details = serde_json::json!([
        {"type": "unity_catalog_privileges", "privileges": ["USE CATALOG"], "object_type": "CATALOG", "object_full_path": c},
        {"type": "unity_catalog_privileges", "privileges": ["USE SCHEMA"], "object_type": "SCHEMA", "object_full_path": format!("{c}.{s}")},
        {"type": "unity_catalog_privileges", "privileges": ["SELECT", "MODIFY"], "object_type": "TABLE", "object_full_path": table, "operations": ["zerobuswrite"]},
    ]);
    format!(
        "grant_type=client_credentials&scope=all-apis&resource={}&authorization_details={}",
        enc("api://databricks/workspaces/1234/zerobusDirectWriteApi"),
        enc(&details.to_string())
    )
}

async fn fetch_token(server: &MockServer, table: &str) -> String {
    let (status, body) =
        post(server, TOKEN_PATH, Some((DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)), &token_form(table)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

struct Call {
    tx: Option<mpsc::Sender<EphemeralStreamRequest>>,
    rx: Streaming<EphemeralStreamResponse>,
}

impl Call {
    async fn send(&self, payload: Payload) {
        let msg = EphemeralStreamRequest { payload: Some(payload) };
        self.tx.as_ref().unwrap().send(msg).await.unwrap();
    }

    fn half_close(&mut self) {
        self.tx = None;
    }

    async fn next(&mut self) -> Result<Option<Resp>, Status> {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("server answered in time")
            .map(|m| m.map(|m| m.payload.unwrap()))
    }

    async fn expect_created(&mut self) -> String {
        match self.next().await {
            Ok(Some(Resp::CreateStreamResponse(r))) => r.stream_id.unwrap(),
            other => panic!("expected create_stream_response, got {other:?}"),
        }
    }

    /// Reads acks until `offset` is acked, checking they never go backwards.
    async fn acks_up_to(&mut self, offset: i64) -> Vec<i64> {
        let mut acks = Vec::new();
        while acks.last() != Some(&offset) {
            match self.next().await {
                Ok(Some(Resp::IngestRecordResponse(r))) => {
                    let a = r.durability_ack_up_to_offset.unwrap();
                    assert!(acks.last().is_none_or(|&l| l < a), "acks {acks:?} then {a}");
                    acks.push(a);
                }
                other => panic!("expected ack up to {offset}, got {other:?} after {acks:?}"),
            }
        }
        acks
    }

    /// Reads until the call ends; returns its status (OK for a clean end).
    async fn end(&mut self) -> Status {
        loop {
            match self.next().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Status::ok(""),
                Err(status) => return status,
            }
        }
    }
}

async fn call(server: &MockServer, token: Option<&str>, table: Option<&str>) -> Result<Call, Status> {
    let mut client = ZerobusClient::connect(server.grpc_url()).await.unwrap();
    let (tx, rx) = mpsc::channel(64);
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    if let Some(table) = table {
        request.metadata_mut().insert("x-databricks-zerobus-table-name", table.parse().unwrap());
    }
    request.metadata_mut().insert("user-agent", "mock-tests/1.0".parse().unwrap());
    let rx = tokio::time::timeout(WAIT, client.ephemeral_stream(request))
        .await
        .expect("response headers arrive before any message")?
        .into_inner();
    Ok(Call { tx: Some(tx), rx })
}

fn create_json(table: &str) -> Payload {
    Payload::CreateStream(CreateIngestStreamRequest {
        table_name: Some(table.into()),
        record_type: Some(RecordType::Json as i32),
        ..Default::default()
    })
}

fn create_proto(table: &str) -> Payload {
    Payload::CreateStream(CreateIngestStreamRequest {
        table_name: Some(table.into()),
        record_type: Some(RecordType::Proto as i32),
        descriptor_proto: Some(record_descriptor().encode_to_vec().into()),
        ..Default::default()
    })
}

fn json_one(offset: i64, record: String) -> Payload {
    Payload::IngestRecord(IngestRecordRequest {
        offset_id: Some(offset),
        record: Some(ingest_record_request::Record::JsonRecord(record)),
    })
}

fn json_batch(offset: i64, records: Vec<String>) -> Payload {
    Payload::IngestRecordBatch(IngestRecordBatchRequest {
        offset_id: Some(offset),
        batch: Some(ingest_record_batch_request::Batch::JsonBatch(JsonRecordBatch { records })),
    })
}

fn proto_batch(offset: i64, records: Vec<Vec<u8>>) -> Payload {
    Payload::IngestRecordBatch(IngestRecordBatchRequest {
        offset_id: Some(offset),
        batch: Some(ingest_record_batch_request::Batch::ProtoEncodedBatch(ProtoEncodedRecordBatch {
            records: records.into_iter().map(Into::into).collect(),
        })),
    })
}

async fn open_json(server: &MockServer) -> Call {
    let mut c = call(server, Some(DEFAULT_STATIC_TOKEN), Some(EVENTS)).await.unwrap();
    c.send(create_json(EVENTS)).await;
    c.expect_created().await;
    c
}

/// Polls until the reader task has logged the end of connection `index`.
async fn wait_end(server: &MockServer, index: u32) -> ConnectionEnd {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let end = server.connections()[index as usize - 1].end.clone();
        if end != ConnectionEnd::Open || tokio::time::Instant::now() > deadline {
            return end;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---- token endpoint ----

#[tokio::test]
async fn token_is_issued_and_accepted() {
    let server = server().await;
    let token = fetch_token(&server, EVENTS).await;

    let log = server.token_requests();
    assert_eq!(log.len(), 1);
    let req = &log[0];
    assert_eq!(req.status, 200);
    assert_eq!(req.basic_client_id.as_deref(), Some(DEFAULT_CLIENT_ID));
    assert!(req.basic_secret_matched);
    assert_eq!(req.issued_token.as_deref(), Some(token.as_str()));
    assert_eq!(req.form_value("grant_type"), Some("client_credentials"));
    assert_eq!(req.form_value("scope"), Some("all-apis"));
    assert_eq!(req.form_value("resource"), Some("api://databricks/workspaces/1234/zerobusDirectWriteApi"));
    assert_eq!(req.authorization_details.as_ref().unwrap()[2]["object_full_path"], EVENTS);

    let mut c = call(&server, Some(&token), Some(EVENTS)).await.unwrap();
    c.send(create_json(EVENTS)).await;
    c.expect_created().await;
    let conns = server.connections();
    assert_eq!(conns[0].authorization.as_deref(), Some(format!("Bearer {token}").as_str()));
    assert_eq!(conns[0].table_header.as_deref(), Some(EVENTS));
    assert!(conns[0].user_agent.as_deref().unwrap().starts_with("mock-tests/1.0"));
    assert!(conns[0].stream_id.is_some());

    // The same token does not open another table.
    let mut other = call(&server, Some(&token), Some(PROTO_TABLE)).await.unwrap();
    other.send(create_proto(PROTO_TABLE)).await;
    assert_eq!(other.end().await.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn token_endpoint_rejects_bad_requests_without_echoing_the_secret() {
    let server = server().await;
    let form = token_form(EVENTS);
    let (status, body) =
        post(&server, TOKEN_PATH, Some((DEFAULT_CLIENT_ID, "wrong-secret-xyz")), &form).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(!body.to_string().contains("wrong-secret-xyz"));

    let creds = Some((DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET));
    let (status, _) = post(&server, TOKEN_PATH, creds, "scope=all-apis").await;
    assert_eq!(status, 400, "missing grant_type");
    let (status, _) = post(&server, TOKEN_PATH, creds, "grant_type=password").await;
    assert_eq!(status, 400, "unsupported grant_type");
    let (status, _) =
        post(&server, TOKEN_PATH, creds, "grant_type=client_credentials&authorization_details=%7Bnot+json")
            .await;
    assert_eq!(status, 400, "malformed authorization_details");
    let (status, _) = post(&server, "/elsewhere", creds, "").await;
    assert_eq!(status, 404);

    let log = server.token_requests();
    assert_eq!(log.len(), 4, "every POST to the token path is logged");
    assert!(!log[0].basic_secret_matched);
    let dump = format!("{log:?}");
    assert!(!dump.contains("wrong-secret-xyz") && !dump.contains(DEFAULT_CLIENT_SECRET));
}

#[tokio::test]
async fn token_faults_and_federated_grant() {
    let server = server().await;
    server.set_faults(FaultScript {
        token: TokenFaults { fail_next: 1, reject_next: 1, lifetime_secs: Some(0), ..Default::default() },
        ..Default::default()
    });
    let creds = Some((DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET));
    let form = token_form(EVENTS);
    assert_eq!(post(&server, TOKEN_PATH, creds, &form).await.0, 503);
    assert_eq!(post(&server, TOKEN_PATH, creds, &form).await.0, 401);
    let (status, body) = post(&server, TOKEN_PATH, creds, &form).await;
    assert_eq!((status, body["expires_in"].as_u64()), (200, Some(0)));
    // A token with no lifetime left is refused.
    let mut c = call(&server, body["access_token"].as_str(), Some(EVENTS)).await;
    let status = match c {
        Ok(ref mut c) => c.end().await,
        Err(status) => status,
    };
    assert_eq!(status.code(), Code::Unauthenticated);

    server.set_faults(FaultScript::default());
    let form = format!(
        "{}&subject_token=eyJ.abc.def&subject_token_type={}",
        token_form(EVENTS)
            .replace("client_credentials", &enc("urn:ietf:params:oauth:grant-type:token-exchange")),
        enc("urn:ietf:params:oauth:token-type:jwt")
    );
    let (status, body) = post(&server, TOKEN_PATH, None, &form).await;
    assert_eq!(status, 200, "{body}");
    let log = server.token_requests();
    assert!(!format!("{:?}", log.last().unwrap()).contains("eyJ.abc.def"));
}

// ---- gRPC ----

#[tokio::test]
async fn json_stream_is_acked_cumulatively_and_half_close_ends_ok() {
    let server = server().await;
    let mut c = open_json(&server).await;
    c.send(json_one(0, json_record(1, 0, 50))).await;
    c.send(json_batch(1, (1..4).map(|i| json_record(1, i, 50)).collect())).await;
    for i in 4..10 {
        c.send(json_one(i as i64 - 2, json_record(1, i, 50))).await;
    }
    // offsets 0..=7
    let acks = c.acks_up_to(7).await;
    assert_eq!(*acks.last().unwrap(), 7);
    c.send(json_one(8, json_record(1, 10, 50))).await;
    c.half_close();
    c.acks_up_to(8).await;
    assert_eq!(c.end().await.code(), Code::Ok);

    let records = server.records(EVENTS);
    assert_eq!(records.len(), 11);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.payload, json_record(1, i as u64, 50).as_bytes());
        assert_eq!(r.kind, RecordKind::Json);
        assert_eq!(r.connection, 1);
    }
    assert_eq!((records[2].wire_offset, records[2].index_in_batch, records[2].batch_len), (1, 1, 3));
    assert!(records[2].batched && !records[0].batched);
    assert_eq!(server.table_stats(EVENTS), TableStats { records: 11, bytes: 550 });
    assert_eq!(wait_end(&server, 1).await, ConnectionEnd::ClientHalfClosed);
    let log = &server.connections()[0];
    assert_eq!((log.messages, log.records, log.acked_up_to), (9, 11, Some(8)));
    assert_eq!(log.record_type, Some(RecordType::Json as i32));

    server.reset();
    assert!(server.records(EVENTS).is_empty() && server.connections().is_empty());
}

#[tokio::test]
async fn proto_batches_are_validated_against_the_descriptor() {
    let server = server().await;
    let mut c = call(&server, Some(DEFAULT_STATIC_TOKEN), Some(PROTO_TABLE)).await.unwrap();
    c.send(create_proto(PROTO_TABLE)).await;
    c.expect_created().await;
    c.send(proto_batch(0, (0..5).map(|i| proto_record(9, i, 100)).collect())).await;
    c.acks_up_to(0).await;
    assert_eq!(server.table_stats(PROTO_TABLE).records, 5);

    // Field 4 is not in the descriptor.
    let mut bad = proto_record(9, 5, 100);
    bad.extend_from_slice(&[0x20, 0x01]);
    c.send(proto_batch(1, vec![proto_record(9, 6, 100), bad])).await;
    let status = c.end().await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("field 4"), "{}", status.message());
    assert_eq!(server.table_stats(PROTO_TABLE).records, 5, "a rejected call stores nothing");
    assert!(matches!(wait_end(&server, 1).await, ConnectionEnd::ServerStatus(3, _)));
}

#[tokio::test]
async fn create_stream_checks() {
    let server = server().await;
    async fn create_fails(
        server: &MockServer,
        token: Option<&str>,
        header: Option<&str>,
        create: Payload,
    ) -> Status {
        match call(server, token, header).await {
            Err(status) => status,
            Ok(mut c) => {
                c.send(create).await;
                c.end().await
            }
        }
    }
    let t = Some(DEFAULT_STATIC_TOKEN);
    let missing = "main.default.missing";
    assert_eq!(
        create_fails(&server, None, Some(EVENTS), create_json(EVENTS)).await.code(),
        Code::Unauthenticated
    );
    assert_eq!(
        create_fails(&server, Some("nope"), Some(EVENTS), create_json(EVENTS)).await.code(),
        Code::Unauthenticated
    );
    assert_eq!(create_fails(&server, t, Some(missing), create_json(missing)).await.code(), Code::NotFound);
    assert_eq!(create_fails(&server, t, Some("a.b"), create_json("a.b")).await.code(), Code::InvalidArgument);
    assert_eq!(
        create_fails(&server, t, Some(PROTO_TABLE), create_json(EVENTS)).await.code(),
        Code::InvalidArgument
    );
    assert_eq!(
        create_fails(&server, t, Some(EVENTS), json_one(0, "{}".into())).await.code(),
        Code::InvalidArgument
    );
    let bad_descriptor = Payload::CreateStream(CreateIngestStreamRequest {
        table_name: Some(EVENTS.into()),
        record_type: Some(RecordType::Proto as i32),
        descriptor_proto: Some(bytes::Bytes::from_static(&[0xff, 0xff])),
        ..Default::default()
    });
    assert_eq!(create_fails(&server, t, Some(EVENTS), bad_descriptor).await.code(), Code::InvalidArgument);
    let avro = Payload::CreateStream(CreateIngestStreamRequest {
        table_name: Some(EVENTS.into()),
        record_type: Some(RecordType::Avro as i32),
        ..Default::default()
    });
    assert_eq!(create_fails(&server, t, Some(EVENTS), avro).await.code(), Code::InvalidArgument);

    let conns = server.connections();
    assert_eq!(conns.len(), 8);
    assert_eq!(
        conns[0].end,
        ConnectionEnd::ServerStatus(Code::Unauthenticated as i32, "missing authorization header".into())
    );
    assert_eq!(conns[2].table.as_deref(), Some(missing));
}

#[tokio::test]
async fn ingest_checks() {
    let server = server().await;
    let cases: Vec<(Payload, &str)> = vec![
        (json_one(1, "{}".into()), "expected 0, got 1"),
        (json_one(0, "[1,2]".into()), "not a JSON object"),
        (json_one(0, "{\"a\":".into()), "not a JSON object"),
        (json_batch(0, vec![]), "empty batch"),
        (proto_batch(0, vec![proto_record(1, 1, 20)]), "record type mismatch"),
        (json_one(0, "x".repeat(MAX_CALL_PAYLOAD_BYTES + 1)), "more than the limit"),
        (json_one(0, "x".repeat(MAX_DECODING_MESSAGE_BYTES + 1)), "too large"),
    ];
    for (payload, expected) in cases {
        let mut c = open_json(&server).await;
        c.send(payload).await;
        let status = c.end().await;
        assert_eq!(status.code(), Code::InvalidArgument, "{expected}");
        assert!(status.message().contains(expected), "{} !~ {expected}", status.message());
    }
    assert_eq!(server.table_stats(EVENTS).records, 0);
}

#[tokio::test]
async fn drop_after_and_create_status_faults() {
    let server = server().await;
    let script: FaultScript = serde_json::from_str(
        r#"{"streams": [
            {"connection": 1, "kind": "create_status", "code": "UNAVAILABLE"},
            {"connection": 2, "kind": "drop_after", "messages": 2}
        ]}"#,
    )
    .unwrap();
    server.set_faults(script);

    let mut c = call(&server, Some(DEFAULT_STATIC_TOKEN), Some(EVENTS)).await.unwrap();
    c.send(create_json(EVENTS)).await;
    assert_eq!(c.end().await.code(), Code::Unavailable);

    let mut c = open_json(&server).await;
    for i in 0..3 {
        c.send(json_one(i, json_record(2, i as u64, 30))).await;
    }
    c.acks_up_to(1).await;
    let status = c.end().await;
    assert_eq!((status.code(), status.message()), (Code::Unavailable, "connection dropped"));
    assert_eq!(server.table_stats(EVENTS).records, 2, "messages after the drop are not stored");

    let mut c = open_json(&server).await;
    c.send(json_one(0, json_record(2, 0, 30))).await;
    c.acks_up_to(0).await;
    let conns = server.connections();
    assert_eq!(conns.len(), 3);
    assert_eq!(conns[1].acked_up_to, Some(1));
    assert_eq!(conns[1].end, ConnectionEnd::ServerStatus(14, "connection dropped".into()));
}

#[tokio::test]
async fn withheld_delayed_and_close_signal_faults() {
    let server = server().await;
    server.set_faults(
        serde_json::from_str(
            r#"{"ack_delay_ms": 50, "streams": [
                {"connection": 1, "kind": "withhold_acks_after", "messages": 1},
                {"connection": 2, "kind": "close_signal_after", "messages": 1, "duration_ms": 150},
                {"connection": 3, "kind": "status_after", "messages": 1, "code": "INTERNAL"}
            ]}"#,
        )
        .unwrap(),
    );

    let mut c = open_json(&server).await;
    let sent = tokio::time::Instant::now();
    c.send(json_one(0, "{}".into())).await;
    c.send(json_one(1, "{}".into())).await;
    c.acks_up_to(0).await;
    assert!(sent.elapsed() >= Duration::from_millis(50), "ack delayed");
    assert!(
        tokio::time::timeout(Duration::from_millis(150), c.rx.message()).await.is_err(),
        "offset 1 never acked"
    );
    assert_eq!(server.table_stats(EVENTS).records, 2);
    c.half_close();
    assert_eq!(c.end().await.code(), Code::Ok);

    let mut c = open_json(&server).await;
    c.send(json_one(0, "{}".into())).await;
    let mut got_signal = false;
    loop {
        match c.next().await.unwrap() {
            Some(Resp::CloseStreamSignal(s)) => {
                assert_eq!(s.duration.unwrap().nanos, 150_000_000);
                got_signal = true;
                c.send(json_one(1, "{}".into())).await;
            }
            Some(Resp::IngestRecordResponse(r)) if r.durability_ack_up_to_offset == Some(1) => break,
            Some(_) => {}
            None => panic!("ended too early"),
        }
    }
    assert!(got_signal);
    assert_eq!(c.end().await.code(), Code::Ok, "server ends the call after the duration");
    assert!(matches!(wait_end(&server, 2).await, ConnectionEnd::ServerStatus(0, _)));

    let mut c = open_json(&server).await;
    c.send(json_one(0, "{}".into())).await;
    c.acks_up_to(0).await;
    assert_eq!(c.end().await.code(), Code::Internal);
}

#[tokio::test]
async fn revoked_token_needs_a_new_one() {
    let server = server().await;
    let token = fetch_token(&server, EVENTS).await;
    server.set_faults(FaultScript {
        token: TokenFaults { invalidate_after_messages: Some(1), ..Default::default() },
        ..Default::default()
    });
    let mut c = call(&server, Some(&token), Some(EVENTS)).await.unwrap();
    c.send(create_json(EVENTS)).await;
    c.expect_created().await;
    c.send(json_one(0, "{}".into())).await;
    c.acks_up_to(0).await;
    assert_eq!(c.end().await.code(), Code::Unauthenticated);
    let status = call(&server, Some(&token), Some(EVENTS)).await.err().unwrap();
    assert_eq!(status.code(), Code::Unauthenticated);
    let fresh = fetch_token(&server, EVENTS).await;
    let mut c = call(&server, Some(&fresh), Some(EVENTS)).await.unwrap();
    c.send(create_json(EVENTS)).await;
    c.expect_created().await;
}

#[tokio::test]
async fn rate_limit_slows_the_stream() {
    let server = server().await;
    server.set_faults(FaultScript {
        rate_limit: Some(RateLimit { records_per_sec: Some(100), bytes_per_sec: None }),
        ..Default::default()
    });
    let mut c = open_json(&server).await;
    let start = tokio::time::Instant::now();
    c.send(json_batch(0, (0..20).map(|i| json_record(3, i, 40)).collect())).await;
    c.acks_up_to(0).await;
    assert!(start.elapsed() >= Duration::from_millis(180), "{:?}", start.elapsed());
}

#[tokio::test]
async fn client_cancel_is_logged_and_shutdown_ends_calls() {
    let server = server().await;
    // A client process that dies takes its connection with it: run the client on its own
    // runtime and drop that runtime with the call still open.
    let handle = server.clone();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let open = rt.block_on(open_json(&handle));
        drop(rt);
        drop(open);
    })
    .await
    .unwrap();
    assert_eq!(wait_end(&server, 1).await, ConnectionEnd::ClientGone);

    let mut c = open_json(&server).await;
    let grpc = server.grpc_addr();
    server.clone().shutdown().await;
    assert!(c.end().await.code() != Code::Ok);
    assert!(tokio::net::TcpStream::connect(grpc).await.is_err());
}

#[tokio::test]
async fn unimplemented_rpcs() {
    let server = server().await;
    let mut client = ZerobusClient::connect(server.grpc_url()).await.unwrap();
    let status = client.retire_stream(RetireStreamRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
}

#[test]
fn fault_scripts_parse_from_json() {
    let script: FaultScript = serde_json::from_str(
        r#"{"streams": [{"kind": "status_after", "messages": 3, "code": "PERMISSION_DENIED"}],
            "rate_limit": {"bytes_per_sec": 1000},
            "token": {"delay_ms": 5}}"#,
    )
    .unwrap();
    assert_eq!(
        script.streams[0],
        StreamFault {
            connection: None,
            action: StreamAction::StatusAfter { messages: 3, code: GrpcCode::PermissionDenied }
        }
    );
    let round: FaultScript = serde_json::from_str(&serde_json::to_string(&script).unwrap()).unwrap();
    assert_eq!(round, script);
    for bad in [
        r#"{"streamz": []}"#,
        r#"{"streams": [{"kind": "drop_after", "messages": 1, "extra": 1}]}"#,
        r#"{"streams": [{"kind": "explode"}]}"#,
        r#"{"streams": [{"kind": "create_status", "code": "NOPE"}]}"#,
        r#"{"token": {"reject": 1}}"#,
    ] {
        assert!(serde_json::from_str::<FaultScript>(bad).is_err(), "{bad}");
    }
}

// ---- the proto validator ----

mod protocheck {
    use super::super::protocheck::Schema;
    use prost::Message;
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, FieldDescriptorProto, MessageOptions};

    fn field(
        name: &str,
        number: i32,
        label: Label,
        ty: Type,
        type_name: Option<&str>,
    ) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(number),
            label: Some(label as i32),
            r#type: Some(ty as i32),
            type_name: type_name.map(Into::into),
            ..Default::default()
        }
    }

    /// `message Outer { optional Inner inner = 1; repeated int32 nums = 2; map<string,int64> m = 3;
    /// optional string s = 4; message Inner { required int32 x = 1; } }`
    fn schema() -> Schema {
        let inner = DescriptorProto {
            name: Some("Inner".into()),
            field: vec![field("x", 1, Label::Required, Type::Int32, None)],
            ..Default::default()
        };
        let entry = DescriptorProto {
            name: Some("MEntry".into()),
            field: vec![
                field("key", 1, Label::Optional, Type::String, None),
                field("value", 2, Label::Optional, Type::Int64, None),
            ],
            options: Some(MessageOptions { map_entry: Some(true), ..Default::default() }),
            ..Default::default()
        };
        let outer = DescriptorProto {
            name: Some("Outer".into()),
            field: vec![
                field("inner", 1, Label::Optional, Type::Message, Some(".pkg.Outer.Inner")),
                field("nums", 2, Label::Repeated, Type::Int32, None),
                field("m", 3, Label::Repeated, Type::Message, Some("MEntry")),
                field("s", 4, Label::Optional, Type::String, None),
            ],
            nested_type: vec![inner, entry],
            ..Default::default()
        };
        Schema::new(&outer).unwrap()
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Inner {
        #[prost(int32, optional, tag = "1")]
        x: Option<i32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Outer {
        #[prost(message, optional, tag = "1")]
        inner: Option<Inner>,
        #[prost(int32, repeated, packed = "true", tag = "2")]
        nums: Vec<i32>,
        #[prost(map = "string, int64", tag = "3")]
        m: std::collections::HashMap<String, i64>,
        #[prost(string, optional, tag = "4")]
        s: Option<String>,
    }

    #[test]
    fn accepts_nested_packed_and_map_fields() {
        let msg = Outer {
            inner: Some(Inner { x: Some(7) }),
            nums: vec![1, -2, 300],
            m: [("k".to_string(), 5)].into(),
            s: Some("hé".into()),
        };
        schema().validate(&msg.encode_to_vec()).unwrap();
        schema().validate(&[]).unwrap();
        // Unpacked repeated is valid too.
        schema().validate(&[0x10, 0x01, 0x10, 0x02]).unwrap();
    }

    #[test]
    fn rejects_malformed_records() {
        let s = schema();
        let missing_required = Outer { inner: Some(Inner { x: None }), ..Default::default() };
        assert!(s.validate(&missing_required.encode_to_vec()).unwrap_err().contains("required"));
        assert!(s.validate(&[0x22, 0x01, 0xff]).unwrap_err().contains("UTF-8"));
        assert!(s.validate(&[0x28, 0x01]).unwrap_err().contains("field 5"));
        assert!(s.validate(&[0x25, 0, 0, 0, 0]).unwrap_err().contains("wire type"));
        assert!(s.validate(&[0x22, 0x05, b'a']).is_err(), "truncated");
        assert!(s.validate(&[0x10]).is_err(), "truncated varint");
    }

    #[test]
    fn rejects_unresolvable_descriptors() {
        let d = DescriptorProto {
            name: Some("R".into()),
            field: vec![field("f", 1, Label::Optional, Type::Message, Some("Nope"))],
            ..Default::default()
        };
        assert!(Schema::new(&d).is_err());
    }
}

#[tokio::test]
async fn counts_only_without_payloads() {
    let server =
        MockServer::start(MockServerConfig { keep_payloads: false, ..Default::default() }).await.unwrap();
    let mut c = open_json(&server).await;
    c.send(json_batch(0, vec!["{}".into(), "{\"a\":1}".into()])).await;
    c.acks_up_to(0).await;
    assert_eq!(server.table_stats(EVENTS), TableStats { records: 2, bytes: 9 });
    assert!(server.records(EVENTS).is_empty());
}

#[test]
fn handles_are_send_sync_and_config_debug_hides_the_secret() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<MockServer>();
    assert!(!format!("{:?}", MockServerConfig::default()).contains(DEFAULT_CLIENT_SECRET));
}

#[tokio::test]
async fn tokens_survive_a_restart_with_the_same_key_only() {
    let first = server().await;
    let token = fetch_token(&first, EVENTS).await;
    first.shutdown().await;
    let second = server().await;
    let mut c = call(&second, Some(&token), Some(EVENTS)).await.unwrap();
    c.send(create_json(EVENTS)).await;
    c.expect_created().await;
    let other_key =
        MockServer::start(MockServerConfig { token_key: "another key".into(), ..Default::default() })
            .await
            .unwrap();
    let status = call(&other_key, Some(&token), Some(EVENTS)).await.err().unwrap();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("invalid access token"), "{status:?}");
}

#[tokio::test]
async fn live_stream_ends_when_its_token_expires_under_the_fault() {
    let server = server().await;
    server.set_faults(FaultScript {
        token: TokenFaults { lifetime_secs: Some(1), expire_live_streams: true, ..Default::default() },
        ..Default::default()
    });
    let token = fetch_token(&server, EVENTS).await;
    let mut c = call(&server, Some(&token), Some(EVENTS)).await.unwrap();
    c.send(create_json(EVENTS)).await;
    c.expect_created().await;
    c.send(json_one(0, "{}".into())).await;
    c.acks_up_to(0).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.send(json_one(1, "{}".into())).await;
    let status = c.end().await;
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("expired"), "{status:?}");
}

#[tokio::test]
async fn tls_listener_and_connect_proxy() {
    let server = MockServer::start(MockServerConfig { tls: true, connect_proxy: true, ..Default::default() })
        .await
        .unwrap();
    let url = server.tls_url().unwrap();
    assert!(url.starts_with("https://localhost:"), "{url}");
    let pem = server.ca_pem().unwrap();
    assert!(pem.contains("BEGIN CERTIFICATE"));
    // A TLS client trusting the CA gets an HTTP/2 gRPC answer.
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(pem))
        .domain_name("localhost");
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = ZerobusClient::new(channel)
        .retire_stream(RetireStreamRequest { table_name: Some(EVENTS.into()), identifier: None })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    // One without it fails its handshake.
    let untrusted = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .tls_config(tonic::transport::ClientTlsConfig::new().domain_name("localhost"))
        .unwrap()
        .connect()
        .await;
    assert!(untrusted.is_err());
    // The CONNECT proxy tunnels to the token endpoint and counts the tunnel.
    let proxy = server.proxy_url().unwrap();
    let mut tcp = tokio::net::TcpStream::connect(proxy.trim_start_matches("http://")).await.unwrap();
    let target = server.token_addr();
    tcp.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert_eq!(server.proxy_tunnels(), 1);
    server.reset();
    assert_eq!(server.proxy_tunnels(), 0);
}

#[tokio::test]
async fn ledger_counts_generated_records() {
    let server =
        MockServer::start(MockServerConfig { ledger: true, keep_payloads: false, ..Default::default() })
            .await
            .unwrap();
    let token = fetch_token(&server, EVENTS).await;
    let mut c = call(&server, Some(&token), Some(EVENTS)).await.unwrap();
    c.send(create_json(EVENTS)).await;
    c.expect_created().await;
    c.send(json_batch(0, (0..5).map(|i| json_record(3, i, 60)).collect())).await;
    c.send(json_one(1, json_record(3, 4, 60))).await;
    c.acks_up_to(1).await;
    let report = server.ledger(EVENTS, 3, 6);
    assert_eq!((report.distinct, report.missing, report.duplicates), (5, 1, 1));
    assert_eq!(report.first_missing, vec![5]);
}

// ---- declared tables (Unity Catalog schemas) ----

#[path = "tests_schema.rs"]
mod schema;

// ---- Arrow Flight DoPut (PROTOCOL.md §9) ----

#[path = "tests_flight.rs"]
mod flight;
