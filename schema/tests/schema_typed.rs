//! The typed encoder: JSON records by the table's Delta types into proto bytes that decode as the
//! table's message (checked with prost-reflect, an independent decoder).

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, Value};
use zerobus_schema::{file_descriptor_set, parse_table, TableSchema, TypedEncoder};

const ALL: &str =
    "main.default.all_types(b BOOLEAN, y TINYINT, s SMALLINT, i INT NOT NULL, l BIGINT, f FLOAT, \
     d DOUBLE, dt DATE, ts TIMESTAMP, tn TIMESTAMP_NTZ, st STRING, bi BINARY, de DECIMAL(10,2), v VARIANT, \
     a ARRAY<BIGINT>, m MAP<STRING, DOUBLE>, r STRUCT<x: INT NOT NULL, y: ARRAY<STRUCT<z: STRING>>>, \
     mi MAP<INT, STRING>)";

fn table() -> TableSchema {
    parse_table(ALL).unwrap()
}

fn decode(t: &TableSchema, bytes: &[u8]) -> DynamicMessage {
    let pool = DescriptorPool::from_file_descriptor_set(file_descriptor_set(t).unwrap()).unwrap();
    let desc = pool.get_message_by_name(&t.name).unwrap();
    DynamicMessage::decode(desc, bytes).unwrap()
}

fn encode(t: &TableSchema, json: &str) -> Result<DynamicMessage, String> {
    let enc = TypedEncoder::new(t).unwrap();
    let mut out = Vec::new();
    enc.encode(json, &mut out).map_err(|e| e.to_string())?;
    Ok(decode(t, &out))
}

fn get(m: &DynamicMessage, name: &str) -> Value {
    m.get_field_by_name(name).unwrap().into_owned()
}

