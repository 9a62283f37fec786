//! The Unity Catalog table JSON (`GET /api/2.1/unity-catalog/tables/{full_name}`, PROTOCOL.md §7):
//! what the mock serves and what the SDK reads back.

use serde_json::{json, Map, Value};

use crate::sql::decimal;
use crate::types::{Column, DataType, SchemaError, StructField, TableSchema};

/// The path of a table's schema under the workspace URL.
pub fn table_path(full_name: &str) -> String {
    format!("/api/2.1/unity-catalog/tables/{full_name}")
}

impl TableSchema {
    /// The table as Unity Catalog's REST API returns it.
    pub fn to_uc_json(&self) -> Value {
        let columns: Vec<Value> = self
            .columns
            .iter()
            .map(|c| {
                let mut col = json!({
                    "name": c.name,
                    "type_name": c.data_type.uc_type_name(),
                    "type_text": c.data_type.to_string(),
                    "type_json": struct_field_json(&c.name, &c.data_type, c.nullable).to_string(),
                    "nullable": c.nullable,
                    "position": c.position,
                });
                if let DataType::Decimal { precision, scale } = c.data_type {
                    col["type_precision"] = json!(precision);
                    col["type_scale"] = json!(scale);
                }
                if let Some(comment) = &c.comment {
                    col["comment"] = json!(comment);
                }
                col
            })
            .collect();
        json!({
            "name": self.name,
            "catalog_name": self.catalog,
            "schema_name": self.schema,
            "full_name": self.full_name(),
            "table_type": "MANAGED",
            "data_source_format": "DELTA",
            "columns": columns,
        })
    }

    /// Reads Unity Catalog's table JSON. `type_json` decides complex types; for primitives
    /// `type_name` (with `type_precision` / `type_scale` or `type_text` for decimals) is enough.
    pub fn from_uc_json(body: &[u8]) -> Result<TableSchema, SchemaError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| SchemaError::new(format!("the table schema response is not JSON: {e}")))?;
        let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
        let (catalog, schema, name) = match (text("catalog_name"), text("schema_name"), text("name")) {
            (Some(c), Some(s), Some(n)) => (c, s, n),
            _ => {
                let full = text("full_name").unwrap_or_default();
                let parts: Vec<&str> = full.split('.').collect();
                match parts.as_slice() {
                    [c, s, n] => (c.to_string(), s.to_string(), n.to_string()),
                    _ => return Err(SchemaError::new("the table schema response has no table name")),
                }
            }
        };
        let full = format!("{catalog}.{schema}.{name}");
        let cols = v
            .get("columns")
            .and_then(Value::as_array)
            .ok_or_else(|| SchemaError::new(format!("table {full}: the schema response has no columns")))?;
        let mut columns = Vec::with_capacity(cols.len());
        for (i, c) in cols.iter().enumerate() {
            columns.push(
                column_from_uc(c, i as u32).map_err(|e| SchemaError::new(format!("table {full}: {e}")))?,
            );
        }
        columns.sort_by_key(|c| c.position);
        Ok(TableSchema { catalog, schema, name, columns })
    }
}

fn column_from_uc(c: &Value, index: u32) -> Result<Column, SchemaError> {
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| SchemaError::new(format!("column {index} has no name")))?
        .to_string();
    let err = |what: String| SchemaError::new(format!("column {name}: {what}"));
    let nullable = c.get("nullable").and_then(Value::as_bool).unwrap_or(true);
    let position = c.get("position").and_then(Value::as_u64).map(|p| p as u32).unwrap_or(index);
    let comment = c.get("comment").and_then(Value::as_str).map(str::to_string);
    let data_type = match c.get("type_json") {
        Some(Value::String(s)) if !s.is_empty() => {
            let field: Value =
                serde_json::from_str(s).map_err(|e| err(format!("type_json is not JSON: {e}")))?;
            let ty = field.get("type").ok_or_else(|| err("type_json has no `type`".into()))?;
            spark_type(ty).map_err(|e| err(e.0))?
        }
        Some(field @ Value::Object(_)) => {
            spark_type(field.get("type").unwrap_or(&Value::Null)).map_err(|e| err(e.0))?
        }
        _ => {
            let type_name = c.get("type_name").and_then(Value::as_str).unwrap_or("");
            match type_name {
                "DECIMAL" => match (c.get("type_precision"), c.get("type_scale")) {
                    (Some(p), Some(s)) => {
                        decimal(p.as_u64().unwrap_or(0) as u32, s.as_u64().unwrap_or(0) as u32)?
                    }
                    _ => crate::sql::parse_type(
                        c.get("type_text").and_then(Value::as_str).unwrap_or("decimal"),
                    )?,
                },
                "ARRAY" | "MAP" | "STRUCT" => {
                    return Err(err(format!("a {type_name} column needs type_json to describe its parts")))
                }
                other => primitive_from_uc_name(other)
                    .ok_or_else(|| err(format!("unknown type_name {other:?}")))?,
            }
        }
    };
    Ok(Column { name, data_type, nullable, position, comment })
}

