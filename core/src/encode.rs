//! JSON → protobuf (proto2) encoding driven by a runtime `DescriptorProto`.
//!
//! A PROTO stream is opened with one serialized `google.protobuf.DescriptorProto` describing the
//! record type, and every record must then be sent as that message's wire bytes. Callers of the
//! SDK (and the language bindings built on this core) usually have their rows as JSON lines, so the
//! SDK turns each JSON object into a proto record here, in Rust, without generated code:
//!
//! * [`JsonToProto::new`] checks the descriptor once and compiles it into compact per-message field
//!   tables (field-number order, name / `json_name` lookup, resolved nested and enum types).
//! * [`JsonToProto::encode`] / [`JsonToProto::encode_into`] then convert one JSON object per call,
//!   following the value rules of the wire contract (PROTOCOL.md §7): TIMESTAMP and DATE are plain
//!   integers, BIGINT above 2^53 may arrive as a decimal string, BINARY as base64, DECIMAL and
//!   VARIANT as strings (a VARIANT given as a JSON object or array is stored as its compact JSON
//!   text), ARRAY as `repeated`, MAP as a map field, STRUCT as a nested message.
//!
//! Fields are written in field-number order, so equal inputs give equal bytes. When a value does not
//! fit, the [`EncodeError`] names the field by its dotted path from the top message
//! (`address.lines[2]`, `tags[color]`).

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use prost::encoding::{encode_varint, encoded_len_varint, WireType};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto};
use serde_json::{Map, Value};

/// Deepest nesting of messages accepted in one record (the top message is level 0).
const MAX_DEPTH: usize = 64;
/// Longest excerpt of a user value (or map key) quoted in an error message, in characters.
const MAX_SHOWN_CHARS: usize = 64;
/// Largest magnitude up to which every integer is exactly representable as a JSON (f64) number.
const MAX_EXACT_F64_INT: f64 = 9_007_199_254_740_992.0; // 2^53
/// Largest field number protobuf allows.
const MAX_FIELD_NUMBER: i32 = (1 << 29) - 1;

const B64_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const B64_STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, B64_CONFIG);
const B64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, B64_CONFIG);

/// Encodes JSON objects as protobuf messages of one type, described at runtime.
///
/// Build it once per stream with [`JsonToProto::new`] and reuse it for every record; it is
/// immutable and `Send + Sync`, so one instance (e.g. in an `Arc`) can serve many tasks.
#[derive(Debug, Clone)]
pub struct JsonToProto {
    /// Every message type of the descriptor tree; index 0 is the top (record) message.
    messages: Vec<MessageInfo>,
    /// Every enum type nested anywhere in the descriptor tree.
    enums: Vec<EnumInfo>,
}

/// Why a record (or a descriptor) could not be encoded.
///
/// Names the field (dotted path from the top message, with `[i]` for list elements and `[key]`
/// for map entries, e.g. `address.lines[2]`) when a value does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// Path of the offending field, or `None` when the problem is not about one field
    /// (malformed JSON, a top level that is not an object, an invalid descriptor).
    pub field: Option<String>,
    /// What is wrong, never quoting more than about 64 characters of the value.
    pub message: String,
}

impl EncodeError {
    fn general(message: impl Into<String>) -> Self {
        EncodeError { field: None, message: message.into() }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for EncodeError {}

// ---------------------------------------------------------------------------------------------
// Compiled descriptor
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct MessageInfo {
    /// Dotted name inside the descriptor tree, e.g. `Outer.Inner` (for error messages).
    full_name: String,
    /// Fields sorted by field number.
    fields: Vec<FieldInfo>,
    /// Field `name` and `json_name` → index into `fields`.
    by_name: HashMap<Box<str>, usize>,
    /// Oneof names, by `oneof_index`.
    oneofs: Vec<String>,
    /// For a map entry message: indices of the key (number 1) and value (number 2) fields.
    map_entry: Option<(usize, usize)>,
}

#[derive(Debug, Clone)]
struct FieldInfo {
    name: Box<str>,
    /// The `json_name` to look up too, when it differs from `name` and is not another field's name.
    json_key: Option<Box<str>>,
    kind: Kind,
    cardinality: Cardinality,
    /// Key for one (unpacked) value: `number << 3 | wire type`.
    tag: u64,
    /// Key for a packed run: `number << 3 | LEN`.
    packed_tag: u64,
    packed: bool,
    oneof: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cardinality {
    Optional,
    Required,
    Repeated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    /// Index into `JsonToProto::enums`.
    Enum(usize),
    /// Index into `JsonToProto::messages`.
    Message(usize),
    /// A map field; index of its entry message in `JsonToProto::messages`.
    Map(usize),
}

impl Kind {
    fn wire_type(self) -> WireType {
        match self {
            Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => WireType::SixtyFourBit,
            Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => WireType::ThirtyTwoBit,
            Kind::Int32
            | Kind::Int64
            | Kind::Uint32
            | Kind::Uint64
            | Kind::Sint32
            | Kind::Sint64
            | Kind::Bool
            | Kind::Enum(_) => WireType::Varint,
            Kind::String | Kind::Bytes | Kind::Message(_) | Kind::Map(_) => WireType::LengthDelimited,
        }
    }

    /// Inclusive value range of an integer kind.
    fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Enum(_) => (i32::MIN.into(), i32::MAX.into()),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => (i64::MIN.into(), i64::MAX.into()),
            Kind::Uint32 | Kind::Fixed32 => (0, u32::MAX.into()),
            Kind::Uint64 | Kind::Fixed64 => (0, u64::MAX.into()),
            _ => return None,
        })
    }

    fn is_map_key(self) -> bool {
        match self {
            Kind::Bool | Kind::String => true,
            Kind::Enum(_) => false,
            _ => self.int_range().is_some(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Double => "double",
            Kind::Float => "float",
            Kind::Int32 => "int32",
            Kind::Int64 => "int64",
            Kind::Uint32 => "uint32",
            Kind::Uint64 => "uint64",
            Kind::Sint32 => "sint32",
            Kind::Sint64 => "sint64",
            Kind::Fixed32 => "fixed32",
            Kind::Fixed64 => "fixed64",
            Kind::Sfixed32 => "sfixed32",
            Kind::Sfixed64 => "sfixed64",
            Kind::Bool => "bool",
            Kind::String => "string",
            Kind::Bytes => "bytes",
            Kind::Enum(_) => "enum",
            Kind::Message(_) => "message",
            Kind::Map(_) => "map",
        }
    }
}

#[derive(Debug, Clone)]
struct EnumInfo {
    full_name: String,
    by_name: HashMap<Box<str>, i32>,
    /// Sorted, deduplicated numbers of the values.
    numbers: Vec<i32>,
}

/// One type found in the descriptor tree while compiling: its path of names and its descriptor.
struct Found<'d, T> {
    path: Vec<&'d str>,
    desc: &'d T,
}

fn collect<'d>(
    msg: &'d DescriptorProto,
    path: Vec<&'d str>,
    messages: &mut Vec<Found<'d, DescriptorProto>>,
    enums: &mut Vec<Found<'d, EnumDescriptorProto>>,
) {
    for e in &msg.enum_type {
        let mut p = path.clone();
        p.push(e.name());
        enums.push(Found { path: p, desc: e });
    }
    messages.push(Found { path: path.clone(), desc: msg });
    for n in &msg.nested_type {
        let mut p = path.clone();
        p.push(n.name());
        collect(n, p, messages, enums);
    }
}

