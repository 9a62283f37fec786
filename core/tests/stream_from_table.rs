//! A PROTO stream created from its table: the schema comes from Unity Catalog (the mock's
//! declared table), JSON records are encoded in core by the table's types, and the server's
//! own check of records against the columns accepts them.

use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use zerobus_conformance::mock::{MockServer, MockServerConfig};
use zerobus_core::schema::{file_descriptor_set, parse_table};
use zerobus_core::{ErrorCode, RecordType, StreamConfigurationOptions, TableProperties, ZerobusSdk};

const TABLE: &str = "main.default.air_quality";
const DEFINITION: &str = "main.default.air_quality(device_name STRING NOT NULL, temp INT, humidity BIGINT, \
     at TIMESTAMP, tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)";

async fn server() -> (MockServer, MockServerConfig) {
    let config =
        MockServerConfig { table_schemas: vec![parse_table(DEFINITION).unwrap()], ..Default::default() };
    (MockServer::start(config.clone()).await.unwrap(), config)
}

fn proto_options() -> StreamConfigurationOptions {
    StreamConfigurationOptions { record_type: RecordType::Proto, ..Default::default() }
}

#[tokio::test]
async fn json_records_are_encoded_by_the_tables_types() {
    let (server, config) = server().await;
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let stream = sdk
        .create_stream(TableProperties::new(TABLE), &config.client_id, &config.client_secret, proto_options())
        .await
        .unwrap();
    assert_eq!(stream.record_type(), RecordType::Proto);
    assert_eq!(stream.table_schema().map(|s| s.columns.len()), Some(6));

    let first = stream
        .ingest_record_offset(
            r#"{"device_name": "d1", "temp": 21, "at": "2024-05-01T12:00:00Z", "tags": ["a", "b"], "loc": {"lat": 52.5, "lon": 13.4}}"#,
        )
        .await
        .unwrap();
    let rows: Vec<String> =
        (0..50).map(|i| format!(r#"{{"device_name": "d{i}", "humidity": {i}, "at": {i}}}"#)).collect();
    let last = stream.ingest_records_offset(rows.iter().map(String::as_str)).await.unwrap().unwrap();
    assert_eq!(last, first + 1);

    // A bad record fails its call, names the record and the column, and queues nothing.
    let err = stream
        .ingest_records_offset([
            r#"{"device_name": "ok"}"#,
            r#"{"device_name": "x", "loc": {"lat": "north"}}"#,
        ])
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRecord);
    assert!(
        err.message().contains(r#"record 1 of the batch: table main.default.air_quality: loc.lat: expected DOUBLE, got string "north""#),
        "{err}"
    );
    let err = stream.ingest_record_offset(r#"{"temp": 1}"#).await.unwrap_err();
    assert!(err.message().contains("device_name: missing"), "{err}");
    stream.close().await.unwrap();

    let received = server.records(TABLE);
    assert_eq!(received.len(), 51);
    // What arrived decodes as the table's message with the values given.
    let pool = DescriptorPool::from_file_descriptor_set(
        file_descriptor_set(&parse_table(DEFINITION).unwrap()).unwrap(),
    )
    .unwrap();
    let desc = pool.get_message_by_name("air_quality").unwrap();
    let row = DynamicMessage::decode(desc, received[0].payload.as_ref()).unwrap();
    assert_eq!(row.get_field_by_name("at").unwrap().as_i64(), Some(1_714_564_800_000_000));
    assert_eq!(row.get_field_by_name("tags").unwrap().as_list().map(<[Value]>::len), Some(2));
    server.shutdown().await;
}

#[tokio::test]
async fn the_schema_is_read_with_the_streams_credentials() {
    let (server, config) = server().await;
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let schema = sdk.get_table_schema(TABLE, &config.client_id, &config.client_secret).await.unwrap();
    assert_eq!(schema, parse_table(DEFINITION).unwrap());

    let err = sdk
        .get_table_schema("main.default.nope", &config.client_id, &config.client_secret)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(
        err.message().contains("table main.default.nope") && err.message().contains("TABLE_DOES_NOT_EXIST"),
        "{err}"
    );

    let err = sdk.get_table_schema(TABLE, &config.client_id, "wrong-secret").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated, "{err}");
    assert!(!err.message().contains("wrong-secret"), "{err}");

    // A stream from an unknown table fails at create, before any stream is opened.
    let err = sdk
        .create_stream(
            TableProperties::new("main.default.nope"),
            &config.client_id,
            &config.client_secret,
            proto_options(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    server.shutdown().await;
}

#[tokio::test]
async fn recreate_keeps_the_table_encoder() {
    let (server, config) = server().await;
    let sdk = ZerobusSdk::new(server.grpc_url(), server.workspace_url()).unwrap();
    let old = sdk
        .create_stream(TableProperties::new(TABLE), &config.client_id, &config.client_secret, proto_options())
        .await
        .unwrap();
    old.ingest_record_offset(r#"{"device_name": "a"}"#).await.unwrap();
    old.close().await.unwrap();
    let new = sdk.recreate_stream(&old).await.unwrap();
    new.ingest_record_offset(r#"{"device_name": "b", "temp": 3}"#).await.unwrap();
    new.close().await.unwrap();
    assert_eq!(server.records(TABLE).len(), 2);
    server.shutdown().await;
}
