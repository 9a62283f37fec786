//! The Delta column types a Unity Catalog table can have, and the table schema built from them.

use std::fmt;

/// A Delta (Spark SQL) data type, as Unity Catalog reports it for a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataType {
    /// `BOOLEAN`.
    Boolean,
    /// `TINYINT` (UC `BYTE`): 8-bit signed.
    Byte,
    /// `SMALLINT` (UC `SHORT`): 16-bit signed.
    Short,
    /// `INT` (UC `INT`): 32-bit signed.
    Int,
    /// `BIGINT` (UC `LONG`): 64-bit signed.
    Long,
    /// `FLOAT`: 32-bit IEEE 754.
    Float,
    /// `DOUBLE`: 64-bit IEEE 754.
    Double,
    /// `DATE`: days since 1970-01-01.
    Date,
    /// `TIMESTAMP`: microseconds since the epoch, UTC.
    Timestamp,
    /// `TIMESTAMP_NTZ`: microseconds since the epoch, no time zone.
    TimestampNtz,
    /// `STRING` (also `VARCHAR(n)` / `CHAR(n)`).
    String,
    /// `BINARY`.
    Binary,
    /// `DECIMAL(precision, scale)`.
    Decimal {
        /// Total digits, 1..=38.
        precision: u8,
        /// Digits after the point, 0..=precision.
        scale: u8,
    },
    /// `VARIANT`: semi-structured JSON.
    Variant,
    /// `ARRAY<element>`.
    Array {
        /// The element type.
        element: Box<DataType>,
        /// Whether elements may be null.
        contains_null: bool,
    },
    /// `MAP<key, value>`.
    Map {
        /// The key type (keys are never null).
        key: Box<DataType>,
        /// The value type.
        value: Box<DataType>,
        /// Whether values may be null.
        value_contains_null: bool,
    },
    /// `STRUCT<name: type, …>`.
    Struct(Vec<StructField>),
}

/// One field of a `STRUCT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructField {
    /// Field name.
    pub name: String,
    /// Field type.
    pub data_type: DataType,
    /// Whether the field may be null.
    pub nullable: bool,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Column type.
    pub data_type: DataType,
    /// Whether the column may be null (`false` for `NOT NULL`).
    pub nullable: bool,
    /// Zero-based position in the table; the proto field number is `position + 1`.
    pub position: u32,
    /// The column's comment, if it has one.
    pub comment: Option<String>,
}

/// A table's name and columns: what `GET /api/2.1/unity-catalog/tables/{full_name}` describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// Catalog name (first part of the full name).
    pub catalog: String,
    /// Schema name (second part).
    pub schema: String,
    /// Table name (third part).
    pub name: String,
    /// Columns in position order.
    pub columns: Vec<Column>,
}

impl TableSchema {
    /// `catalog.schema.table`.
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }

    /// The column called `name`, if any. Delta column names compare case-insensitively.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

impl DataType {
    /// Unity Catalog's `type_name` for this type (`LONG`, `DECIMAL`, `STRUCT`, …).
    pub fn uc_type_name(&self) -> &'static str {
        match self {
            DataType::Boolean => "BOOLEAN",
            DataType::Byte => "BYTE",
            DataType::Short => "SHORT",
            DataType::Int => "INT",
            DataType::Long => "LONG",
            DataType::Float => "FLOAT",
            DataType::Double => "DOUBLE",
            DataType::Date => "DATE",
            DataType::Timestamp => "TIMESTAMP",
            DataType::TimestampNtz => "TIMESTAMP_NTZ",
            DataType::String => "STRING",
            DataType::Binary => "BINARY",
            DataType::Decimal { .. } => "DECIMAL",
            DataType::Variant => "VARIANT",
            DataType::Array { .. } => "ARRAY",
            DataType::Map { .. } => "MAP",
            DataType::Struct(_) => "STRUCT",
        }
    }

    /// The SQL name used in error messages (`BIGINT`, `DECIMAL(10,2)`, `ARRAY<STRING>`).
    pub fn sql_name(&self) -> String {
        self.spelled(true)
    }

    /// Whether this is `ARRAY`, `MAP` or `STRUCT`.
    pub fn is_nested(&self) -> bool {
        matches!(self, DataType::Array { .. } | DataType::Map { .. } | DataType::Struct(_))
    }
}

/// The Spark SQL spelling, lower case, as UC's `type_text`: `bigint`, `decimal(10,2)`,
/// `array<string>`, `map<string,int>`, `struct<lat:double,lon:double>`.
impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spelled(false))
    }
}

impl DataType {
    /// The SQL spelling, type keywords in upper or lower case; struct field names as they are.
    fn spelled(&self, upper: bool) -> String {
        let word = |w: &str| if upper { w.to_ascii_uppercase() } else { w.to_owned() };
        match self {
            DataType::Boolean => word("boolean"),
            DataType::Byte => word("tinyint"),
            DataType::Short => word("smallint"),
            DataType::Int => word("int"),
            DataType::Long => word("bigint"),
            DataType::Float => word("float"),
            DataType::Double => word("double"),
            DataType::Date => word("date"),
            DataType::Timestamp => word("timestamp"),
            DataType::TimestampNtz => word("timestamp_ntz"),
            DataType::String => word("string"),
            DataType::Binary => word("binary"),
            DataType::Decimal { precision, scale } => format!("{}({precision},{scale})", word("decimal")),
            DataType::Variant => word("variant"),
            DataType::Array { element, .. } => format!("{}<{}>", word("array"), element.spelled(upper)),
            DataType::Map { key, value, .. } => {
                format!("{}<{},{}>", word("map"), key.spelled(upper), value.spelled(upper))
            }
            DataType::Struct(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        let not_null =
                            if f.nullable { String::new() } else { format!(" {}", word("not null")) };
                        format!("{}:{}{not_null}", f.name, f.data_type.spelled(upper))
                    })
                    .collect();
                format!("{}<{}>", word("struct"), inner.join(","))
            }
        }
    }
}

/// Why a schema could not be read or mapped. The message names the table, column and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(pub String);

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SchemaError {}

impl SchemaError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        SchemaError(message.into())
    }
}