/// Resolves a `type_name` (`.pkg.Outer.Inner`, `Outer.Inner` or `Inner`) among `candidates` by
/// matching its last path segments, preferring the longest match and then the candidate nearest
/// to the referencing message's scope.
fn resolve<T>(type_name: &str, scope: &[&str], candidates: &[Found<'_, T>]) -> Option<usize> {
    let segs: Vec<&str> = type_name.split('.').filter(|s| !s.is_empty()).collect();
    if segs.is_empty() {
        return None;
    }
    let mut best: Option<(usize, usize, usize)> = None; // (score, proximity, index)
    let mut tied = false;
    for (i, c) in candidates.iter().enumerate() {
        let score = segs.iter().rev().zip(c.path.iter().rev()).take_while(|(a, b)| a == b).count();
        if score == 0 {
            continue;
        }
        let parent = &c.path[..c.path.len() - 1];
        let proximity = if scope.starts_with(parent) { parent.len() + 1 } else { 0 };
        let key = (score, proximity);
        match best {
            Some((s, p, _)) if (s, p) > key => {}
            Some((s, p, _)) if (s, p) == key => tied = true,
            _ => {
                best = Some((score, proximity, i));
                tied = false;
            }
        }
    }
    match best {
        Some((_, _, i)) if !tied => Some(i),
        _ => None,
    }
}

/// protoc's default JSON name: drop underscores and upper-case the letter after each one.
fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn scalar_kind(ty: Type) -> Option<Kind> {
    Some(match ty {
        Type::Double => Kind::Double,
        Type::Float => Kind::Float,
        Type::Int64 => Kind::Int64,
        Type::Uint64 => Kind::Uint64,
        Type::Int32 => Kind::Int32,
        Type::Fixed64 => Kind::Fixed64,
        Type::Fixed32 => Kind::Fixed32,
        Type::Bool => Kind::Bool,
        Type::String => Kind::String,
        Type::Bytes => Kind::Bytes,
        Type::Uint32 => Kind::Uint32,
        Type::Sfixed32 => Kind::Sfixed32,
        Type::Sfixed64 => Kind::Sfixed64,
        Type::Sint32 => Kind::Sint32,
        Type::Sint64 => Kind::Sint64,
        Type::Group | Type::Message | Type::Enum => return None,
    })
}

impl JsonToProto {
    /// Checks the descriptor once (every field type supported, every type_name resolvable among the nested types).
    ///
    /// `type_name`s may be fully qualified (`.pkg.Outer.Inner`), partly qualified (`Outer.Inner`)
    /// or simple (`Inner`); they are looked up in the descriptor's own `nested_type` /
    /// `enum_type` tree (the top message itself included, so recursive types work). Groups are not
    /// supported.
    pub fn new(descriptor: &DescriptorProto) -> Result<Self, EncodeError> {
        let mut found_msgs = Vec::new();
        let mut found_enums = Vec::new();
        collect(descriptor, vec![descriptor.name()], &mut found_msgs, &mut found_enums);

        let enums = found_enums
            .iter()
            .map(|e| {
                let full_name = e.path.join(".");
                let mut by_name = HashMap::new();
                let mut numbers = Vec::with_capacity(e.desc.value.len());
                for v in &e.desc.value {
                    by_name.entry(v.name().into()).or_insert(v.number());
                    numbers.push(v.number());
                }
                numbers.sort_unstable();
                numbers.dedup();
                if numbers.is_empty() {
                    return Err(EncodeError::general(format!(
                        "invalid descriptor: enum `{full_name}` has no values"
                    )));
                }
                Ok(EnumInfo { full_name, by_name, numbers })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mut messages = Vec::with_capacity(found_msgs.len());
        for m in &found_msgs {
            messages.push(Self::compile_message(m, &found_msgs, &found_enums)?);
        }

        // Second pass: repeated fields of map-entry type are map fields.
        let entry_ok: Vec<bool> = messages.iter().map(|m| m.map_entry.is_some()).collect();
        for m in &mut messages {
            for f in &mut m.fields {
                if let (Kind::Message(i), Cardinality::Repeated) = (f.kind, f.cardinality) {
                    if entry_ok[i] {
                        f.kind = Kind::Map(i);
                    }
                }
            }
        }

        Ok(JsonToProto { messages, enums })
    }

    fn compile_message(
        m: &Found<'_, DescriptorProto>,
        all_msgs: &[Found<'_, DescriptorProto>],
        all_enums: &[Found<'_, EnumDescriptorProto>],
    ) -> Result<MessageInfo, EncodeError> {
        let full_name = m.path.join(".");
        let invalid = |field: &str, what: String| {
            EncodeError::general(format!("invalid descriptor: field `{full_name}.{field}`: {what}"))
        };
        let oneofs: Vec<String> = m.desc.oneof_decl.iter().map(|o| o.name().to_owned()).collect();

        let mut fields = Vec::with_capacity(m.desc.field.len());
        let mut json_names = Vec::with_capacity(m.desc.field.len());
        for fd in &m.desc.field {
            let name = fd.name();
            if name.is_empty() {
                return Err(EncodeError::general(format!(
                    "invalid descriptor: message `{full_name}` has a field without a name"
                )));
            }
            let number = fd.number();
            if !(1..=MAX_FIELD_NUMBER).contains(&number) {
                return Err(invalid(name, format!("invalid field number {number}")));
            }
            let cardinality = match fd.label.map(Label::try_from) {
                None | Some(Ok(Label::Optional)) => Cardinality::Optional,
                Some(Ok(Label::Required)) => Cardinality::Required,
                Some(Ok(Label::Repeated)) => Cardinality::Repeated,
                Some(Err(_)) => return Err(invalid(name, "unknown label".into())),
            };
            let ty = match fd.r#type.map(Type::try_from) {
                Some(Ok(t)) => Some(t),
                Some(Err(_)) => return Err(invalid(name, "unknown field type".into())),
                None => None,
            };
            let unresolved = || {
                invalid(
                    name,
                    format!(
                        "type `{}` is not among the descriptor's nested types (or is ambiguous)",
                        fd.type_name()
                    ),
                )
            };
            let kind = match ty {
                Some(Type::Group) => return Err(invalid(name, "group fields are not supported".into())),
                Some(Type::Message) => {
                    Kind::Message(resolve(fd.type_name(), &m.path, all_msgs).ok_or_else(unresolved)?)
                }
                Some(Type::Enum) => {
                    Kind::Enum(resolve(fd.type_name(), &m.path, all_enums).ok_or_else(unresolved)?)
                }
                Some(t) => scalar_kind(t).expect("scalar type"),
                // An unresolved descriptor may leave `type` unset and rely on `type_name`.
                None if fd.type_name.is_some() => {
                    if let Some(i) = resolve(fd.type_name(), &m.path, all_msgs) {
                        Kind::Message(i)
                    } else {
                        Kind::Enum(resolve(fd.type_name(), &m.path, all_enums).ok_or_else(unresolved)?)
                    }
                }
                None => return Err(invalid(name, "no field type".into())),
            };
            let packed = cardinality == Cardinality::Repeated
                && kind.wire_type() != WireType::LengthDelimited
                && fd.options.as_ref().and_then(|o| o.packed).unwrap_or(false);
            let oneof = match fd.oneof_index {
                None => None,
                Some(i) if (0..oneofs.len() as i64).contains(&i64::from(i)) => Some(i as usize),
                Some(i) => return Err(invalid(name, format!("invalid oneof_index {i}"))),
            };
            let number = number as u64;
            fields.push(FieldInfo {
                name: name.into(),
                json_key: None,
                kind,
                cardinality,
                tag: number << 3 | kind.wire_type() as u64,
                packed_tag: number << 3 | WireType::LengthDelimited as u64,
                packed,
                oneof,
            });
            json_names.push(match &fd.json_name {
                Some(j) if !j.is_empty() => j.clone(),
                _ => default_json_name(name),
            });
        }

        // Field-number order; keep json names aligned.
        let mut order: Vec<usize> = (0..fields.len()).collect();
        order.sort_by_key(|&i| fields[i].tag >> 3);
        let fields: Vec<FieldInfo> = order.iter().map(|&i| fields[i].clone()).collect();
        let json_names: Vec<String> = order.iter().map(|&i| json_names[i].clone()).collect();
        for w in fields.windows(2) {
            if w[0].tag >> 3 == w[1].tag >> 3 {
                return Err(invalid(&w[1].name, format!("field number {} is used twice", w[1].tag >> 3)));
            }
        }

        // Names win over json names when they collide.
        let mut by_name: HashMap<Box<str>, usize> = HashMap::with_capacity(fields.len() * 2);
        for (i, j) in json_names.iter().enumerate() {
            by_name.entry(j.as_str().into()).or_insert(i);
        }
        let mut seen = std::collections::HashSet::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            if !seen.insert(f.name.clone()) {
                return Err(invalid(&f.name, "field name is used twice".into()));
            }
            by_name.insert(f.name.clone(), i);
        }
        let mut fields = fields;
        for (i, f) in fields.iter_mut().enumerate() {
            let j = json_names[i].as_str();
            if j != &*f.name && by_name.get(j) == Some(&i) {
                f.json_key = Some(j.into());
            }
        }

        let is_map_entry = m.desc.options.as_ref().and_then(|o| o.map_entry).unwrap_or(false);
        let map_entry = if is_map_entry {
            let key = fields.iter().position(|f| f.tag >> 3 == 1);
            let value = fields.iter().position(|f| f.tag >> 3 == 2);
            match (key, value) {
                (Some(k), Some(v)) if fields[k].kind.is_map_key() => Some((k, v)),
                _ => {
                    return Err(EncodeError::general(format!(
                        "invalid descriptor: map entry `{full_name}` needs a key field 1 \
                         (integer, bool or string) and a value field 2"
                    )))
                }
            }
        } else {
            None
        };

        Ok(MessageInfo { full_name, fields, by_name, oneofs, map_entry })
    }

    /// Encodes one JSON object (one record) as the message's wire bytes.
    pub fn encode(&self, json: &str) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(json.len());
        self.encode_into(json, &mut out)?;
        Ok(out)
    }

    /// Appends the encoding to `out` (lets callers reuse one buffer for a batch). On error `out` is left as it was.
    pub fn encode_into(&self, json: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| EncodeError::general(format!("invalid JSON: {e}")))?;
        let Value::Object(obj) = &value else {
            return Err(EncodeError::general(format!("expected a JSON object, got {}", Shown(&value))));
        };
        let start = out.len();
        let result = self.encode_message(0, obj, &Path::Root, 0, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_message(
        &self,
        msg: usize,
        obj: &Map<String, Value>,
        path: &Path<'_>,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if depth > MAX_DEPTH {
            return Err(path.error(format!("messages nested deeper than {MAX_DEPTH} levels")));
        }
        let info = &self.messages[msg];
        let mut matched = 0usize;
        let mut oneofs_set: u64 = 0;
        for (fi, f) in info.fields.iter().enumerate() {
            let by_name = obj.get(&*f.name);
            let by_json = f.json_key.as_deref().and_then(|j| obj.get(j));
            matched += usize::from(by_name.is_some()) + usize::from(by_json.is_some());
            let value = match (by_name.filter(|v| !v.is_null()), by_json.filter(|v| !v.is_null())) {
                (Some(v), None) | (None, Some(v)) => v,
                (Some(_), Some(_)) => {
                    return Err(Path::Field(path, &f.name).error(format!(
                        "given twice, as `{}` and as `{}`",
                        f.name,
                        f.json_key.as_deref().unwrap_or_default()
                    )));
                }
                (None, None) => {
                    if f.cardinality == Cardinality::Required {
                        return Err(Path::Field(path, &f.name).error("required field is missing"));
                    }
                    continue;
                }
            };
            if let Some(o) = f.oneof {
                if o < 64 {
                    if oneofs_set & (1 << o) != 0 {
                        return Err(self.oneof_conflict(info, fi, obj, path));
                    }
                    oneofs_set |= 1 << o;
                }
            }
            self.encode_field(f, value, &Path::Field(path, &f.name), depth, out)?;
        }
        if matched != obj.len() {
            if let Some(key) = obj.keys().find(|k| !info.by_name.contains_key(k.as_str())) {
                return Err(
                    Path::Field(path, key).error(format!("no such field in message `{}`", info.full_name))
                );
            }
        }
        Ok(())
    }

    #[cold]
    fn oneof_conflict(
        &self,
        info: &MessageInfo,
        fi: usize,
        obj: &Map<String, Value>,
        path: &Path<'_>,
    ) -> EncodeError {
        let f = &info.fields[fi];
        let other = info.fields[..fi]
            .iter()
            .find(|g| {
                g.oneof == f.oneof
                    && (obj.get(&*g.name).is_some_and(|v| !v.is_null())
                        || g.json_key.as_deref().and_then(|j| obj.get(j)).is_some_and(|v| !v.is_null()))
            })
            .map(|g| &*g.name)
            .unwrap_or_default();
        let oneof = f.oneof.map(|o| info.oneofs[o].as_str()).unwrap_or_default();
        Path::Field(path, &f.name)
            .error(format!("conflicts with `{other}`: only one field of oneof `{oneof}` may be set"))
    }

    fn encode_field(
        &self,
        f: &FieldInfo,
        value: &Value,
        path: &Path<'_>,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if f.cardinality != Cardinality::Repeated {
            encode_varint(f.tag, out);
            return self.encode_value(f.kind, value, path, depth, out);
        }
        if let Kind::Map(entry) = f.kind {
            let Value::Object(map) = value else {
                return Err(path.error(format!("expected an object (map), got {}", Shown(value))));
            };
            let info = &self.messages[entry];
            let (k, v) = info.map_entry.expect("map entry");
            let (key_field, value_field) = (&info.fields[k], &info.fields[v]);
            for (key, val) in map {
                let entry_path = Path::Key(path, key);
                encode_varint(f.tag, out);
                with_len_prefix(out, |out| {
                    encode_varint(key_field.tag, out);
                    write_map_key(key_field.kind, key, out).map_err(|m| entry_path.error(m))?;
                    if !val.is_null() {
                        encode_varint(value_field.tag, out);
                        self.encode_value(value_field.kind, val, &entry_path, depth, out)?;
                    }
                    Ok(())
                })?;
            }
            return Ok(());
        }
        let Value::Array(items) = value else {
            return Err(path.error(format!("expected an array, got {}", Shown(value))));
        };
        let check_null = |i: usize, item: &Value| {
            if item.is_null() {
                Err(Path::Index(path, i).error("null is not allowed in a list"))
            } else {
                Ok(())
            }
        };
        if f.packed {
            if items.is_empty() {
                return Ok(());
            }
            encode_varint(f.packed_tag, out);
            with_len_prefix(out, |out| {
                for (i, item) in items.iter().enumerate() {
                    check_null(i, item)?;
                    self.encode_value(f.kind, item, &Path::Index(path, i), depth, out)?;
                }
                Ok(())
            })
        } else {
            for (i, item) in items.iter().enumerate() {
                check_null(i, item)?;
                encode_varint(f.tag, out);
                self.encode_value(f.kind, item, &Path::Index(path, i), depth, out)?;
            }
            Ok(())
        }
    }

    /// Writes one value of `kind` (without its key).
    fn encode_value(
        &self,
        kind: Kind,
        value: &Value,
        path: &Path<'_>,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        match kind {
            Kind::Message(m) => {
                let Value::Object(obj) = value else {
                    return Err(path.error(format!("expected an object, got {}", Shown(value))));
                };
                with_len_prefix(out, |out| self.encode_message(m, obj, path, depth + 1, out))
            }
            Kind::Enum(e) => {
                let number = self.enum_number(e, value).map_err(|m| path.error(m))?;
                encode_varint(i64::from(number) as u64, out);
                Ok(())
            }
            Kind::Map(_) => Err(path.error("a map cannot be a list element or map value")),
            _ => write_scalar(kind, value, out).map_err(|m| path.error(m)),
        }
    }

    fn enum_number(&self, e: usize, value: &Value) -> Result<i32, String> {
        let info = &self.enums[e];
        if let Value::String(s) = value {
            if let Some(&n) = info.by_name.get(s.as_str()) {
                return Ok(n);
            }
            if s.parse::<i128>().is_err() {
                return Err(format!("{} is not a value of enum `{}`", Shown(value), info.full_name));
            }
        }
        let n = int_from_json(value, Kind::Enum(e)).map_err(|m| {
            if matches!(value, Value::Number(_) | Value::String(_)) {
                m
            } else {
                format!("expected an enum value name or number, got {}", Shown(value))
            }
        })? as i32;
        if info.numbers.binary_search(&n).is_ok() {
            Ok(n)
        } else {
            Err(format!("{n} is not a value of enum `{}`", info.full_name))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------------

/// Writes `len(content) ‖ content`, where `content` is what `f` appends. One byte is reserved for
/// the length; longer contents are shifted right once to make room for a longer varint.
fn with_len_prefix<E>(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
    let start = out.len();
    out.push(0);
    f(out)?;
    let len = out.len() - start - 1;
    if len < 0x80 {
        out[start] = len as u8;
        return Ok(());
    }
    let n = encoded_len_varint(len as u64);
    let end = out.len();
    out.resize(end + n - 1, 0);
    out.copy_within(start + 1..end, start + n);
    let mut slot = &mut out[start..start + n];
    encode_varint(len as u64, &mut slot);
    Ok(())
}

fn write_len_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Writes an integer already checked to be in the range of `kind`.
fn write_int(kind: Kind, v: i128, out: &mut Vec<u8>) {
    match kind {
        // Negative int32 / enum values are sign-extended to 64 bits: a 10-byte varint.
        Kind::Int32 | Kind::Int64 | Kind::Enum(_) => encode_varint(v as i64 as u64, out),
        Kind::Uint32 | Kind::Uint64 => encode_varint(v as u64, out),
        Kind::Sint32 => {
            let v = v as i32;
            encode_varint(u64::from(((v << 1) ^ (v >> 31)) as u32), out)
        }
        Kind::Sint64 => {
            let v = v as i64;
            encode_varint(((v << 1) ^ (v >> 63)) as u64, out)
        }
        Kind::Fixed32 => out.extend_from_slice(&(v as u32).to_le_bytes()),
        Kind::Sfixed32 => out.extend_from_slice(&(v as i32).to_le_bytes()),
        Kind::Fixed64 => out.extend_from_slice(&(v as u64).to_le_bytes()),
        Kind::Sfixed64 => out.extend_from_slice(&(v as i64).to_le_bytes()),
        _ => unreachable!("not an integer kind"),
    }
}

fn write_scalar(kind: Kind, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match kind {
        Kind::Double => {
            let v = float_from_json(value)?;
            out.extend_from_slice(&v.to_le_bytes());
        }
        Kind::Float => {
            let v = float_from_json(value)?;
            let narrow = v as f32;
            if v.is_finite() && narrow.is_infinite() {
                return Err(format!("value {v} is out of range for float"));
            }
            out.extend_from_slice(&narrow.to_le_bytes());
        }
        Kind::Bool => match value {
            Value::Bool(b) => out.push(u8::from(*b)),
            _ => return Err(format!("expected true or false, got {}", Shown(value))),
        },
        Kind::String => match value {
            Value::String(s) => write_len_bytes(s.as_bytes(), out),
            // VARIANT given as JSON, DECIMAL given as a number, …: store the compact JSON text.
            _ => with_len_prefix(out, |out| serde_json::to_writer(out, value))
                .map_err(|e| format!("cannot write JSON text: {e}"))?,
        },
        Kind::Bytes => match value {
            Value::String(s) => {
                let engine =
                    if s.bytes().any(|b| b == b'-' || b == b'_') { &B64_URL_SAFE } else { &B64_STANDARD };
                with_len_prefix(out, |out| engine.decode_vec(s, out))
                    .map_err(|e| format!("expected base64, got {}: {e}", Shown(value)))?;
            }
            _ => return Err(format!("expected a base64 string, got {}", Shown(value))),
        },
        _ => {
            let v = int_from_json(value, kind)?;
            write_int(kind, v, out);
        }
    }
    Ok(())
}

fn write_map_key(kind: Kind, key: &str, out: &mut Vec<u8>) -> Result<(), String> {
    match kind {
        Kind::String => write_len_bytes(key.as_bytes(), out),
        Kind::Bool => match key {
            "true" => out.push(1),
            "false" => out.push(0),
            _ => return Err("map key must be \"true\" or \"false\"".into()),
        },
        _ => {
            let v = int_from_str(key, kind).map_err(|m| format!("map key: {m}"))?;
            write_int(kind, v, out);
        }
    }
    Ok(())
}

fn out_of_range(shown: impl fmt::Display, kind: Kind) -> String {
    let (lo, hi) = kind.int_range().expect("integer kind");
    format!("value {shown} is out of range for {} ({lo} to {hi})", kind.name())
}

fn checked(v: i128, kind: Kind) -> Result<i128, String> {
    let (lo, hi) = kind.int_range().expect("integer kind");
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(out_of_range(v, kind))
    }
}

/// An integral JSON number that serde_json could only hold as a double (e.g. `1e3`, or an
/// integer literal beyond the 64-bit range).
fn int_from_f64(f: f64, shown: impl fmt::Display, kind: Kind) -> Result<i128, String> {
    let (lo, hi) = kind.int_range().expect("integer kind");
    if !f.is_finite() || f.fract() != 0.0 {
        return Err(format!("expected an integer, got a fraction {shown}"));
    }
    if f < lo as f64 || f > hi as f64 {
        return Err(out_of_range(shown, kind));
    }
    if f.abs() > MAX_EXACT_F64_INT {
        return Err(format!(
            "integer {shown} is too large to be exact as a JSON number; send it as a string"
        ));
    }
    Ok(f as i128)
}

fn int_from_json(value: &Value, kind: Kind) -> Result<i128, String> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                checked(i.into(), kind)
            } else if let Some(u) = n.as_u64() {
                checked(u.into(), kind)
            } else {
                int_from_f64(n.as_f64().unwrap_or(f64::NAN), n, kind)
            }
        }
        Value::String(s) => int_from_str(s, kind),
        _ => Err(format!("expected an integer, got {}", Shown(value))),
    }
}

