//! # zerobus-schema
//!
//! Unity Catalog table schemas, for the Zerobus SDK and its mock server alike:
//!
//! * [`TableSchema`] / [`DataType`]: a table's columns as Delta types, read from the SQL column
//!   syntax ([`parse_table`]) or from Unity Catalog's REST JSON ([`TableSchema::from_uc_json`]),
//!   and written back as that JSON ([`TableSchema::to_uc_json`]);
//! * the Delta → proto2 mapping of PROTOCOL.md §7 ([`descriptor`], [`proto_file`],
//!   [`file_descriptor_set`]) and the Delta → Arrow mapping of §9 ([`arrow_schema`]);
//! * [`TypedEncoder`]: JSON records → proto bytes of the table's message, in one pass, with errors
//!   that name the record and the column.
#![warn(missing_docs)]

mod arrow_map;
mod plain;
mod proto;
mod sql;
mod typed;
mod types;
mod uc;

pub use arrow_map::{arrow_schema, arrow_type};
pub use plain::plain_run_len;
pub use proto::{descriptor, file_descriptor_set, proto_file};
pub use sql::{parse_table, parse_tables, parse_type};
pub use typed::{TypedEncoder, TypedError};
pub use types::{Column, DataType, SchemaError, StructField, TableSchema};
pub use uc::{spark_type, spark_type_json, table_path};

/// Re-exported so callers name the same `arrow-schema` version as this crate.
pub use ::arrow_schema as arrow;