#[test]
fn every_type_lands_in_its_field() {
    let t = table();
    let m = encode(
        &t,
        r#"{"b": true, "y": -128, "s": 32767, "i": -2147483648, "l": "9223372036854775807", "f": 1.5,
            "d": -2.25e-3, "dt": "2024-02-29", "ts": "2024-05-01T12:30:00.123456+02:00", "tn": 1700000000000000,
            "st": "h\u00e9llo \"q\"", "bi": "AAEC/w==", "de": 12.5, "v": {"k": [1, "x"]},
            "a": [1, -2, 3000000000], "m": {"x": 1.0, "y": "NaN"}, "r": {"x": 7, "y": [{"z": "a"}, {}]},
            "mi": {"-5": "neg"}}"#,
    )
    .unwrap();
    assert_eq!(get(&m, "b"), Value::Bool(true));
    assert_eq!(get(&m, "y"), Value::I32(-128));
    assert_eq!(get(&m, "s"), Value::I32(32767));
    assert_eq!(get(&m, "i"), Value::I32(i32::MIN));
    assert_eq!(get(&m, "l"), Value::I64(i64::MAX));
    assert_eq!(get(&m, "f"), Value::F32(1.5));
    assert_eq!(get(&m, "d"), Value::F64(-2.25e-3));
    assert_eq!(get(&m, "dt"), Value::I32(19782));
    assert_eq!(get(&m, "ts"), Value::I64(1_714_559_400_123_456));
    assert_eq!(get(&m, "tn"), Value::I64(1_700_000_000_000_000));
    assert_eq!(get(&m, "st"), Value::String("héllo \"q\"".into()));
    assert_eq!(get(&m, "bi"), Value::Bytes(vec![0, 1, 2, 255].into()));
    assert_eq!(get(&m, "de"), Value::String("12.50".into()));
    assert_eq!(get(&m, "v"), Value::String(r#"{"k": [1, "x"]}"#.into()));
    assert_eq!(get(&m, "a"), Value::List(vec![Value::I64(1), Value::I64(-2), Value::I64(3_000_000_000)]));
    let Value::Map(map) = get(&m, "m") else { panic!("m is not a map") };
    assert_eq!(map.get(&MapKey::String("x".into())), Some(&Value::F64(1.0)));
    assert!(matches!(map.get(&MapKey::String("y".into())), Some(Value::F64(v)) if v.is_nan()));
    let Value::Message(r) = get(&m, "r") else { panic!("r is not a message") };
    assert_eq!(get(&r, "x"), Value::I32(7));
    let Value::List(ys) = get(&r, "y") else { panic!() };
    assert_eq!(ys.len(), 2);
    let Value::Map(mi) = get(&m, "mi") else { panic!() };
    assert_eq!(mi.get(&MapKey::I32(-5)), Some(&Value::String("neg".into())));
}

#[test]
fn nulls_and_absent_columns_leave_fields_unset() {
    let t = table();
    let m = encode(&t, r#"{"i": 1, "st": null, "r": null, "a": [], "m": {}}"#).unwrap();
    assert!(!m.has_field_by_name("st"));
    assert!(!m.has_field_by_name("r"));
    assert!(!m.has_field_by_name("b"));
    assert_eq!(get(&m, "a"), Value::List(vec![]));
}

#[test]
fn edges_of_each_range_are_accepted() {
    let t = table();
    for (json, field, want) in [
        (r#"{"i": 2147483647}"#, "i", Value::I32(i32::MAX)),
        (r#"{"i": 1, "y": 127}"#, "y", Value::I32(127)),
        (r#"{"i": 1, "s": -32768}"#, "s", Value::I32(-32768)),
        (r#"{"i": 1, "l": -9223372036854775808}"#, "l", Value::I64(i64::MIN)),
        (r#"{"i": 1, "l": 3.0}"#, "l", Value::I64(3)),
        (r#"{"i": 1, "f": 3.4e38}"#, "f", Value::F32(3.4e38)),
        (r#"{"i": 1, "d": "-Infinity"}"#, "d", Value::F64(f64::NEG_INFINITY)),
        (r#"{"i": 1, "dt": -719162}"#, "dt", Value::I32(-719162)),
        (r#"{"i": 1, "dt": "9999-12-31"}"#, "dt", Value::I32(2932896)),
        (r#"{"i": 1, "ts": "1969-12-31T23:59:59.999999Z"}"#, "ts", Value::I64(-1)),
        (r#"{"i": 1, "ts": "9223372036854775807"}"#, "ts", Value::I64(i64::MAX)),
        (r#"{"i": 1, "de": "-99999999.99"}"#, "de", Value::String("-99999999.99".into())),
        (r#"{"i": 1, "de": 1e-2}"#, "de", Value::String("0.01".into())),
        (r#"{"i": 1, "bi": "_-8"}"#, "bi", Value::Bytes(vec![0xff, 0xef].into())),
        (r#"{"i": 1, "v": "[1,2]"}"#, "v", Value::String("[1,2]".into())),
        (r#"{"i": 1, "v": 42}"#, "v", Value::String("42".into())),
        (r#"{"I": 5}"#, "i", Value::I32(5)),
    ] {
        let m = encode(&t, json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(get(&m, field), want, "{json}");
    }
}

#[test]
fn each_kind_of_error_names_the_column() {
    let t = table();
    for (json, want) in [
        (r#"{"i": 2147483648}"#, "i: 2147483648 is out of range for INT (-2147483648..=2147483647)"),
        (r#"{"i": 1, "y": 128}"#, "y: 128 is out of range for TINYINT"),
        (r#"{"i": 1, "l": "9223372036854775808"}"#, "l: 9223372036854775808 is out of range for BIGINT"),
        (r#"{"i": 1.5}"#, "i: expected INT (a whole number), got number \"1.5\""),
        (r#"{"i": "seven"}"#, "i: expected INT, got string \"seven\""),
        (r#"{"i": 1, "f": 1e39}"#, "f: 1e39 is out of range for FLOAT"),
        (r#"{"i": 1, "d": "north"}"#, "d: expected DOUBLE, got string \"north\"; give a number, or \"NaN\""),
        (r#"{"i": 1, "b": "yes"}"#, "b: expected BOOLEAN, got string \"yes\""),
        (r#"{"i": 1, "st": 5}"#, "st: expected STRING, got number \"5\""),
        (r#"{"i": 1, "dt": "2023-02-29"}"#, "dt: \"2023-02-29\" is not a valid calendar date"),
        (r#"{"i": 1, "ts": "noon"}"#, "ts: \"noon\" is not an RFC 3339 timestamp"),
        (r#"{"i": 1, "tn": "2024-01-01T00:00:00Z"}"#, "tn: \"2024-01-01T00:00:00Z\" has a time zone"),
        (r#"{"i": 1, "bi": "not base64!"}"#, "bi: \"not base64!\" is not base64"),
        (r#"{"i": 1, "de": "123456789"}"#, "de: \"123456789\" is out of range for DECIMAL(10,2)"),
        (r#"{"i": 1, "de": 1.005}"#, "de: \"1.005\" has 3 digit(s) after the point; DECIMAL(10,2) keeps 2"),
        (r#"{"i": 1, "a": [1, null]}"#, "a[1]: null element"),
        (r#"{"i": 1, "a": [1, "x"]}"#, "a[1]: expected BIGINT, got string \"x\""),
        (r#"{"i": 1, "a": 5}"#, "a: expected ARRAY<BIGINT> (a list), got number \"5\""),
        (r#"{"i": 1, "m": {"k": true}}"#, "m[k]: expected DOUBLE"),
        (r#"{"i": 1, "mi": {"x": "a"}}"#, "mi[x]: map key \"x\" is not INT"),
        (r#"{"i": 1, "r": {"y": []}}"#, "r.x: missing: the field of STRUCT r is NOT NULL (INT)"),
        (r#"{"i": 1, "r": {"x": 1, "y": [{"z": 1}]}}"#, "r.y[0].z: expected STRING, got number \"1\""),
        (r#"{"i": 1, "r": {"x": 1, "w": 2}}"#, "r.w: not a field of STRUCT r; known: x, y"),
        (r#"{"i": 1, "nope": 2}"#, "nope: not a column of main.default.all_types; known: b, y, s, i"),
        (r#"{"st": "x"}"#, "i: missing: the column of main.default.all_types is NOT NULL (INT)"),
        (r#"{"i": null}"#, "i: is NOT NULL (INT), got null"),
        (r#"{"i": 1, "i": 2}"#, "i: given twice in one object"),
        (r#"[1]"#, "a record is a JSON object with one key per column of main.default.all_types, got a list"),
        (r#"{"i": 1"#, "malformed JSON"),
        (r#"{"i": 1} x"#, "expected the end of the record"),
        (r#"{"i": 01}"#, "malformed number"),
    ] {
        let err = encode(&t, json).err().unwrap_or_else(|| panic!("{json} was accepted"));
        assert!(err.contains(want), "{json}:\n  got  {err}\n  want {want}");
    }
}

#[test]
fn long_values_are_cut_in_messages() {
    let t = table();
    let long = "x".repeat(500);
    let err = encode(&t, &format!(r#"{{"i": "{long}"}}"#)).unwrap_err();
    assert!(err.len() < 200, "{err}");
    assert!(err.contains('…'), "{err}");
}

#[test]
fn a_batch_error_names_the_record_and_keeps_nothing() {
    let t = table();
    let enc = TypedEncoder::new(&t).unwrap();
    let (mut data, mut lengths) = (b"prefix".to_vec(), vec![6]);
    let err = enc
        .encode_batch(
            [r#"{"i": 1}"#, r#"{"i": 2}"#, r#"{"i": 3, "r": {"x": 1, "y": [{"z": false}]}}"#],
            &mut data,
            &mut lengths,
        )
        .unwrap_err();
    assert_eq!(err.record, Some(2));
    assert_eq!(err.column.as_deref(), Some("r.y[0].z"));
    assert_eq!(err.to_string(), "record 2: r.y[0].z: expected STRING, got false");
    assert_eq!((data, lengths), (b"prefix".to_vec(), vec![6]));

    let (mut data, mut lengths) = (Vec::new(), Vec::new());
    enc.encode_batch([r#"{"i": 1}"#, r#"{"i": 2, "st": "two"}"#], &mut data, &mut lengths).unwrap();
    assert_eq!(lengths.len(), 2);
    let second = decode(&t, &data[lengths[0]..]);
    assert_eq!(get(&second, "st"), Value::String("two".into()));
}

/// Long nested content needs a length prefix wider than the one byte first reserved.
#[test]
fn large_nested_values_get_wide_length_prefixes() {
    let t = parse_table("c.s.t(r STRUCT<s: STRING, inner: STRUCT<s: STRING>>)").unwrap();
    let big = "é".repeat(20_000);
    let m = encode(&t, &format!(r#"{{"r": {{"s": "{big}", "inner": {{"s": "{big}"}}}}}}"#)).unwrap();
    let Value::Message(r) = get(&m, "r") else { panic!() };
    assert_eq!(get(&r, "s"), Value::String(big.clone()));
    let Value::Message(inner) = get(&r, "inner") else { panic!() };
    assert_eq!(get(&inner, "s"), Value::String(big));
}

/// The same record with its keys in another order encodes to equal values (bytes follow key order).
#[test]
fn key_order_does_not_change_values() {
    let t = table();
    let a = encode(&t, r#"{"i": 1, "st": "x", "l": 2}"#).unwrap();
    let b = encode(&t, r#"{"l": 2, "st": "x", "i": 1}"#).unwrap();
    // prost-reflect re-encodes in field-number order.
    assert_eq!(a.encode_to_vec(), b.encode_to_vec());
}