fn int_from_str(s: &str, kind: Kind) -> Result<i128, String> {
    use std::num::IntErrorKind;
    match s.parse::<i128>() {
        Ok(v) => checked(v, kind),
        Err(e) if matches!(e.kind(), IntErrorKind::PosOverflow | IntErrorKind::NegOverflow) => {
            Err(out_of_range(ShownStr(s), kind))
        }
        Err(_) => match looks_numeric(s).then(|| s.parse::<f64>().ok()).flatten() {
            Some(f) => int_from_f64(f, ShownStr(s), kind),
            None => Err(format!("expected an integer, got a string {}", ShownStr(s))),
        },
    }
}

/// Whether `s` only has the characters of a JSON number (so Rust's float parser does not accept
/// words like `inf` or `nan`).
fn looks_numeric(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
}

fn float_from_json(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("expected a number, got {}", Shown(value))),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => looks_numeric(s)
                .then(|| s.parse::<f64>().ok())
                .flatten()
                .ok_or_else(|| format!("expected a number, got a string {}", ShownStr(s))),
        },
        _ => Err(format!("expected a number, got {}", Shown(value))),
    }
}

// ---------------------------------------------------------------------------------------------
// Error helpers
// ---------------------------------------------------------------------------------------------

/// The path to the value being encoded, kept on the stack and only rendered for an error.
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
}

