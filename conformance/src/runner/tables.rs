//! The tables the runner's mock declares with columns (`conformance/tables.sql`), and the
//! checks made with them: a testee's `table_schema` reply, and the rows the server received
//! decoded by the table's message with an independent decoder (prost-reflect).

use std::sync::OnceLock;

use base64::Engine as _;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, ReflectMessage, Value as PValue};
use serde_json::{json, Map, Value};

use crate::mock::zerobus_schema::{self, TableSchema};

/// Every declared table.
pub(crate) fn declared() -> &'static [TableSchema] {
    static TABLES: OnceLock<Vec<TableSchema>> = OnceLock::new();
    TABLES.get_or_init(|| {
        zerobus_schema::parse_tables(include_str!("../../tables.sql"))
            .unwrap_or_else(|e| panic!("conformance/tables.sql: {e}"))
    })
}

pub(super) fn table(name: &str) -> Result<&'static TableSchema, String> {
    declared()
        .iter()
        .find(|t| t.full_name() == name)
        .ok_or_else(|| format!("table {name} is not declared in conformance/tables.sql"))
}

/// Checks a `table_schema` reply against the declared table `name`: its columns, and a
/// descriptor equal to the Delta → proto2 mapping.
pub(super) fn check_schema_reply(name: &str, reply: &Value) -> Result<(), String> {
    let t = table(name)?;
    let want: Vec<Value> = t
        .columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.data_type.to_string(), "nullable": c.nullable, "position": c.position})
        })
        .collect();
    if reply["columns"] != Value::Array(want.clone()) {
        return Err(format!("columns {}, expected {}", reply["columns"], Value::Array(want)));
    }
    let hex = reply["descriptor_hex"].as_str().ok_or("the reply has no descriptor_hex")?;
    let got = prost_types::DescriptorProto::decode(super::unhex(hex)?.as_slice())
        .map_err(|e| format!("descriptor_hex is not a DescriptorProto: {e}"))?;
    let want = zerobus_schema::descriptor(t).map_err(|e| e.to_string())?;
    if got != want {
        return Err(format!("descriptor {got:?} is not the table's mapping {want:?}"));
    }
    Ok(())
}

/// The payloads of `table`'s records decoded by its message, as JSON: each set field by name
/// (integers as numbers, bytes as base64, lists, maps keyed by the key's text, nested objects).
pub(super) fn decode_rows(name: &str, payloads: &[&[u8]]) -> Result<Vec<Value>, String> {
    let t = table(name)?;
    let set = zerobus_schema::file_descriptor_set(t).map_err(|e| e.to_string())?;
    let pool = DescriptorPool::from_file_descriptor_set(set).map_err(|e| e.to_string())?;
    let desc = pool.get_message_by_name(&t.name).ok_or("the table's descriptor set has no record message")?;
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            DynamicMessage::decode(desc.clone(), *p)
                .map(|m| message_json(&m))
                .map_err(|e| format!("record {i} does not decode as {}: {e}", t.full_name()))
        })
        .collect()
}

fn message_json(m: &DynamicMessage) -> Value {
    let mut out = Map::new();
    for field in m.descriptor().fields() {
        if !m.has_field(&field) {
            continue;
        }
        out.insert(field.name().to_owned(), value_json(&m.get_field(&field)));
    }
    Value::Object(out)
}

fn value_json(v: &PValue) -> Value {
    match v {
        PValue::Bool(b) => json!(b),
        PValue::I32(n) => json!(n),
        PValue::I64(n) => json!(n),
        PValue::U32(n) => json!(n),
        PValue::U64(n) => json!(n),
        PValue::F32(f) => json!(f64::from(*f)),
        PValue::F64(f) => json!(f),
        PValue::String(s) => json!(s),
        PValue::Bytes(b) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        PValue::EnumNumber(n) => json!(n),
        PValue::Message(m) => message_json(m),
        PValue::List(items) => Value::Array(items.iter().map(value_json).collect()),
        PValue::Map(entries) => {
            let mut sorted: Vec<(String, Value)> = entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        MapKey::Bool(b) => b.to_string(),
                        MapKey::I32(n) => n.to_string(),
                        MapKey::I64(n) => n.to_string(),
                        MapKey::U32(n) => n.to_string(),
                        MapKey::U64(n) => n.to_string(),
                        MapKey::String(s) => s.clone(),
                    };
                    (key, value_json(v))
                })
                .collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(sorted.into_iter().collect())
        }
    }
}
