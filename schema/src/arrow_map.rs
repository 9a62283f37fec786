//! Delta → Arrow, as PROTOCOL.md §9 lists it: the schema an Arrow stream's batches must have.

use std::sync::Arc;

use arrow_schema::{DataType as Arrow, Field, Fields, Schema, TimeUnit};

use crate::types::{DataType, TableSchema};

/// The Arrow schema of `table`'s rows.
pub fn arrow_schema(table: &TableSchema) -> Schema {
    Schema::new(
        table
            .columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(&c.data_type), c.nullable))
            .collect::<Vec<_>>(),
    )
}

/// The Arrow type of one Delta type.
pub fn arrow_type(ty: &DataType) -> Arrow {
    match ty {
        DataType::Boolean => Arrow::Boolean,
        DataType::Byte => Arrow::Int8,
        DataType::Short => Arrow::Int16,
        DataType::Int => Arrow::Int32,
        DataType::Long => Arrow::Int64,
        DataType::Float => Arrow::Float32,
        DataType::Double => Arrow::Float64,
        DataType::Date => Arrow::Date32,
        DataType::Timestamp => Arrow::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        DataType::TimestampNtz => Arrow::Timestamp(TimeUnit::Microsecond, None),
        DataType::String => Arrow::LargeUtf8,
        DataType::Binary => Arrow::LargeBinary,
        // The decimal as text, as the published Rust crate maps it.
        DataType::Decimal { .. } => Arrow::LargeUtf8,
        DataType::Variant => Arrow::Struct(Fields::from(vec![
            Field::new("metadata", Arrow::LargeBinary, false),
            Field::new("value", Arrow::LargeBinary, false),
        ])),
        DataType::Array { element, contains_null } => {
            Arrow::List(Arc::new(Field::new("element", arrow_type(element), *contains_null)))
        }
        DataType::Map { key, value, value_contains_null } => Arrow::Map(
            Arc::new(Field::new(
                "key_value",
                Arrow::Struct(Fields::from(vec![
                    Field::new("key", arrow_type(key), false),
                    Field::new("value", arrow_type(value), *value_contains_null),
                ])),
                false,
            )),
            false,
        ),
        DataType::Struct(fields) => Arrow::Struct(
            fields
                .iter()
                .map(|f| Field::new(&f.name, arrow_type(&f.data_type), f.nullable))
                .collect::<Fields>(),
        ),
    }
}