impl Path<'_> {
    #[cold]
    fn error(&self, message: impl Into<String>) -> EncodeError {
        let field = match self {
            Path::Root => None,
            _ => {
                let mut s = String::new();
                self.render(&mut s);
                Some(s)
            }
        };
        EncodeError { field, message: message.into() }
    }

    fn render(&self, s: &mut String) {
        match self {
            Path::Root => {}
            Path::Field(parent, name) => {
                parent.render(s);
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(name);
            }
            Path::Index(parent, i) => {
                parent.render(s);
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
            Path::Key(parent, key) => {
                parent.render(s);
                s.push('[');
                push_truncated(s, key);
                s.push(']');
            }
        }
    }
}

fn push_truncated(s: &mut String, text: &str) {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => {
            s.push_str(&text[..cut]);
            s.push('…');
        }
        None => s.push_str(text),
    }
}

/// A quoted, escaped string of at most [`MAX_SHOWN_CHARS`] characters.
struct ShownStr<'a>(&'a str);

impl fmt::Display for ShownStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(MAX_SHOWN_CHARS) {
            Some((cut, _)) => write!(f, "{:?}…", &self.0[..cut]),
            None => write!(f, "{:?}", self.0),
        }
    }
}

/// Describes a JSON value for an error message: its kind and a short excerpt.
struct Shown<'a>(&'a Value);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "a boolean {b}"),
            Value::Number(n) => write!(f, "a number {n}"),
            Value::String(s) => write!(f, "a string {}", ShownStr(s)),
            Value::Array(a) => write!(f, "an array of {} elements", a.len()),
            Value::Object(_) => f.write_str("an object"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use prost_types::{
        EnumValueDescriptorProto, FieldDescriptorProto, FieldOptions, MessageOptions, OneofDescriptorProto,
    };
    use std::collections::HashMap;

    // ---- descriptor builders --------------------------------------------------------------

    fn field(name: &str, number: i32, ty: Type, label: Label) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(number),
            label: Some(label as i32),
            r#type: Some(ty as i32),
            ..Default::default()
        }
    }

    fn opt(name: &str, number: i32, ty: Type) -> FieldDescriptorProto {
        field(name, number, ty, Label::Optional)
    }

    fn typed(name: &str, number: i32, ty: Type, label: Label, type_name: &str) -> FieldDescriptorProto {
        FieldDescriptorProto { type_name: Some(type_name.into()), ..field(name, number, ty, label) }
    }

    fn message(name: &str, fields: Vec<FieldDescriptorProto>) -> DescriptorProto {
        DescriptorProto { name: Some(name.into()), field: fields, ..Default::default() }
    }

    fn map_entry(name: &str, key: Type, value: Type) -> DescriptorProto {
        DescriptorProto {
            options: Some(MessageOptions { map_entry: Some(true), ..Default::default() }),
            ..message(name, vec![opt("key", 1, key), opt("value", 2, value)])
        }
    }

    fn color_enum() -> EnumDescriptorProto {
        EnumDescriptorProto {
            name: Some("Color".into()),
            value: [("COLOR_UNSPECIFIED", 0), ("RED", 1), ("GREEN", 2)]
                .iter()
                .map(|(n, v)| EnumValueDescriptorProto {
                    name: Some((*n).into()),
                    number: Some(*v),
                    options: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn enc(d: &DescriptorProto, json: &str) -> Result<Vec<u8>, EncodeError> {
        JsonToProto::new(d).expect("descriptor").encode(json)
    }

    // ---- all scalar types -----------------------------------------------------------------

    #[derive(Clone, PartialEq, prost::Message)]
    struct Scalars {
        #[prost(double, optional, tag = "1")]
        d: Option<f64>,
        #[prost(float, optional, tag = "2")]
        f: Option<f32>,
        #[prost(int32, optional, tag = "3")]
        i32_: Option<i32>,
        #[prost(int64, optional, tag = "4")]
        i64_: Option<i64>,
        #[prost(uint32, optional, tag = "5")]
        u32_: Option<u32>,
        #[prost(uint64, optional, tag = "6")]
        u64_: Option<u64>,
        #[prost(sint32, optional, tag = "7")]
        s32: Option<i32>,
        #[prost(sint64, optional, tag = "8")]
        s64: Option<i64>,
        #[prost(fixed32, optional, tag = "9")]
        fx32: Option<u32>,
        #[prost(fixed64, optional, tag = "10")]
        fx64: Option<u64>,
        #[prost(sfixed32, optional, tag = "11")]
        sfx32: Option<i32>,
        #[prost(sfixed64, optional, tag = "12")]
        sfx64: Option<i64>,
        #[prost(bool, optional, tag = "13")]
        b: Option<bool>,
        #[prost(string, optional, tag = "14")]
        s: Option<String>,
        #[prost(bytes = "vec", optional, tag = "15")]
        by: Option<Vec<u8>>,
        #[prost(enumeration = "Color", optional, tag = "16")]
        color: Option<i32>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    enum Color {
        Unspecified = 0,
        Red = 1,
        Green = 2,
    }

    fn scalars_descriptor() -> DescriptorProto {
        DescriptorProto {
            enum_type: vec![color_enum()],
            ..message(
                "Scalars",
                vec![
                    // Declared out of order on purpose: output must still be in number order.
                    opt("s", 14, Type::String),
                    opt("d", 1, Type::Double),
                    opt("f", 2, Type::Float),
                    opt("i32", 3, Type::Int32),
                    opt("i64", 4, Type::Int64),
                    opt("u32", 5, Type::Uint32),
                    opt("u64", 6, Type::Uint64),
                    opt("s32", 7, Type::Sint32),
                    opt("s64", 8, Type::Sint64),
                    opt("fx32", 9, Type::Fixed32),
                    opt("fx64", 10, Type::Fixed64),
                    opt("sfx32", 11, Type::Sfixed32),
                    opt("sfx64", 12, Type::Sfixed64),
                    opt("b", 13, Type::Bool),
                    opt("by", 15, Type::Bytes),
                    typed("color", 16, Type::Enum, Label::Optional, ".pkg.Scalars.Color"),
                ],
            )
        }
    }

    #[test]
    fn all_scalar_types() {
        let json = r#"{
            "by": "aGVsbG8=", "b": true, "sfx64": -9000000000, "sfx32": -7, "fx64": 18446744073709551615,
            "fx32": 4294967295, "s64": -9223372036854775808, "s32": -2147483648,
            "u64": "18446744073709551615", "u32": 4294967295, "i64": 9223372036854775807,
            "i32": 2147483647, "f": 1.5, "d": -2.25, "s": "héllo", "color": "GREEN"
        }"#;
        let bytes = enc(&scalars_descriptor(), json).unwrap();
        let m = Scalars::decode(bytes.as_slice()).unwrap();
        let want = Scalars {
            d: Some(-2.25),
            f: Some(1.5),
            i32_: Some(i32::MAX),
            i64_: Some(i64::MAX),
            u32_: Some(u32::MAX),
            u64_: Some(u64::MAX),
            s32: Some(i32::MIN),
            s64: Some(i64::MIN),
            fx32: Some(u32::MAX),
            fx64: Some(u64::MAX),
            sfx32: Some(-7),
            sfx64: Some(-9_000_000_000),
            b: Some(true),
            s: Some("héllo".into()),
            by: Some(b"hello".to_vec()),
            color: Some(Color::Green as i32),
        };
        assert_eq!(m, want);
        // Field-number order: byte-identical to prost's own (canonical) encoding.
        assert_eq!(bytes, want.encode_to_vec());
    }

    #[test]
    fn negative_int32_is_a_ten_byte_varint() {
        let d = message("M", vec![opt("a", 1, Type::Int32)]);
        let bytes = enc(&d, r#"{"a": -1}"#).unwrap();
        assert_eq!(bytes, [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        let bytes = enc(&d, r#"{"a": "-2147483648"}"#).unwrap();
        assert_eq!(bytes.len(), 11);
        assert_eq!(OneInt::decode(bytes.as_slice()).unwrap().a, Some(i32::MIN));
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct OneInt {
        #[prost(int32, optional, tag = "1")]
        a: Option<i32>,
    }

    #[test]
    fn integers_from_strings_and_range_checks() {
        let d = scalars_descriptor();
        // BIGINT above 2^53 arrives as a string and must stay exact.
        let m = Scalars::decode(enc(&d, r#"{"i64": "9007199254740993"}"#).unwrap().as_slice()).unwrap();
        assert_eq!(m.i64_, Some(9_007_199_254_740_993));
        let m = Scalars::decode(
            enc(&d, r#"{"i64": "-9223372036854775808", "u32": "+7", "i32": 1e3}"#).unwrap().as_slice(),
        )
        .unwrap();
        assert_eq!((m.i64_, m.u32_, m.i32_), (Some(i64::MIN), Some(7), Some(1000)));

        let err = |json: &str| enc(&d, json).unwrap_err();
        let e = err(r#"{"i32": 2147483648}"#);
        assert_eq!(e.field.as_deref(), Some("i32"));
        assert!(e.message.contains("out of range for int32"), "{e}");
        assert!(err(r#"{"u32": -1}"#).message.contains("out of range for uint32"));
        assert!(err(r#"{"u64": "18446744073709551616"}"#).message.contains("out of range"));
        assert!(err(r#"{"i64": "99999999999999999999999999999999999999999"}"#)
            .message
            .contains("out of range"));
        assert!(err(r#"{"i64": 1e300}"#).message.contains("out of range"));
        assert!(err(r#"{"i32": 1.5}"#).message.contains("fraction"), "{}", err(r#"{"i32": 1.5}"#));
        assert!(err(r#"{"i64": "2.5"}"#).message.contains("fraction"));
        assert!(err(r#"{"i64": 1e17}"#).message.contains("send it as a string"));
        let e = err(r#"{"i64": "abc"}"#);
        assert_eq!(e.to_string(), "field `i64`: expected an integer, got a string \"abc\"");
        assert!(err(r#"{"i64": true}"#).message.contains("expected an integer, got a boolean"));
        assert!(err(r#"{"f": 1e300}"#).message.contains("out of range for float"));
        assert!(err(r#"{"b": "true"}"#).message.contains("expected true or false"));
    }

    #[test]
    fn floats_accept_special_strings() {
        let d = scalars_descriptor();
        let m = Scalars::decode(enc(&d, r#"{"d": "NaN", "f": "-Infinity"}"#).unwrap().as_slice()).unwrap();
        assert!(m.d.unwrap().is_nan());
        assert_eq!(m.f, Some(f32::NEG_INFINITY));
        let m = Scalars::decode(enc(&d, r#"{"d": "Infinity", "f": 3}"#).unwrap().as_slice()).unwrap();
        assert_eq!((m.d, m.f), (Some(f64::INFINITY), Some(3.0)));
        let e = enc(&d, r#"{"d": "inf"}"#).unwrap_err();
        assert!(e.message.contains("expected a number"), "{e}");
    }

    #[test]
    fn bytes_base64_variants() {
        let d = scalars_descriptor();
        let decode = |json: &str| Scalars::decode(enc(&d, json).unwrap().as_slice()).unwrap().by.unwrap();
        assert_eq!(decode(r#"{"by": "aGVsbG8="}"#), b"hello");
        assert_eq!(decode(r#"{"by": "aGVsbG8"}"#), b"hello"); // padding optional
        assert_eq!(decode(r#"{"by": "+/8="}"#), [0xfb, 0xff]); // standard alphabet
        assert_eq!(decode(r#"{"by": "-_8"}"#), [0xfb, 0xff]); // URL-safe alphabet
        assert_eq!(decode(r#"{"by": ""}"#), b"");
        let big = vec![7u8; 1000];
        let b64 = base64::engine::general_purpose::STANDARD.encode(&big);
        assert_eq!(decode(&format!(r#"{{"by": "{b64}"}}"#)), big);
        let e = enc(&d, r#"{"by": "not base64!"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("by"));
        assert!(e.message.contains("base64"), "{e}");
    }

    #[test]
    fn enum_by_name_and_number() {
        let d = scalars_descriptor();
        let color = |json: &str| Scalars::decode(enc(&d, json).unwrap().as_slice()).unwrap().color;
        assert_eq!(color(r#"{"color": "RED"}"#), Some(1));
        assert_eq!(color(r#"{"color": 2}"#), Some(2));
        assert_eq!(color(r#"{"color": "0"}"#), Some(0));
        let e = enc(&d, r#"{"color": "BLUE"}"#).unwrap_err();
        assert_eq!(e.to_string(), "field `color`: a string \"BLUE\" is not a value of enum `Scalars.Color`");
        let e = enc(&d, r#"{"color": 9}"#).unwrap_err();
        assert!(e.message.contains("9 is not a value of enum"), "{e}");
    }

    // ---- strings: VARIANT / DECIMAL ---------------------------------------------------------

    #[test]
    fn variant_object_and_numbers_into_string_fields() {
        let d = scalars_descriptor();
        let s = |json: &str| Scalars::decode(enc(&d, json).unwrap().as_slice()).unwrap().s.unwrap();
        assert_eq!(s(r#"{"s": {"a": [1, 2, {"b": null}], "c": "x"}}"#), r#"{"a":[1,2,{"b":null}],"c":"x"}"#);
        assert_eq!(s(r#"{"s": [1, "two", false]}"#), r#"[1,"two",false]"#);
        assert_eq!(s(r#"{"s": 123.45}"#), "123.45");
        assert_eq!(s(r#"{"s": 12345678901234567890}"#), "12345678901234567890");
        assert_eq!(s(r#"{"s": true}"#), "true");
        // A long VARIANT: length prefix needs more than one byte.
        let long: String = (0..100).map(|i| format!("\"k{i}\":{i},")).collect();
        let json = format!(r#"{{"s": {{{}}}}}"#, long.trim_end_matches(','));
        let text = s(&json);
        assert!(text.len() > 300);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["k99"], 99);
    }

    // ---- repeated / map / nested -----------------------------------------------------------

    #[derive(Clone, PartialEq, prost::Message)]
    struct Lists {
        #[prost(int32, repeated, packed = "false", tag = "1")]
        nums: Vec<i32>,
        #[prost(string, repeated, tag = "2")]
        names: Vec<String>,
        #[prost(sint64, repeated, packed = "true", tag = "3")]
        packed: Vec<i64>,
        #[prost(map = "string, int64", tag = "4")]
        counts: HashMap<String, i64>,
        #[prost(map = "int32, string", tag = "5")]
        by_id: HashMap<i32, String>,
    }

    fn lists_descriptor() -> DescriptorProto {
        let mut packed = field("packed", 3, Type::Sint64, Label::Repeated);
        packed.options = Some(FieldOptions { packed: Some(true), ..Default::default() });
        DescriptorProto {
            nested_type: vec![
                map_entry("CountsEntry", Type::String, Type::Int64),
                map_entry("ByIdEntry", Type::Int32, Type::String),
            ],
            ..message(
                "Lists",
                vec![
                    field("nums", 1, Type::Int32, Label::Repeated),
                    field("names", 2, Type::String, Label::Repeated),
                    packed,
                    typed("counts", 4, Type::Message, Label::Repeated, ".pkg.Lists.CountsEntry"),
                    typed("by_id", 5, Type::Message, Label::Repeated, "ByIdEntry"),
                ],
            )
        }
    }

    #[test]
    fn repeated_fields_packed_and_unpacked() {
        let d = lists_descriptor();
        let bytes = enc(&d, r#"{"nums": [1, -2, 3], "names": ["a", "b"], "packed": [-1, 1, "5"]}"#).unwrap();
        let m = Lists::decode(bytes.as_slice()).unwrap();
        assert_eq!(m.nums, [1, -2, 3]);
        assert_eq!(m.names, ["a", "b"]);
        assert_eq!(m.packed, [-1, 1, 5]);
        assert_eq!(bytes, m.encode_to_vec());
        // Unpacked: one key per element; packed: one LEN key for the run.
        assert_eq!(&bytes[..2], [0x08, 0x01]);
        assert!(bytes.ends_with(&[0x1a, 0x03, 0x01, 0x02, 0x0a]));
        // Empty arrays and null write nothing.
        assert!(enc(&d, r#"{"nums": [], "packed": [], "names": null}"#).unwrap().is_empty());
        let e = enc(&d, r#"{"nums": 1}"#).unwrap_err();
        assert_eq!(e.to_string(), "field `nums`: expected an array, got a number 1");
        let e = enc(&d, r#"{"names": ["a", null]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("names[1]"));
    }

    #[test]
    fn map_fields() {
        let d = lists_descriptor();
        let bytes = enc(&d, r#"{"counts": {"a": 1, "b": "9007199254740993", "c": -3}, "by_id": {"7": "seven", "-1": "minus"}}"#).unwrap();
        let m = Lists::decode(bytes.as_slice()).unwrap();
        let want: HashMap<String, i64> =
            [("a".into(), 1), ("b".into(), 9_007_199_254_740_993), ("c".into(), -3)].into();
        assert_eq!(m.counts, want);
        assert_eq!(m.by_id, [(7, "seven".to_string()), (-1, "minus".to_string())].into());
        let e = enc(&d, r#"{"by_id": {"x": "y"}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("by_id[x]"));
        assert!(e.message.contains("map key"), "{e}");
        let e = enc(&d, r#"{"counts": {"a": "z"}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("counts[a]"));
        let e = enc(&d, r#"{"counts": [1]}"#).unwrap_err();
        assert!(e.message.contains("expected an object (map)"), "{e}");
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Geo {
        #[prost(double, optional, tag = "1")]
        lat: Option<f64>,
        #[prost(double, optional, tag = "2")]
        lon: Option<f64>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Address {
        #[prost(string, optional, tag = "1")]
        city: Option<String>,
        #[prost(message, optional, tag = "2")]
        geo: Option<Geo>,
        #[prost(string, repeated, tag = "3")]
        lines: Vec<String>,
        #[prost(string, required, tag = "4")]
        zip: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Person {
        #[prost(string, required, tag = "1")]
        name: String,
        #[prost(message, optional, tag = "2")]
        home_address: Option<Address>,
        #[prost(message, repeated, tag = "3")]
        items: Vec<Item>,
        #[prost(int64, optional, tag = "4")]
        created_at: Option<i64>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Item {
        #[prost(string, required, tag = "1")]
        sku: String,
        #[prost(int32, optional, tag = "2")]
        qty: Option<i32>,
    }

    fn person_descriptor() -> DescriptorProto {
        let geo = message("Geo", vec![opt("lat", 1, Type::Double), opt("lon", 2, Type::Double)]);
        let address = DescriptorProto {
            nested_type: vec![geo],
            ..message(
                "Address",
                vec![
                    opt("city", 1, Type::String),
                    typed("geo", 2, Type::Message, Label::Optional, "Address.Geo"),
                    field("lines", 3, Type::String, Label::Repeated),
                    field("zip", 4, Type::String, Label::Required),
                ],
            )
        };
        let item =
            message("Item", vec![field("sku", 1, Type::String, Label::Required), opt("qty", 2, Type::Int32)]);
        DescriptorProto {
            nested_type: vec![address, item],
            ..message(
                "Person",
                vec![
                    field("name", 1, Type::String, Label::Required),
                    typed("home_address", 2, Type::Message, Label::Optional, ".pkg.Person.Address"),
                    typed("items", 3, Type::Message, Label::Repeated, "Item"),
                    opt("created_at", 4, Type::Int64),
                ],
            )
        }
    }

    #[test]
    fn nested_messages_two_levels_deep() {
        let d = person_descriptor();
        let lines: Vec<String> = (0..20).map(|i| format!("line number {i} of the address")).collect();
        let json = serde_json::json!({
            "name": "Ada",
            "homeAddress": {"city": "London", "zip": "N1", "lines": lines, "geo": {"lat": 51.5, "lon": -0.1}},
            "items": [{"sku": "a", "qty": 1}, {"sku": "b"}],
            "createdAt": 1_700_000_000_000_000i64,
        })
        .to_string();
        let bytes = enc(&d, &json).unwrap();
        let p = Person::decode(bytes.as_slice()).unwrap();
        let want = Person {
            name: "Ada".into(),
            home_address: Some(Address {
                city: Some("London".into()),
                geo: Some(Geo { lat: Some(51.5), lon: Some(-0.1) }),
                lines,
                zip: "N1".into(),
            }),
            items: vec![Item { sku: "a".into(), qty: Some(1) }, Item { sku: "b".into(), qty: None }],
            created_at: Some(1_700_000_000_000_000),
        };
        assert_eq!(p, want);
        assert_eq!(bytes, want.encode_to_vec());
    }

    #[test]
    fn json_name_and_proto_name_both_accepted() {
        let d = person_descriptor();
        let a = enc(&d, r#"{"name": "x", "created_at": 5}"#).unwrap();
        let b = enc(&d, r#"{"name": "x", "createdAt": 5}"#).unwrap();
        assert_eq!(a, b);
        let e = enc(&d, r#"{"name": "x", "createdAt": 5, "created_at": 6}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("created_at"));
        assert!(e.message.contains("given twice"), "{e}");
        // null means absent, under either spelling.
        assert_eq!(enc(&d, r#"{"name": "x", "createdAt": null, "created_at": 5}"#).unwrap(), a);
    }

    #[test]
    fn explicit_json_name_and_name_collisions() {
        let mut custom = opt("event_ts", 1, Type::Int64);
        custom.json_name = Some("ts".into());
        // `fooBar` is both the default JSON name of `foo_bar` and the name of another field:
        // the exact name wins.
        let d = message("M", vec![custom, opt("foo_bar", 2, Type::Int32), opt("fooBar", 3, Type::Int32)]);
        assert_eq!(enc(&d, r#"{"ts": 1}"#).unwrap(), enc(&d, r#"{"event_ts": 1}"#).unwrap());
        assert_eq!(enc(&d, r#"{"fooBar": 5}"#).unwrap(), [0x18, 0x05]);
        assert_eq!(enc(&d, r#"{"foo_bar": 5}"#).unwrap(), [0x10, 0x05]);
        assert_eq!(enc(&d, r#"{"eventTs": 1}"#).unwrap_err().field.as_deref(), Some("eventTs"));
    }

    // ---- errors ------------------------------------------------------------------------------

    #[test]
    fn unknown_key_is_named() {
        let d = person_descriptor();
        let e = enc(&d, r#"{"name": "x", "nmae": 1}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("nmae"));
        assert_eq!(e.to_string(), "field `nmae`: no such field in message `Person`");
        let e = enc(&d, r#"{"name": "x", "home_address": {"zip": "1", "geo": {"lat": 1, "alt": 2}}}"#)
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("home_address.geo.alt"));
        assert!(e.message.contains("Person.Address.Geo"), "{e}");
    }

    #[test]
    fn missing_required_is_named() {
        let d = person_descriptor();
        let e = enc(&d, r#"{"created_at": 1}"#).unwrap_err();
        assert_eq!(e.to_string(), "field `name`: required field is missing");
        let e = enc(&d, r#"{"name": "x", "home_address": {"city": "c", "zip": null}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("home_address.zip"));
        let e = enc(&d, r#"{"name": "x", "items": [{"sku": "a"}, {"qty": 2}]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("items[1].sku"));
    }

    #[test]
    fn wrong_type_names_nested_path() {
        let d = person_descriptor();
        let e = enc(&d, r#"{"name": "x", "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": "lots"}]}"#)
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("items[1].qty"));
        assert_eq!(e.to_string(), "field `items[1].qty`: expected an integer, got a string \"lots\"");
        let e =
            enc(&d, r#"{"name": "x", "home_address": {"zip": "1", "lines": ["a", "b", 3, {}]}}"#).unwrap();
        assert!(!e.is_empty()); // numbers/objects are fine for string fields
        let e = enc(&d, r#"{"name": "x", "home_address": "London"}"#).unwrap_err();
        assert_eq!(e.to_string(), "field `home_address`: expected an object, got a string \"London\"");
        let e = enc(&d, r#"{"name": "x", "items": [5]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("items[0]"));
    }

    #[test]
    fn long_values_are_truncated_in_errors() {
        let d = person_descriptor();
        let long = "z".repeat(10_000);
        let e = enc(&d, &format!(r#"{{"name": "x", "created_at": "{long}"}}"#)).unwrap_err();
        assert!(e.to_string().len() < 160, "{e}");
        assert!(e.message.contains('…'));
    }

    #[test]
    fn malformed_json_and_non_object() {
        let d = person_descriptor();
        let e = enc(&d, "{\"name\": \"x\",\n \"created_at\": }").unwrap_err();
        assert_eq!(e.field, None);
        assert!(e.message.starts_with("invalid JSON"), "{e}");
        assert!(e.message.contains("line 2 column"), "{e}");
        assert!(enc(&d, r#"{"name": "x"} trailing"#).unwrap_err().message.contains("line 1"));
        let e = enc(&d, "[1, 2]").unwrap_err();
        assert_eq!(e.field, None);
        assert_eq!(e.message, "expected a JSON object, got an array of 2 elements");
        assert!(enc(&d, "\"text\"").unwrap_err().message.contains("expected a JSON object"));
        assert!(enc(&d, "null").unwrap_err().message.contains("expected a JSON object"));
    }

    #[test]
    fn encode_into_appends_and_restores_on_error() {
        let enc = JsonToProto::new(&person_descriptor()).unwrap();
        let mut out = vec![0xAA];
        enc.encode_into(r#"{"name": "a"}"#, &mut out).unwrap();
        let one = out.clone();
        assert_eq!(one, [0xAA, 0x0a, 0x01, b'a']);
        let e =
            enc.encode_into(r#"{"name": "b", "home_address": {"zip": 1, "geo": {"lat": "x"}}}"#, &mut out);
        assert!(e.is_err());
        assert_eq!(out, one);
    }

    #[test]
    fn oneof_allows_only_one_member() {
        let mut a = opt("a", 1, Type::Int32);
        a.oneof_index = Some(0);
        let mut b = opt("b", 2, Type::String);
        b.oneof_index = Some(0);
        let d = DescriptorProto {
            oneof_decl: vec![OneofDescriptorProto { name: Some("choice".into()), options: None }],
            ..message("M", vec![a, b])
        };
        assert_eq!(enc(&d, r#"{"b": "x"}"#).unwrap(), [0x12, 0x01, b'x']);
        let e = enc(&d, r#"{"a": 1, "b": "x"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("b"));
        assert!(e.message.contains("oneof `choice`"), "{e}");
    }

    #[test]
    fn recursion_depth_is_limited() {
        let d = message(
            "Node",
            vec![opt("v", 1, Type::Int32), typed("child", 2, Type::Message, Label::Optional, ".x.Node")],
        );
        let conv = JsonToProto::new(&d).unwrap();
        let nested = |levels: usize| {
            let mut s = String::from(r#"{"v": 1}"#);
            for _ in 0..levels {
                s = format!(r#"{{"child": {s}}}"#);
            }
            s
        };
        assert!(conv.encode(&nested(MAX_DEPTH)).is_ok());
        let e = conv.encode(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(e.message.contains("deeper than 64"), "{e}");
    }

    #[test]
    fn descriptor_is_checked_once() {
        let bad = message("M", vec![typed("x", 1, Type::Message, Label::Optional, ".pkg.Missing")]);
        let e = JsonToProto::new(&bad).unwrap_err();
        assert!(e.message.contains("Missing"), "{e}");
        let group = message("M", vec![opt("g", 1, Type::Group)]);
        assert!(JsonToProto::new(&group).unwrap_err().message.contains("group"));
        let dup = message("M", vec![opt("a", 1, Type::Int32), opt("b", 1, Type::Int32)]);
        assert!(JsonToProto::new(&dup).unwrap_err().message.contains("used twice"));
        let bad_enum = message("M", vec![typed("c", 1, Type::Enum, Label::Optional, "Color")]);
        assert!(JsonToProto::new(&bad_enum).is_err());
    }

    #[test]
    fn type_name_resolution_prefers_nearest_scope() {
        // Two nested types called `Inner`: `A.Inner` and `B.Inner`; each `A`/`B` refers to its own.
        let inner_a = message("Inner", vec![opt("a", 1, Type::Int32)]);
        let inner_b = message("Inner", vec![opt("b", 1, Type::Int32)]);
        let a = DescriptorProto {
            nested_type: vec![inner_a],
            ..message("A", vec![typed("i", 1, Type::Message, Label::Optional, "Inner")])
        };
        let b = DescriptorProto {
            nested_type: vec![inner_b],
            ..message("B", vec![typed("i", 1, Type::Message, Label::Optional, "Inner")])
        };
        let top = DescriptorProto {
            nested_type: vec![a, b],
            ..message(
                "Top",
                vec![
                    typed("a", 1, Type::Message, Label::Optional, "Top.A"),
                    typed("b", 2, Type::Message, Label::Optional, "B"),
                ],
            )
        };
        let bytes = enc(&top, r#"{"a": {"i": {"a": 1}}, "b": {"i": {"b": 2}}}"#).unwrap();
        assert_eq!(bytes, [0x0a, 0x04, 0x0a, 0x02, 0x08, 0x01, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x02]);
        assert!(enc(&top, r#"{"a": {"i": {"b": 1}}}"#).is_err());
    }

    #[test]
    fn is_send_sync_and_reusable() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<JsonToProto>();
        let conv = JsonToProto::new(&person_descriptor()).unwrap();
        let mut out = Vec::new();
        for i in 0..3 {
            conv.encode_into(&format!(r#"{{"name": "n{i}"}}"#), &mut out).unwrap();
        }
        assert_eq!(out.len(), 12);
    }
}
