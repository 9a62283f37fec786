//! `ZerobusSdk::recreate_stream`: a stream that failed for good is replaced by one that sends its
//! unacknowledged calls again, in order and with their batch structure, before new ingests.

use std::collections::BTreeSet;

use zerobus_conformance::mock::{
    FaultScript, MockServer, MockServerConfig, StreamAction, StreamFault, DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
};
use zerobus_core::{ErrorCode, RecordType, StreamConfigurationOptions, TableProperties, ZerobusSdk};

const TABLE: &str = "main.default.events";

fn no_recovery() -> StreamConfigurationOptions {
    StreamConfigurationOptions { record_type: RecordType::Json, recovery: false, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_resends_the_unacked_calls_first() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    // The first connection acks one call and then stays silent: with recovery off, the silence
    // (server_lack_of_ack_timeout_ms) fails the stream for good, with every later call unacked.
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: Some(1),
            action: StreamAction::WithholdAcksAfter { messages: 1 },
        }],
        ..Default::default()
    });
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let options = StreamConfigurationOptions { server_lack_of_ack_timeout_ms: 300, ..no_recovery() };
    let old = sdk
        .create_stream(TableProperties::new(TABLE), DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, options)
        .await
        .unwrap();
    let mut sent = BTreeSet::new();
    for i in 0..4 {
        let r = format!(r#"{{"n":{i}}}"#);
        sent.insert(r.clone());
        old.ingest_record_offset(r.as_str()).await.unwrap();
    }
    let batch: Vec<String> = (100..103).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    sent.extend(batch.iter().cloned());
    old.ingest_records_offset(batch.iter()).await.unwrap();
    let failed = old.flush().await.expect_err("the server went silent and recovery is off");
    assert!(old.is_closed(), "{failed}");
    let unacked = old.get_unacked_batches();
    assert!(unacked.len() >= 4, "the silence left calls unacknowledged: {unacked:?}");

    let new = sdk.recreate_stream(&old).await.unwrap();
    let next = new.ingest_record_offset(r#"{"n":999}"#).await.unwrap();
    assert_eq!(next, unacked.len() as i64, "new ingests come after the re-sent calls");
    new.close().await.unwrap();

    let on_new: Vec<_> = server.records(TABLE).into_iter().filter(|r| r.connection != 1).collect();
    let mut expected: Vec<Vec<u8>> = unacked.concat().iter().map(|b| b.to_vec()).collect();
    expected.push(br#"{"n":999}"#.to_vec());
    assert_eq!(on_new.iter().map(|r| r.payload.to_vec()).collect::<Vec<_>>(), expected, "in order, once");
    // The batch was re-sent as one call of three.
    assert!(on_new.iter().any(|r| r.batched && r.batch_len == 3));
    let distinct: BTreeSet<String> =
        server.records(TABLE).iter().map(|r| String::from_utf8(r.payload.to_vec()).unwrap()).collect();
    assert!(sent.is_subset(&distinct), "every record arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_refuses_an_open_stream() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let open = sdk
        .create_stream(TableProperties::new(TABLE), DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, no_recovery())
        .await
        .unwrap();
    let err = sdk.recreate_stream(&open).await.expect_err("an open stream is refused");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.message().contains("close it first"), "{err}");
    open.close().await.unwrap();
}