fn primitive_from_uc_name(name: &str) -> Option<DataType> {
    Some(match name {
        "BOOLEAN" => DataType::Boolean,
        "BYTE" => DataType::Byte,
        "SHORT" => DataType::Short,
        "INT" => DataType::Int,
        "LONG" => DataType::Long,
        "FLOAT" => DataType::Float,
        "DOUBLE" => DataType::Double,
        "DATE" => DataType::Date,
        "TIMESTAMP" => DataType::Timestamp,
        "TIMESTAMP_NTZ" => DataType::TimestampNtz,
        "STRING" | "CHAR" => DataType::String,
        "BINARY" => DataType::Binary,
        "VARIANT" => DataType::Variant,
        _ => return None,
    })
}

/// Parses a Spark JSON data type: a primitive name or an array / map / struct object.
pub fn spark_type(v: &Value) -> Result<DataType, SchemaError> {
    match v {
        Value::String(s) => {
            let ty = match s.as_str() {
                "boolean" => DataType::Boolean,
                "byte" => DataType::Byte,
                "short" => DataType::Short,
                "integer" => DataType::Int,
                "long" => DataType::Long,
                "float" => DataType::Float,
                "double" => DataType::Double,
                "date" => DataType::Date,
                "timestamp" => DataType::Timestamp,
                "timestamp_ntz" => DataType::TimestampNtz,
                "string" => DataType::String,
                "binary" => DataType::Binary,
                "variant" => DataType::Variant,
                s if s.starts_with("decimal") || s.starts_with("varchar") || s.starts_with("char") => {
                    crate::sql::parse_type(s)?
                }
                other => return Err(SchemaError::new(format!("unknown Spark type {other:?}"))),
            };
            Ok(ty)
        }
        Value::Object(o) => {
            let flag = |key: &str| o.get(key).and_then(Value::as_bool).unwrap_or(true);
            let part = |key: &str| {
                o.get(key).ok_or_else(|| SchemaError::new(format!("Spark type object has no `{key}`")))
            };
            match o.get("type").and_then(Value::as_str) {
                Some("array") => Ok(DataType::Array {
                    element: Box::new(spark_type(part("elementType")?)?),
                    contains_null: flag("containsNull"),
                }),
                Some("map") => Ok(DataType::Map {
                    key: Box::new(spark_type(part("keyType")?)?),
                    value: Box::new(spark_type(part("valueType")?)?),
                    value_contains_null: flag("valueContainsNull"),
                }),
                Some("struct") => {
                    let fields = part("fields")?
                        .as_array()
                        .ok_or_else(|| SchemaError::new("struct `fields` is not a list"))?;
                    let mut out = Vec::with_capacity(fields.len());
                    for f in fields {
                        let name = f
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| SchemaError::new("a struct field has no name"))?;
                        let ty = spark_type(f.get("type").unwrap_or(&Value::Null))
                            .map_err(|e| SchemaError::new(format!("{name}: {e}")))?;
                        let nullable = f.get("nullable").and_then(Value::as_bool).unwrap_or(true);
                        out.push(StructField { name: name.to_string(), data_type: ty, nullable });
                    }
                    Ok(DataType::Struct(out))
                }
                other => Err(SchemaError::new(format!("unknown Spark type object {other:?}"))),
            }
        }
        other => Err(SchemaError::new(format!("a Spark type is a name or an object, not {other}"))),
    }
}

/// The Spark JSON of a data type.
pub fn spark_type_json(ty: &DataType) -> Value {
    match ty {
        DataType::Boolean => json!("boolean"),
        DataType::Byte => json!("byte"),
        DataType::Short => json!("short"),
        DataType::Int => json!("integer"),
        DataType::Long => json!("long"),
        DataType::Float => json!("float"),
        DataType::Double => json!("double"),
        DataType::Date => json!("date"),
        DataType::Timestamp => json!("timestamp"),
        DataType::TimestampNtz => json!("timestamp_ntz"),
        DataType::String => json!("string"),
        DataType::Binary => json!("binary"),
        DataType::Decimal { precision, scale } => json!(format!("decimal({precision},{scale})")),
        DataType::Variant => json!("variant"),
        DataType::Array { element, contains_null } => {
            json!({"type": "array", "elementType": spark_type_json(element), "containsNull": contains_null})
        }
        DataType::Map { key, value, value_contains_null } => json!({
            "type": "map",
            "keyType": spark_type_json(key),
            "valueType": spark_type_json(value),
            "valueContainsNull": value_contains_null,
        }),
        DataType::Struct(fields) => json!({
            "type": "struct",
            "fields": fields
                .iter()
                .map(|f| struct_field_json(&f.name, &f.data_type, f.nullable))
                .collect::<Vec<_>>(),
        }),
    }
}

fn struct_field_json(name: &str, ty: &DataType, nullable: bool) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("type".into(), spark_type_json(ty));
    m.insert("nullable".into(), json!(nullable));
    m.insert("metadata".into(), json!({}));
    Value::Object(m)
}
