//! Declared tables: the Unity Catalog endpoint, the descriptor check at create and the records
//! checked against the table's NOT NULL columns.

use super::*;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto};
use zerobus_schema::{descriptor, parse_table, TableSchema};

use crate::mock::tablecheck::{self, Cause, ErrorInfo, RpcStatus};

const AIR: &str = "main.default.air_quality";
const AIR_DEF: &str = "main.default.air_quality(device_name STRING NOT NULL, temp INT, humidity BIGINT, \
     at TIMESTAMP, tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)";

fn air() -> TableSchema {
    parse_table(AIR_DEF).unwrap()
}

async fn declared_server() -> MockServer {
    MockServer::start(MockServerConfig { table_schemas: vec![air()], ..Default::default() }).await.unwrap()
}

/// A minimal HTTP/1.1 request over a raw socket; returns the status, the headers and the body.
async fn http(
    server: &MockServer,
    method: &str,
    path: &str,
    bearer: Option<&str>,
) -> (u16, String, serde_json::Value) {
    let mut tcp = tokio::net::TcpStream::connect(server.token_addr()).await.unwrap();
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Length: 0\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

fn uc_path(table: &str) -> String {
    zerobus_schema::table_path(table)
}

fn create_with(table: &str, d: &DescriptorProto) -> Payload {
    Payload::CreateStream(CreateIngestStreamRequest {
        table_name: Some(table.into()),
        record_type: Some(RecordType::Proto as i32),
        descriptor_proto: Some(d.encode_to_vec().into()),
        ..Default::default()
    })
}

/// Opens a PROTO stream on `table` with `d`; `Ok` once created, `Err` with the create's status.
async fn open_proto(server: &MockServer, table: &str, d: &DescriptorProto) -> Result<super::Call, Status> {
    let mut c = call(server, Some(DEFAULT_STATIC_TOKEN), Some(table)).await?;
    c.send(create_with(table, d)).await;
    match c.next().await {
        Ok(Some(Resp::CreateStreamResponse(_))) => Ok(c),
        Ok(other) => panic!("expected create_stream_response, got {other:?}"),
        Err(status) => Err(status),
    }
}

fn proto_one(offset: i64, record: Vec<u8>) -> Payload {
    Payload::IngestRecord(IngestRecordRequest {
        offset_id: Some(offset),
        record: Some(ingest_record_request::Record::ProtoEncodedRecord(record.into())),
    })
}

fn field_mut<'a>(d: &'a mut DescriptorProto, name: &str) -> &'a mut FieldDescriptorProto {
    d.field.iter_mut().find(|f| f.name() == name).unwrap_or_else(|| panic!("no field {name}"))
}

fn scalar(name: &str, number: i32, label: Label, ty: Type) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(label as i32),
        r#type: Some(ty as i32),
        ..Default::default()
    }
}

/// The air_quality record, as a client compiled from the table's .proto would encode it.
#[derive(Clone, PartialEq, prost::Message)]
struct AirQuality {
    #[prost(string, optional, tag = "1")]
    device_name: Option<String>,
    #[prost(int32, optional, tag = "2")]
    temp: Option<i32>,
    #[prost(int64, optional, tag = "3")]
    humidity: Option<i64>,
    #[prost(int64, optional, tag = "4")]
    at: Option<i64>,
    #[prost(string, repeated, tag = "5")]
    tags: Vec<String>,
    #[prost(message, optional, tag = "6")]
    loc: Option<Loc>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Loc {
    #[prost(double, optional, tag = "1")]
    lat: Option<f64>,
    #[prost(double, optional, tag = "2")]
    lon: Option<f64>,
}

fn row(device: Option<&str>) -> Vec<u8> {
    AirQuality {
        device_name: device.map(Into::into),
        temp: Some(21),
        humidity: Some(40),
        at: Some(1_700_000_000_000_000),
        tags: vec!["indoor".into(), "lab".into()],
        loc: Some(Loc { lat: Some(52.5), lon: Some(13.4) }),
    }
    .encode_to_vec()
}

/// The `ErrorInfo` in a status's details, if any.
fn error_info(status: &Status) -> Option<ErrorInfo> {
    let details = RpcStatus::decode(status.details()).ok()?;
    let any = details.details.iter().find(|a| a.type_url.ends_with("google.rpc.ErrorInfo"))?;
    ErrorInfo::decode(&any.value[..]).ok()
}

// ---- the Unity Catalog endpoint ----

#[tokio::test]
async fn uc_endpoint_serves_a_declared_table_to_a_token_for_it() {
    let server = declared_server().await;
    let token = fetch_token(&server, AIR).await;
    let (status, head, body) = http(&server, "GET", &uc_path(AIR), Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(body, air().to_uc_json());
    assert_eq!(TableSchema::from_uc_json(body.to_string().as_bytes()).unwrap(), air());
    assert_eq!(body["full_name"], AIR);
    assert_eq!(body["columns"][0]["name"], "device_name");
    assert_eq!(body["columns"][0]["nullable"], false);
    assert_eq!(body["columns"][5]["type_name"], "STRUCT");

    // A static token covers every table; a percent-encoded name is the same table.
    let (status, _, _) =
        http(&server, "GET", &uc_path("main%2Edefault.air_quality"), Some(DEFAULT_STATIC_TOKEN)).await;
    assert_eq!(status, 200);

    let log = server.schema_requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0], SchemaRequestLog { table: AIR.into(), status: 200, error_code: None });
    assert_eq!(log[1].table, AIR);
    assert!(server.token_requests().len() == 1, "schema requests are not token requests");
    server.reset();
    assert!(server.schema_requests().is_empty());
}

