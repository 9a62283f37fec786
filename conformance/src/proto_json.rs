//! A protobuf message as JSON, by field name, decoded with prost-reflect (a decoder we did not
//! write): the runner compares what the server received with it, and the local store
//! (`zerobus-localstore`) keeps PROTO records as it. Bytes are base64, map keys sorted.

use base64::Engine as _;
use prost_reflect::{DynamicMessage, MapKey, ReflectMessage, Value as PValue};
use serde_json::{json, Map, Value};

/// Which fields a message's JSON leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unset {
    /// Every field `has_field` is false for: unset fields with presence, and fields without
    /// presence holding their default (0, "", an empty list).
    Skip,
    /// Only unset fields with presence (proto2 `optional`, proto3 `optional`, messages): those
    /// are NULL; a field without presence always has a value, its default if nothing else.
    SkipPresent,
}

/// `m`'s fields as a JSON object.
pub fn message_json(m: &DynamicMessage, unset: Unset) -> Value {
    let mut out = Map::new();
    for field in m.descriptor().fields() {
        let absent = match unset {
            Unset::Skip => !m.has_field(&field),
            Unset::SkipPresent => field.supports_presence() && !m.has_field(&field),
        };
        if !absent {
            out.insert(field.name().to_owned(), value_json(&m.get_field(&field), unset));
        }
    }
    Value::Object(out)
}

fn value_json(v: &PValue, unset: Unset) -> Value {
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
        PValue::Message(m) => message_json(m, unset),
        PValue::List(items) => Value::Array(items.iter().map(|v| value_json(v, unset)).collect()),
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
                    (key, value_json(v, unset))
                })
                .collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(sorted.into_iter().collect())
        }
    }
}
