//! The service's check of a PROTO stream's descriptor against the table it writes to: each
//! descriptor field must name a column (case-insensitively, as Delta compares names), every
//! NOT NULL column must have a field, and each field's type and label must be what the
//! Delta → proto2 mapping of PROTOCOL.md §7 allows, recursively through STRUCT (a nested
//! message), ARRAY (a repeated field) and MAP (a repeated entry message, key = 1, value = 2).
//!
//! The causes are named as PROTOCOL.md §9 names them. A descriptor that passes is returned with
//! the fields of NOT NULL columns made `required`, so records are then checked against the table
//! (a record that leaves out a NOT NULL column is refused even if the client called it optional).

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto};
use tonic::{Code, Status};
use zerobus_schema::{DataType, TableSchema};

use super::protocheck::{flatten, resolve};

/// Why a descriptor does not fit its table, as the service's `causes` spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A descriptor field with no column of that name.
    FieldNotInTable,
    /// A NOT NULL column the descriptor has no field for.
    MissingRequiredColumn,
    /// A field whose type or label the column's type does not allow.
    TypeIncompatible,
    /// An Arrow field at another position than its column (Arrow streams).
    FieldOutOfOrder,
    /// An Arrow schema with another number of fields than the table has columns.
    FieldCountMismatch,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::FieldNotInTable => "FIELD_NOT_IN_TABLE",
            Cause::MissingRequiredColumn => "MISSING_REQUIRED_COLUMN",
            Cause::TypeIncompatible => "TYPE_INCOMPATIBLE",
            Cause::FieldOutOfOrder => "FIELD_OUT_OF_ORDER",
            Cause::FieldCountMismatch => "FIELD_COUNT_MISMATCH",
        }
    }
}

/// One problem: where (`loc.lat`), why, and a detail for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub path: String,
    pub cause: Cause,
    pub detail: String,
}

/// Every problem of a descriptor on `table`.
#[derive(Clone, Debug)]
pub(crate) struct Mismatch {
    pub table: String,
    pub problems: Vec<Problem>,
}

/// `reason` of the `google.rpc.ErrorInfo` a schema failure carries (PROTOCOL.md §9).
pub(crate) const SCHEMA_VALIDATION_FAILED: &str = "SCHEMA_VALIDATION_FAILED";
/// `domain` of that `ErrorInfo`.
pub(crate) const ERROR_DOMAIN: &str = "zerobus.databricks.com";
/// `error_code` of that `ErrorInfo`'s metadata.
pub(crate) const SCHEMA_ERROR_CODE: &str = "8001";

impl Mismatch {
    /// `schema validation failed for table t: field `loc.lat`: TYPE_INCOMPATIBLE (…); …`.
    pub fn message(&self) -> String {
        let problems: Vec<String> = self
            .problems
            .iter()
            .map(|p| {
                let what = if p.cause == Cause::MissingRequiredColumn { "column" } else { "field" };
                format!("{what} `{}`: {} ({})", p.path, p.cause.as_str(), p.detail)
            })
            .collect();
        format!("schema validation failed for table {}: {}", self.table, problems.join("; "))
    }

    /// The distinct causes, comma-separated, in the order first met.
    pub fn causes(&self) -> String {
        let mut causes: Vec<&str> = Vec::new();
        for p in &self.problems {
            if !causes.contains(&p.cause.as_str()) {
                causes.push(p.cause.as_str());
            }
        }
        causes.join(",")
    }

    /// INVALID_ARGUMENT with the message and, in the details, a `google.rpc.Status` holding an
    /// `ErrorInfo` (reason SCHEMA_VALIDATION_FAILED, metadata `causes` and `error_code`).
    pub fn status(&self) -> Status {
        let message = self.message();
        let info = ErrorInfo {
            reason: SCHEMA_VALIDATION_FAILED.into(),
            domain: ERROR_DOMAIN.into(),
            metadata: HashMap::from([
                ("causes".to_string(), self.causes()),
                ("error_code".to_string(), SCHEMA_ERROR_CODE.to_string()),
            ]),
        };
        let details = RpcStatus {
            code: Code::InvalidArgument as i32,
            message: message.clone(),
            details: vec![prost_types::Any {
                type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(),
                value: info.encode_to_vec(),
            }],
        };
        Status::with_details(Code::InvalidArgument, message, Bytes::from(details.encode_to_vec()))
    }
}

