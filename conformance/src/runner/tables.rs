//! The tables the runner's mock declares with columns (`conformance/tables.sql`), and the
//! checks made with them: a testee's `table_schema` reply, and the rows the server received
//! decoded by the table's message with an independent decoder (prost-reflect).

use std::sync::OnceLock;

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{json, Value};

use crate::proto_json::{message_json, Unset};

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
                .map(|m| message_json(&m, Unset::Skip))
                .map_err(|e| format!("record {i} does not decode as {}: {e}", t.full_name()))
        })
        .collect()
}