#[tokio::test]
async fn uc_endpoint_refuses_bad_tokens_other_tables_and_methods() {
    let server = declared_server().await;
    let path = uc_path(AIR);

    for bearer in [None, Some("not-a-token"), Some("zbdev1.forged.tag")] {
        let (status, _, body) = http(&server, "GET", &path, bearer).await;
        assert_eq!(status, 401, "{bearer:?}: {body}");
        assert_eq!(body["error_code"], "UNAUTHENTICATED");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    // An expired token is refused with the same words the gRPC service uses.
    server.set_faults(FaultScript {
        token: TokenFaults { lifetime_secs: Some(0), ..Default::default() },
        ..Default::default()
    });
    let expired = fetch_token(&server, AIR).await;
    server.set_faults(FaultScript::default());
    let (status, _, body) = http(&server, "GET", &path, Some(&expired)).await;
    assert_eq!((status, body["error_code"].as_str()), (401, Some("UNAUTHENTICATED")));
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");

    // A valid token for another table.
    let events_token = fetch_token(&server, EVENTS).await;
    let (status, _, body) = http(&server, "GET", &path, Some(&events_token)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error_code"], "PERMISSION_DENIED");
    assert!(body["message"].as_str().unwrap().contains(AIR), "{body}");

    // Undeclared tables, whether they take records (events) or do not exist at all.
    for table in ["main.default.nope", EVENTS] {
        let (status, _, body) = http(&server, "GET", &uc_path(table), Some(DEFAULT_STATIC_TOKEN)).await;
        assert_eq!(status, 404, "{table}: {body}");
        assert_eq!(
            body,
            serde_json::json!({
                "error_code": "TABLE_DOES_NOT_EXIST",
                "message": format!("Table '{table}' does not exist."),
            })
        );
    }
    let token = fetch_token(&server, "main.default.nope").await;
    assert_eq!(http(&server, "GET", &uc_path("main.default.nope"), Some(&token)).await.0, 404);

    for method in ["POST", "DELETE", "PATCH"] {
        let (status, head, _) = http(&server, method, &path, Some(DEFAULT_STATIC_TOKEN)).await;
        assert_eq!(status, 405, "{method}");
        assert!(head.contains("allow: get"), "{head}");
    }

    let codes: Vec<_> = server.schema_requests().into_iter().map(|r| (r.status, r.error_code)).collect();
    assert_eq!(codes.len(), 11);
    assert_eq!(codes[0], (401, Some("UNAUTHENTICATED".into())));
    assert_eq!(codes[4], (403, Some("PERMISSION_DENIED".into())));
    assert_eq!(codes[5], (404, Some("TABLE_DOES_NOT_EXIST".into())));
    assert_eq!(codes[10], (405, Some("METHOD_NOT_ALLOWED".into())));
}

#[tokio::test]
async fn uc_endpoint_refuses_a_revoked_token() {
    let server = declared_server().await;
    let token = fetch_token(&server, AIR).await;
    server.set_faults(FaultScript {
        token: TokenFaults { invalidate_after_messages: Some(0), ..Default::default() },
        ..Default::default()
    });
    // The fault revokes the token when a stream opens with it.
    let mut c = call(&server, Some(&token), Some(AIR)).await.unwrap();
    c.send(create_json(AIR)).await;
    let _ = c.end().await;
    let (status, _, body) = http(&server, "GET", &uc_path(AIR), Some(&token)).await;
    assert_eq!((status, body["error_code"].as_str()), (401, Some("UNAUTHENTICATED")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("revoked"), "{body}");
}

// ---- the descriptor check at create ----

#[tokio::test]
async fn a_descriptor_from_the_table_is_accepted_and_its_records_stored() {
    let server = declared_server().await;
    let d = descriptor(&air()).unwrap();
    let mut c = open_proto(&server, AIR, &d).await.unwrap();
    c.send(proto_batch(0, vec![row(Some("a")), row(Some("b"))])).await;
    c.send(proto_one(1, AirQuality { device_name: Some("c".into()), ..Default::default() }.encode_to_vec()))
        .await;
    c.acks_up_to(1).await;
    c.half_close();
    assert_eq!(c.end().await.code(), Code::Ok);
    assert_eq!(server.table_stats(AIR).records, 3);
    assert_eq!(server.records(AIR)[0].payload, row(Some("a")));
    assert_eq!(server.table_schema(AIR), Some(air()));
    assert_eq!(server.table_schema(EVENTS), None);
}

#[tokio::test]
async fn json_streams_on_a_declared_table_are_not_checked_against_it() {
    let server = declared_server().await;
    let mut c = call(&server, Some(DEFAULT_STATIC_TOKEN), Some(AIR)).await.unwrap();
    c.send(create_json(AIR)).await;
    c.expect_created().await;
    c.send(json_one(0, r#"{"anything": 1}"#.into())).await;
    c.acks_up_to(0).await;
    assert_eq!(server.table_stats(AIR).records, 1);
}

#[tokio::test]
async fn undeclared_tables_take_any_descriptor() {
    let server = declared_server().await;
    let mut d = descriptor(&air()).unwrap();
    field_mut(&mut d, "device_name").label = Some(Label::Optional as i32);
    let mut c = open_proto(&server, PROTO_TABLE, &d).await.unwrap();
    // Without a declared table the client's `optional` stands: no device_name is fine.
    c.send(proto_one(0, row(None))).await;
    c.acks_up_to(0).await;
}

#[tokio::test]
async fn a_field_with_no_column_fails_the_create() {
    let server = declared_server().await;
    let mut d = descriptor(&air()).unwrap();
    d.field.push(scalar("extra", 7, Label::Optional, Type::String));
    let status = open_proto(&server, AIR, &d).await.err().unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "schema validation failed for table main.default.air_quality: field `extra`: FIELD_NOT_IN_TABLE \
         (the table has no such column)"
    );
    let info = error_info(&status).expect("an ErrorInfo in the details");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("SCHEMA_VALIDATION_FAILED", "zerobus.databricks.com")
    );
    assert_eq!(info.metadata["causes"], "FIELD_NOT_IN_TABLE");
    assert_eq!(info.metadata["error_code"], "8001");
    assert!(matches!(wait_end(&server, 1).await, ConnectionEnd::ServerStatus(3, _)));
}

#[tokio::test]
async fn a_missing_not_null_column_fails_the_create() {
    let server = declared_server().await;
    let mut d = descriptor(&air()).unwrap();
    d.field.retain(|f| f.name() != "device_name");
    // Leaving out nullable columns is fine; only the NOT NULL one is missing.
    d.field.retain(|f| f.name() != "humidity");
    let status = open_proto(&server, AIR, &d).await.err().unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "schema validation failed for table main.default.air_quality: column `device_name`: \
         MISSING_REQUIRED_COLUMN (STRING NOT NULL has no field in the descriptor)"
    );
    assert_eq!(error_info(&status).unwrap().metadata["causes"], "MISSING_REQUIRED_COLUMN");
}

#[tokio::test]
async fn incompatible_types_fail_the_create_and_every_problem_is_listed() {
    let server = declared_server().await;
    let mut d = descriptor(&air()).unwrap();
    d.nested_type[0].field[0].r#type = Some(Type::String as i32); // loc.lat
    field_mut(&mut d, "temp").r#type = Some(Type::Int64 as i32);
    field_mut(&mut d, "tags").label = Some(Label::Optional as i32);
    field_mut(&mut d, "humidity").label = Some(Label::Repeated as i32);
    d.field.push(scalar("extra", 7, Label::Optional, Type::Bool));
    let status = open_proto(&server, AIR, &d).await.err().unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    let m = status.message();
    for part in [
        "schema validation failed for table main.default.air_quality: ",
        "field `temp`: TYPE_INCOMPATIBLE (column is INT, descriptor has int64)",
        "field `humidity`: TYPE_INCOMPATIBLE (column is BIGINT, descriptor has repeated int64, but only ARRAY \
         and MAP columns are repeated)",
        "field `tags`: TYPE_INCOMPATIBLE (column is ARRAY<STRING>, descriptor has optional string, but an \
         ARRAY column needs a repeated field)",
        "field `loc.lat`: TYPE_INCOMPATIBLE (column is DOUBLE, descriptor has string)",
        "field `extra`: FIELD_NOT_IN_TABLE",
    ] {
        assert!(m.contains(part), "{m}\n  lacks: {part}");
    }
    assert_eq!(m.matches("; ").count(), 4, "{m}");
    assert_eq!(error_info(&status).unwrap().metadata["causes"], "TYPE_INCOMPATIBLE,FIELD_NOT_IN_TABLE");
}

#[tokio::test]
async fn a_struct_column_needs_a_message_with_its_fields() {
    let server = declared_server().await;
    let mut d = descriptor(&air()).unwrap();
    let loc = field_mut(&mut d, "loc");
    loc.r#type = Some(Type::String as i32);
    loc.type_name = None;
    let status = open_proto(&server, AIR, &d).await.err().unwrap();
    assert!(
        status.message().contains("field `loc`: TYPE_INCOMPATIBLE (column is STRUCT<"),
        "{}",
        status.message()
    );
    assert!(status.message().ends_with("descriptor has string)"), "{}", status.message());

    // A nested field the struct lacks, and a NOT NULL struct field the message lacks.
    let table =
        parse_table("main.default.nested(id BIGINT, p STRUCT<x: DOUBLE NOT NULL, y: DOUBLE>)").unwrap();
    let server =
        MockServer::start(MockServerConfig { table_schemas: vec![table.clone()], ..Default::default() })
            .await
            .unwrap();
    let mut d = descriptor(&table).unwrap();
    d.nested_type[0].field.retain(|f| f.name() != "x");
    d.nested_type[0].field.push(scalar("z", 3, Label::Optional, Type::Double));
    let status = open_proto(&server, "main.default.nested", &d).await.err().unwrap();
    assert_eq!(
        status.message(),
        "schema validation failed for table main.default.nested: field `p.z`: FIELD_NOT_IN_TABLE (the struct \
         `p` has no such field); column `p.x`: MISSING_REQUIRED_COLUMN (DOUBLE NOT NULL has no field in the \
         descriptor)"
    );
}

// ---- records against the table ----

#[tokio::test]
async fn a_record_without_a_not_null_column_is_rejected_even_if_the_client_said_optional() {
    let server = declared_server().await;
    let mut d = descriptor(&air()).unwrap();
    field_mut(&mut d, "device_name").label = Some(Label::Optional as i32);
    let mut c = open_proto(&server, AIR, &d).await.expect("optional is accepted for a NOT NULL column");
    c.send(proto_one(0, row(Some("ok")))).await;
    c.acks_up_to(0).await;
    c.send(proto_batch(1, vec![row(Some("fine")), row(None)])).await;
    let status = c.end().await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "record 1 at offset 1 does not match the descriptor: air_quality: required field(s) missing: \
         device_name (1)"
    );
    assert_eq!(server.table_stats(AIR).records, 1, "a rejected call stores nothing");

    // Nested NOT NULL struct fields are forced too.
    let table =
        parse_table("main.default.nested(id BIGINT, p STRUCT<x: DOUBLE NOT NULL, y: DOUBLE>)").unwrap();
    let server =
        MockServer::start(MockServerConfig { table_schemas: vec![table.clone()], ..Default::default() })
            .await
            .unwrap();
    let mut d = descriptor(&table).unwrap();
    d.nested_type[0].field[0].label = Some(Label::Optional as i32);
    let mut c = open_proto(&server, "main.default.nested", &d).await.unwrap();
    // id = 1, p = {y: 2.0}: no x.
    let mut record = vec![0x08, 0x01, 0x12, 0x09, 0x11];
    record.extend_from_slice(&2.0f64.to_le_bytes());
    c.send(proto_one(0, record)).await;
    let status = c.end().await;
    assert!(status.message().contains("required field(s) missing: x (1)"), "{}", status.message());
}

// ---- the check itself ----

#[test]
fn the_check_accepts_every_type_as_the_table_maps_it() {
    let table = parse_table(
        "c.s.all_types(b BOOLEAN NOT NULL, y TINYINT, s SMALLINT, i INT, l BIGINT, f FLOAT, d DOUBLE, dt DATE, \
         ts TIMESTAMP, tn TIMESTAMP_NTZ, st STRING, bi BINARY, de DECIMAL(10,2), v VARIANT, \
         arr ARRAY<BIGINT>, structs ARRAY<STRUCT<n: INT NOT NULL, deep: STRUCT<q: STRING>>>, \
         attrs MAP<STRING, BIGINT>, points MAP<INT, STRUCT<x: DOUBLE>>, by_float MAP<DOUBLE, STRING>)",
    )
    .unwrap();
    let d = descriptor(&table).unwrap();
    let forced = tablecheck::check(&table, &d).unwrap_or_else(|m| panic!("{}", m.message()));
    // Already required where NOT NULL: nothing to force.
    assert_eq!(forced, d);
    super::super::protocheck::Schema::new(&forced).unwrap();
}

#[test]
fn the_check_matches_names_case_insensitively_and_takes_the_other_int_encodings() {
    let table = parse_table("c.s.t(Id BIGINT NOT NULL, n INT, when_ TIMESTAMP)").unwrap();
    let d = DescriptorProto {
        name: Some("T".into()),
        field: vec![
            scalar("ID", 1, Label::Optional, Type::Sfixed64),
            scalar("N", 2, Label::Optional, Type::Sint32),
            scalar("When_", 3, Label::Required, Type::Sint64),
        ],
        ..Default::default()
    };
    let forced = tablecheck::check(&table, &d).unwrap_or_else(|m| panic!("{}", m.message()));
    assert_eq!(forced.field[0].label(), Label::Required, "NOT NULL is forced");
    assert_eq!(forced.field[1].label(), Label::Optional);

    for (ty, ok) in
        [(Type::Uint32, false), (Type::Fixed32, false), (Type::Sfixed32, true), (Type::Int64, false)]
    {
        let mut d2 = d.clone();
        d2.field[1].r#type = Some(ty as i32);
        assert_eq!(tablecheck::check(&table, &d2).is_ok(), ok, "INT as {ty:?}");
    }
    let mut twice = d.clone();
    twice.field.push(scalar("n", 4, Label::Optional, Type::Int32));
    let m = tablecheck::check(&table, &twice).unwrap_err();
    assert_eq!(m.problems.len(), 1);
    assert_eq!(m.problems[0].cause, Cause::FieldNotInTable);
    assert!(m.problems[0].detail.contains("already matched by field `N`"), "{:?}", m.problems);
}

#[test]
fn the_check_wants_map_entries_with_key_and_value() {
    let table = parse_table("c.s.t(attrs MAP<STRING, BIGINT>)").unwrap();
    let good = descriptor(&table).unwrap();
    assert!(tablecheck::check(&table, &good).is_ok());

    let mut wrong_value = good.clone();
    wrong_value.nested_type[0].field[1].r#type = Some(Type::String as i32);
    let m = tablecheck::check(&table, &wrong_value).unwrap_err();
    assert_eq!(m.problems.len(), 1);
    assert_eq!(m.problems[0].path, "attrs.value");
    assert_eq!(m.problems[0].detail, "the map's value is BIGINT, descriptor has string");

    let mut no_key = good.clone();
    no_key.nested_type[0].field.remove(0);
    no_key.nested_type[0].field.push(scalar("extra", 3, Label::Optional, Type::Int32));
    let m = tablecheck::check(&table, &no_key).unwrap_err();
    let shape: Vec<_> = m.problems.iter().map(|p| (p.path.as_str(), p.cause)).collect();
    assert_eq!(shape, [("attrs.extra", Cause::FieldNotInTable), ("attrs.key", Cause::TypeIncompatible)]);

    let mut scalar_map = good.clone();
    scalar_map.field[0].r#type = Some(Type::String as i32);
    scalar_map.field[0].type_name = None;
    let m = tablecheck::check(&table, &scalar_map).unwrap_err();
    assert!(m.problems[0].detail.contains("a MAP column needs a map"), "{:?}", m.problems);
    assert!(m.message().contains("descriptor has repeated string"), "{}", m.message());
}