/// `google.rpc.Status`, the message gRPC's `grpc-status-details-bin` carries.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}

/// `google.rpc.ErrorInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ErrorInfo {
    #[prost(string, tag = "1")]
    pub reason: String,
    #[prost(string, tag = "2")]
    pub domain: String,
    #[prost(map = "string, string", tag = "3")]
    pub metadata: HashMap<String, String>,
}

/// Checks `root` against `table`. On success, returns the descriptor records are validated with:
/// `root` with the fields of NOT NULL columns (and NOT NULL struct fields) made `required`.
pub(crate) fn check(table: &TableSchema, root: &DescriptorProto) -> Result<DescriptorProto, Mismatch> {
    let flat = flatten(root);
    let mut checker = Checker { flat: &flat, problems: Vec::new(), required: Vec::new() };
    let columns: Vec<Col<'_>> =
        table.columns.iter().map(|c| Col { name: &c.name, ty: &c.data_type, nullable: c.nullable }).collect();
    checker.message(0, &columns, "", 0);
    if !checker.problems.is_empty() {
        return Err(Mismatch { table: table.full_name(), problems: checker.problems });
    }
    let mut forced = root.clone();
    for (message, field) in checker.required {
        let path = &flat[message].0;
        // The path starts with the root's own name; the rest names nested types in turn.
        let mut m = &mut forced;
        for part in path.split('.').skip(1) {
            let Some(i) = m.nested_type.iter().position(|n| n.name() == part) else { break };
            m = &mut m.nested_type[i];
        }
        if let Some(f) = m.field.iter_mut().find(|f| f.name() == field) {
            f.label = Some(Label::Required as i32);
        }
    }
    Ok(forced)
}

/// A column, or a field of a STRUCT column.
struct Col<'a> {
    name: &'a str,
    ty: &'a DataType,
    nullable: bool,
}

struct Checker<'a> {
    flat: &'a [(String, &'a DescriptorProto)],
    problems: Vec<Problem>,
    /// (message index in `flat`, field name) of optional fields whose column is NOT NULL.
    required: Vec<(usize, String)>,
}

/// Deeper than any table a person defines; guards against a descriptor that recurses.
const MAX_DEPTH: u32 = 64;

/// What a descriptor field holds, resolved.
enum FieldType {
    Scalar(Type),
    /// A message (or group), by its index in the flattened descriptor.
    Message(usize),
    /// An enum, or a type name that names no message of the descriptor.
    Other(String),
}

impl<'a> Checker<'a> {
    fn problem(&mut self, path: String, cause: Cause, detail: String) {
        self.problems.push(Problem { path, cause, detail });
    }

