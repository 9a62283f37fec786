//! The Delta → proto2 and Delta → Arrow mappings (PROTOCOL.md §7, §9).

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::DescriptorProto;
use zerobus_schema::arrow::{DataType as Arrow, TimeUnit};
use zerobus_schema::{arrow_schema, descriptor, file_descriptor_set, parse_table, proto_file};

const AIR_QUALITY: &str = "main.default.air_quality(device_name STRING NOT NULL, temp INT, humidity BIGINT, \
     at TIMESTAMP, tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)";

fn field<'a>(d: &'a DescriptorProto, name: &str) -> &'a prost_types::FieldDescriptorProto {
    d.field.iter().find(|f| f.name() == name).unwrap_or_else(|| panic!("no field {name}"))
}

#[test]
fn columns_become_fields_numbered_by_position() {
    let d = descriptor(&parse_table(AIR_QUALITY).unwrap()).unwrap();
    assert_eq!(d.name(), "air_quality");
    let shape: Vec<_> = d.field.iter().map(|f| (f.name(), f.number(), f.label(), f.r#type())).collect();
    assert_eq!(
        shape,
        [
            ("device_name", 1, Label::Required, Type::String),
            ("temp", 2, Label::Optional, Type::Int32),
            ("humidity", 3, Label::Optional, Type::Int64),
            ("at", 4, Label::Optional, Type::Int64),
            ("tags", 5, Label::Repeated, Type::String),
            ("loc", 6, Label::Optional, Type::Message),
        ]
    );
    assert_eq!(field(&d, "loc").type_name(), ".air_quality.Loc");
    assert_eq!(d.nested_type[0].name(), "Loc");
    assert_eq!(d.nested_type[0].field[1].name(), "lon");
    assert_eq!(d.nested_type[0].field[1].number(), 2);
}

#[test]
fn every_scalar_maps_as_the_contract_says() {
    let t = parse_table(
        "c.s.t(b BOOLEAN, y TINYINT, s SMALLINT, i INT, l BIGINT, f FLOAT, d DOUBLE, dt DATE, ts TIMESTAMP, \
         tn TIMESTAMP_NTZ, st STRING, bi BINARY, de DECIMAL(10,2), v VARIANT)",
    )
    .unwrap();
    let d = descriptor(&t).unwrap();
    let types: Vec<_> = d.field.iter().map(|f| f.r#type()).collect();
    use Type::*;
    assert_eq!(
        types,
        [Bool, Int32, Int32, Int32, Int64, Float, Double, Int32, Int64, Int64, String, Bytes, String, String]
    );
}

#[test]
fn maps_are_entry_messages_and_nested_lists_are_refused() {
    let t = parse_table(
        "c.s.t(attrs MAP<STRING, BIGINT>, points MAP<INT, STRUCT<x: DOUBLE>>, items ARRAY<STRUCT<n: INT>>)",
    )
    .unwrap();
    let d = descriptor(&t).unwrap();
    let attrs = field(&d, "attrs");
    assert_eq!((attrs.label(), attrs.type_name()), (Label::Repeated, ".t.AttrsEntry"));
    let entry = d.nested_type.iter().find(|m| m.name() == "AttrsEntry").unwrap();
    assert_eq!(entry.options.as_ref().and_then(|o| o.map_entry), Some(true));
    assert_eq!(entry.field[0].name(), "key");
    assert_eq!(entry.field[1].r#type(), Type::Int64);
    let points = d.nested_type.iter().find(|m| m.name() == "PointsEntry").unwrap();
    assert_eq!(points.field[1].type_name(), ".t.PointsValue");
    assert_eq!(field(&d, "items").type_name(), ".t.Items");

    for bad in
        ["c.s.t(x ARRAY<ARRAY<INT>>)", "c.s.t(x MAP<STRING, ARRAY<INT>>)", "c.s.t(x ARRAY<MAP<STRING, INT>>)"]
    {
        let err = descriptor(&parse_table(bad).unwrap()).unwrap_err().to_string();
        assert!(err.contains("table c.s.t: column x:") && err.contains("no proto2 form"), "{bad}: {err}");
    }
}

/// The printed `.proto` compiles (protox, as protoc would) into the same message as `descriptor`.
#[test]
fn proto_file_compiles_to_the_same_descriptor() {
    let t = parse_table(
        "main.default.air_quality(device_name STRING NOT NULL, temp INT, humidity BIGINT, at TIMESTAMP, \
         tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE NOT NULL>, attrs MAP<STRING, BIGINT>, \
         hist MAP<INT, STRUCT<v: DECIMAL(5,1)>>, readings ARRAY<STRUCT<at_ms: BIGINT, ok: BOOLEAN>>, raw BINARY)",
    )
    .unwrap();
    let text = proto_file(&t).unwrap();
    assert!(text.contains("syntax = \"proto2\";"), "{text}");
    assert!(text.contains("map<string, int64> attrs = 7;"), "{text}");
    let dir = std::env::temp_dir().join(format!("zerobus-schema-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("air_quality.proto"), &text).unwrap();
    let compiled = protox::compile(["air_quality.proto"], [&dir]).unwrap_or_else(|e| panic!("{e}\n{text}"));
    std::fs::remove_dir_all(&dir).ok();
    let mut from_text = compiled.file[0].message_type[0].clone();
    let mut ours = descriptor(&t).unwrap();
    normalize(&mut from_text);
    normalize(&mut ours);
    assert_eq!(from_text, ours, "{text}");
    let set = file_descriptor_set(&t).unwrap();
    assert_eq!(set.file[0].name(), "air_quality.proto");
    assert_eq!(set.file[0].syntax(), "proto2");
}

/// Drops what protoc adds (`json_name`) and orders nested types by name, which carries no meaning.
fn normalize(d: &mut DescriptorProto) {
    for f in &mut d.field {
        f.json_name = None;
    }
    d.nested_type.sort_by(|a, b| a.name().cmp(b.name()));
    for n in &mut d.nested_type {
        normalize(n);
    }
}

#[test]
fn a_column_name_that_is_no_identifier_has_no_proto_text() {
    let t = parse_table("c.s.t(`my col` INT)").unwrap();
    assert!(descriptor(&t).is_ok());
    let err = proto_file(&t).unwrap_err().to_string();
    assert!(err.contains("\"my col\" is not a proto identifier"), "{err}");
}

#[test]
fn arrow_schema_follows_the_contract() {
    let t = parse_table(
        "c.s.t(id BIGINT NOT NULL, ts TIMESTAMP, tn TIMESTAMP_NTZ, d DATE, s STRING, de DECIMAL(10,2), b BINARY, \
         v VARIANT, a ARRAY<INT>, m MAP<STRING, DOUBLE>, r STRUCT<x: SMALLINT>, y TINYINT, f FLOAT)",
    )
    .unwrap();
    let s = arrow_schema(&t);
    let ty = |name: &str| s.field_with_name(name).unwrap().data_type().clone();
    assert!(!s.field_with_name("id").unwrap().is_nullable());
    assert_eq!(ty("id"), Arrow::Int64);
    assert_eq!(ty("ts"), Arrow::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
    assert_eq!(ty("tn"), Arrow::Timestamp(TimeUnit::Microsecond, None));
    assert_eq!(ty("d"), Arrow::Date32);
    assert_eq!(ty("s"), Arrow::LargeUtf8);
    assert_eq!(ty("de"), Arrow::LargeUtf8);
    assert_eq!(ty("b"), Arrow::LargeBinary);
    assert_eq!(ty("y"), Arrow::Int8);
    assert_eq!(ty("f"), Arrow::Float32);
    assert!(matches!(ty("v"), Arrow::Struct(f) if f.len() == 2 && f[0].name() == "metadata"));
    assert!(matches!(ty("a"), Arrow::List(e) if *e.data_type() == Arrow::Int32));
    assert!(matches!(ty("m"), Arrow::Map(_, false)));
    assert!(matches!(ty("r"), Arrow::Struct(f) if *f[0].data_type() == Arrow::Int16));
}
