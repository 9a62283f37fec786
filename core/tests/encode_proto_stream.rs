//! JSON text encoded to proto in Rust (`JsonToProto`) is accepted by the server's descriptor check.

use zerobus_conformance::mock::{MockServer, MockServerConfig};
use zerobus_conformance::records::{proto_record, record_descriptor};
use zerobus_core::{JsonToProto, RecordType, StreamConfigurationOptions, TableProperties, ZerobusSdk};

#[tokio::test]
async fn json_lines_encoded_to_proto_are_accepted() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let config = MockServerConfig::default();
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let table = TableProperties {
        table_name: "main.default.proto_table".into(),
        descriptor_proto: Some(record_descriptor()),
    };
    let encoder = JsonToProto::new(&record_descriptor()).unwrap();
    let options = StreamConfigurationOptions { record_type: RecordType::Proto, ..Default::default() };
    let stream = sdk.create_stream(table, &config.client_id, &config.client_secret, options).await.unwrap();

    let encoded: Vec<Vec<u8>> = (0..10)
        .map(|i| encoder.encode(&format!(r#"{{"seed": 1, "seq": {i}, "pad": "abc"}}"#)).unwrap())
        .collect();
    stream.ingest_records_offset(&encoded).await.unwrap();
    // A generated record and an encoded one with the same content are the same bytes.
    assert_eq!(encoder.encode(r#"{"seed":3,"seq":9,"pad":""}"#).unwrap(), proto_record(3, 9, 6));
    let err = encoder.encode(r#"{"seed": "x"}"#).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("seed"));

    stream.close().await.unwrap();
    assert_eq!(server.records("main.default.proto_table").len(), 10);
    server.shutdown().await;
}