    /// Matches the fields of message `index` to `columns`.
    fn message(&mut self, index: usize, columns: &[Col<'_>], prefix: &str, depth: u32) {
        let d = self.flat[index].1;
        let mut matched: Vec<Option<&str>> = vec![None; columns.len()];
        for f in &d.field {
            let path = format!("{prefix}{}", f.name());
            let Some(c) = columns.iter().position(|c| c.name.eq_ignore_ascii_case(f.name())) else {
                let detail = if prefix.is_empty() {
                    "the table has no such column".to_string()
                } else {
                    format!("the struct `{}` has no such field", prefix.trim_end_matches('.'))
                };
                self.problem(path, Cause::FieldNotInTable, detail);
                continue;
            };
            if let Some(other) = matched[c] {
                let detail = format!("column {} is already matched by field `{other}`", columns[c].name);
                self.problem(path, Cause::FieldNotInTable, detail);
                continue;
            }
            matched[c] = Some(f.name());
            let col = &columns[c];
            if !col.nullable && matches!(f.label(), Label::Optional) {
                self.required.push((index, f.name().to_string()));
            }
            self.value(index, f, col.ty, &path, depth);
        }
        for (c, m) in columns.iter().zip(&matched) {
            if m.is_none() && !c.nullable {
                self.problem(
                    format!("{prefix}{}", c.name),
                    Cause::MissingRequiredColumn,
                    format!("{} NOT NULL has no field in the descriptor", c.ty.sql_name()),
                );
            }
        }
    }

    /// Checks field `f` of message `scope` holding a column of type `ty`.
    fn value(&mut self, scope: usize, f: &FieldDescriptorProto, ty: &DataType, path: &str, depth: u32) {
        let repeated = f.label() == Label::Repeated;
        match ty {
            DataType::Array { element, .. } => {
                if !repeated {
                    let detail = format!(
                        "column is {}, descriptor has {}, but an ARRAY column needs a repeated field",
                        ty.sql_name(),
                        self.spelled(scope, f, true)
                    );
                    return self.problem(path.into(), Cause::TypeIncompatible, detail);
                }
                let subject = format!("column is {}", ty.sql_name());
                self.element(scope, f, element, &subject, true, path, depth);
            }
            DataType::Map { key, value, .. } => {
                let entry = match self.field_type(scope, f) {
                    FieldType::Message(i) if repeated => i,
                    _ => {
                        let detail = format!(
                            "column is {}, descriptor has {}, but a MAP column needs a map (a repeated \
                             entry message with key = 1 and value = 2)",
                            ty.sql_name(),
                            self.spelled(scope, f, true)
                        );
                        return self.problem(path.into(), Cause::TypeIncompatible, detail);
                    }
                };
                if depth >= MAX_DEPTH {
                    return;
                }
                let d = self.flat[entry].1;
                let by_number = |n: i32| d.field.iter().find(|e| e.number() == n);
                for e in d.field.iter().filter(|e| !matches!(e.number(), 1 | 2)) {
                    let detail = format!(
                        "the map entry {} has field {} = {}, but a MAP entry holds only key = 1 and value = 2",
                        d.name(),
                        e.name(),
                        e.number()
                    );
                    self.problem(format!("{path}.{}", e.name()), Cause::FieldNotInTable, detail);
                }
                for (number, part, part_ty) in [(1, "key", key.as_ref()), (2, "value", value.as_ref())] {
                    let part_path = format!("{path}.{part}");
                    match by_number(number) {
                        None => {
                            let detail = format!(
                                "column is {}, and the map entry {} has no {part} field (number {number})",
                                ty.sql_name(),
                                d.name()
                            );
                            self.problem(part_path, Cause::TypeIncompatible, detail);
                        }
                        Some(e) if e.label() == Label::Repeated => {
                            let detail = format!(
                                "the map's {part} is {}, descriptor has {}",
                                part_ty.sql_name(),
                                self.spelled(entry, e, true)
                            );
                            self.problem(part_path, Cause::TypeIncompatible, detail);
                        }
                        Some(e) => {
                            let subject = format!("the map's {part} is {}", part_ty.sql_name());
                            self.element(entry, e, part_ty, &subject, false, &part_path, depth + 1)
                        }
                    }
                }
            }
            other => {
                if repeated {
                    let detail = format!(
                        "column is {}, descriptor has {}, but only ARRAY and MAP columns are repeated",
                        other.sql_name(),
                        self.spelled(scope, f, true)
                    );
                    return self.problem(path.into(), Cause::TypeIncompatible, detail);
                }
                let subject = format!("column is {}", other.sql_name());
                self.element(scope, f, other, &subject, false, path, depth);
            }
        }
    }

    /// Checks that one value of field `f` (of message `scope`) can hold a value of type `ty`;
    /// `subject` says what `ty` is for the message (`column is DOUBLE`), and `with_label` whether
    /// to spell the field's label too (an ARRAY's elements).
    #[allow(clippy::too_many_arguments)]
    fn element(
        &mut self,
        scope: usize,
        f: &FieldDescriptorProto,
        ty: &DataType,
        subject: &str,
        with_label: bool,
        path: &str,
        depth: u32,
    ) {
        let fits = match (ty, self.field_type(scope, f)) {
            (DataType::Struct(fields), FieldType::Message(i)) => {
                if depth < MAX_DEPTH {
                    let cols: Vec<Col<'_>> = fields
                        .iter()
                        .map(|s| Col { name: &s.name, ty: &s.data_type, nullable: s.nullable })
                        .collect();
                    self.message(i, &cols, &format!("{path}."), depth + 1);
                }
                return;
            }
            (DataType::Array { .. } | DataType::Map { .. }, _) => false,
            (_, FieldType::Scalar(t)) => scalar_fits(ty, t),
            _ => false,
        };
        if !fits {
            let detail = format!("{subject}, descriptor has {}", self.spelled(scope, f, with_label));
            self.problem(path.into(), Cause::TypeIncompatible, detail);
        }
    }

    fn field_type(&self, scope: usize, f: &FieldDescriptorProto) -> FieldType {
        let message = || resolve(self.flat, &self.flat[scope].0, f.type_name());
        match f.r#type.map(Type::try_from) {
            Some(Ok(Type::Message | Type::Group)) => match message() {
                Some(i) => FieldType::Message(i),
                None => FieldType::Other(f.type_name().trim_start_matches('.').to_string()),
            },
            Some(Ok(Type::Enum)) => {
                FieldType::Other(format!("enum {}", f.type_name().trim_start_matches('.')))
            }
            Some(Ok(t)) => FieldType::Scalar(t),
            Some(Err(_)) => FieldType::Other(format!("type {}", f.r#type.unwrap_or_default())),
            // protoc leaves `type` unset only before it resolves `type_name`.
            None => match message() {
                Some(i) => FieldType::Message(i),
                None => FieldType::Other(f.type_name().trim_start_matches('.').to_string()),
            },
        }
    }

    /// How the descriptor spells field `f`: `string`, `message Loc`, `repeated int64`.
    fn spelled(&self, scope: usize, f: &FieldDescriptorProto, with_label: bool) -> String {
        let ty = match self.field_type(scope, f) {
            FieldType::Scalar(t) => scalar_name(t).to_string(),
            FieldType::Message(i) => {
                let name = self.flat[i].0.rsplit('.').next().unwrap_or_default();
                if self.flat[i].1.options.as_ref().and_then(|o| o.map_entry) == Some(true) {
                    format!("map entry {name}")
                } else {
                    format!("message {name}")
                }
            }
            FieldType::Other(name) => name,
        };
        if !with_label {
            return ty;
        }
        let label = match f.label() {
            Label::Optional => "optional",
            Label::Required => "required",
            Label::Repeated => "repeated",
        };
        format!("{label} {ty}")
    }
}

/// Whether a proto scalar of type `t` may carry a value of the non-nested Delta type `ty`.
fn scalar_fits(ty: &DataType, t: Type) -> bool {
    match ty {
        DataType::Boolean => t == Type::Bool,
        DataType::Byte | DataType::Short | DataType::Int | DataType::Date => {
            matches!(t, Type::Int32 | Type::Sint32 | Type::Sfixed32)
        }
        DataType::Long | DataType::Timestamp | DataType::TimestampNtz => {
            matches!(t, Type::Int64 | Type::Sint64 | Type::Sfixed64)
        }
        DataType::Float => t == Type::Float,
        DataType::Double => t == Type::Double,
        DataType::String | DataType::Decimal { .. } | DataType::Variant => t == Type::String,
        DataType::Binary => t == Type::Bytes,
        DataType::Array { .. } | DataType::Map { .. } | DataType::Struct(_) => false,
    }
}

/// The `.proto` spelling of a scalar type.
fn scalar_name(t: Type) -> &'static str {
    match t {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Group => "group",
        Type::Message => "message",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Enum => "enum",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
    }
}
