//! Typed JSON → proto: a table's JSON records encoded as its proto2 message (the Delta → proto2
//! mapping of [`crate::descriptor`]) in one pass over the text, with no intermediate tree.
//!
//! Values follow PROTOCOL.md §7, read by the column's Delta type:
//!
//! | Delta type | JSON accepted |
//! |---|---|
//! | BOOLEAN | `true` / `false` |
//! | TINYINT, SMALLINT, INT, BIGINT | an integer, or a string holding one (BIGINT above 2^53); a number with a zero fraction (`3.0`) is taken as the integer; range checked |
//! | FLOAT, DOUBLE | a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`; FLOAT range checked |
//! | DATE | integer days since 1970-01-01, or `"YYYY-MM-DD"`, or an RFC 3339 timestamp at midnight UTC (what a JS `Date` or a Java `Instant` of that day prints) |
//! | TIMESTAMP | integer µs since the epoch, or RFC 3339 text (`Z` / `±HH:MM`; none = UTC); digits past µs are cut |
//! | TIMESTAMP_NTZ | integer µs, or RFC 3339 text without an offset |
//! | STRING | a string |
//! | BINARY | base64 text (standard or URL-safe, padding optional) |
//! | DECIMAL(p,s) | a number or a string; written with exactly `s` fraction digits; more digits, or a value past `p`, fail |
//! | VARIANT | any JSON value: a string is kept as the JSON text it holds, anything else as its JSON text |
//! | ARRAY | a list (no null elements: proto cannot carry them) |
//! | MAP | an object; keys are read by the key type |
//! | STRUCT | an object, by the same rules |
//!
//! `null` or an absent key leaves a nullable column unset; for a NOT NULL column it is an error.
//! Unknown keys and keys given twice are errors. Fields are written in the order the keys come.
//! Every error names the column path (`loc.lat`, `tags[2]`, `attrs[color]`) and, for batches,
//! the record's index in the call.

mod scan;
mod values;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use prost_types::DescriptorProto;

use crate::types::{DataType, SchemaError, TableSchema};
use scan::{Next, Scanner};

/// Deepest nesting of STRUCTs accepted in one record.
const MAX_DEPTH: usize = 64;
/// Longest excerpt of a user value quoted in an error, in characters.
const MAX_SHOWN_CHARS: usize = 64;
/// Largest magnitude up to which every integer is exact in an f64.
const MAX_EXACT_F64_INT: f64 = 9_007_199_254_740_992.0;

const B64_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const B64_STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, B64_CONFIG);
const B64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, B64_CONFIG);

/// Encodes a table's JSON records as proto bytes of its record message.
///
/// Build it once per table with [`TypedEncoder::new`]; it is immutable and `Send + Sync`.
#[derive(Debug, Clone)]
pub struct TypedEncoder {
    table: String,
    descriptor: DescriptorProto,
    /// Message plans; index 0 is the record (the table's columns).
    messages: Vec<MessagePlan>,
}

/// Why a record could not be encoded: the record's index in the call (batches), the column
/// path, and what is wrong, quoting at most 64 characters of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedError {
    /// Index of the record in the call (`None` for a single-record call).
    pub record: Option<usize>,
    /// Dotted path of the column (`loc.lat`, `tags[2]`, `attrs[color]`), or `None` when the
    /// problem is the record as a whole (malformed JSON, not an object).
    pub column: Option<String>,
    /// What is wrong and what was found.
    pub message: String,
}

impl fmt::Display for TypedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.record {
            write!(f, "record {i}: ")?;
        }
        if let Some(c) = &self.column {
            write!(f, "{c}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for TypedError {}

#[derive(Debug, Clone)]
struct MessagePlan {
    /// `column of main.default.t` / `field of STRUCT loc`, for unknown-key errors.
    owner: String,
    fields: Vec<FieldPlan>,
    by_name: HashMap<Box<str>, usize>,
    /// Indices of NOT NULL fields.
    required: Vec<usize>,
}

#[derive(Debug, Clone)]
struct FieldPlan {
    name: Box<str>,
    number: u32,
    ty: Ty,
    nullable: bool,
}

#[derive(Debug, Clone)]
enum Ty {
    Bool,
    /// TINYINT, SMALLINT, INT (the range and the SQL name differ).
    Int32 {
        min: i64,
        max: i64,
        sql: &'static str,
    },
    Long,
    Float,
    Double,
    Date,
    Timestamp {
        ntz: bool,
    },
    String,
    Binary,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Variant,
    Struct(usize),
    Array(Box<Ty>),
    Map {
        key: Box<Ty>,
        value: Box<Ty>,
        value_nulls: bool,
    },
}

impl Ty {
    fn sql(&self) -> String {
        match self {
            Ty::Bool => "BOOLEAN".into(),
            Ty::Int32 { sql, .. } => (*sql).into(),
            Ty::Long => "BIGINT".into(),
            Ty::Float => "FLOAT".into(),
            Ty::Double => "DOUBLE".into(),
            Ty::Date => "DATE".into(),
            Ty::Timestamp { ntz: false } => "TIMESTAMP".into(),
            Ty::Timestamp { ntz: true } => "TIMESTAMP_NTZ".into(),
            Ty::String => "STRING".into(),
            Ty::Binary => "BINARY (base64 text)".into(),
            Ty::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            Ty::Variant => "VARIANT".into(),
            Ty::Struct(_) => "STRUCT (an object)".into(),
            Ty::Array(e) => format!("ARRAY<{}> (a list)", e.sql()),
            Ty::Map { .. } => "MAP (an object)".into(),
        }
    }
}

impl TypedEncoder {
    /// Plans the encoding of `table`'s records; fails where a column has no proto2 form (the
    /// same failures as [`crate::descriptor`]).
    pub fn new(table: &TableSchema) -> Result<TypedEncoder, SchemaError> {
        let descriptor = crate::descriptor(table)?;
        let full = table.full_name();
        let mut enc = TypedEncoder { table: full.clone(), descriptor, messages: Vec::new() };
        let fields: Vec<(String, DataType, bool, u32)> = table
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone(), c.nullable, c.position + 1))
            .collect();
        enc.plan_message(format!("column of {full}"), &fields);
        Ok(enc)
    }

    /// The record message's descriptor, to open the stream with.
    pub fn descriptor(&self) -> &DescriptorProto {
        &self.descriptor
    }

    /// The table's full name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    fn plan_message(&mut self, owner: String, fields: &[(String, DataType, bool, u32)]) -> usize {
        let index = self.messages.len();
        self.messages.push(MessagePlan {
            owner,
            fields: Vec::new(),
            by_name: HashMap::new(),
            required: Vec::new(),
        });
        let mut plans = Vec::with_capacity(fields.len());
        for (name, ty, nullable, number) in fields {
            let ty = self.plan_type(name, ty);
            plans.push(FieldPlan { name: name.as_str().into(), number: *number, ty, nullable: *nullable });
        }
        let m = &mut self.messages[index];
        m.by_name = plans.iter().enumerate().map(|(i, f)| (f.name.clone(), i)).collect();
        m.required = plans.iter().enumerate().filter(|(_, f)| !f.nullable).map(|(i, _)| i).collect();
        m.fields = plans;
        index
    }

    fn plan_type(&mut self, name: &str, ty: &DataType) -> Ty {
        match ty {
            DataType::Boolean => Ty::Bool,
            DataType::Byte => Ty::Int32 { min: i8::MIN.into(), max: i8::MAX.into(), sql: "TINYINT" },
            DataType::Short => Ty::Int32 { min: i16::MIN.into(), max: i16::MAX.into(), sql: "SMALLINT" },
            DataType::Int => Ty::Int32 { min: i32::MIN.into(), max: i32::MAX.into(), sql: "INT" },
            DataType::Long => Ty::Long,
            DataType::Float => Ty::Float,
            DataType::Double => Ty::Double,
            DataType::Date => Ty::Date,
            DataType::Timestamp => Ty::Timestamp { ntz: false },
            DataType::TimestampNtz => Ty::Timestamp { ntz: true },
            DataType::String => Ty::String,
            DataType::Binary => Ty::Binary,
            DataType::Decimal { precision, scale } => Ty::Decimal { precision: *precision, scale: *scale },
            DataType::Variant => Ty::Variant,
            DataType::Array { element, .. } => Ty::Array(Box::new(self.plan_type(name, element))),
            DataType::Map { key, value, value_contains_null } => Ty::Map {
                key: Box::new(self.plan_type(name, key)),
                value: Box::new(self.plan_type(name, value)),
                value_nulls: *value_contains_null,
            },
            DataType::Struct(fields) => {
                let fields: Vec<_> = fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.name.clone(), f.data_type.clone(), f.nullable, i as u32 + 1))
                    .collect();
                Ty::Struct(self.plan_message(format!("field of STRUCT {name}"), &fields))
            }
        }
    }

    /// Appends the proto bytes of one JSON record to `out`. On error `out` is left as it was.
    pub fn encode(&self, json: &str, out: &mut Vec<u8>) -> Result<(), TypedError> {
        let start = out.len();
        let mut scratch = Scratch::default();
        self.record(json, out, &mut scratch).map_err(|fail| {
            out.truncate(start);
            fail.into_error(None)
        })
    }

    /// Encodes a batch: every record's bytes are appended to `data` and its length to
    /// `lengths`. On error both are left as they were and the error names the record's index.
    pub fn encode_batch<'a, I>(
        &self,
        records: I,
        data: &mut Vec<u8>,
        lengths: &mut Vec<usize>,
    ) -> Result<(), TypedError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let (data_start, lengths_start) = (data.len(), lengths.len());
        let mut scratch = Scratch::default();
        for (i, json) in records.into_iter().enumerate() {
            let before = data.len();
            if let Err(fail) = self.record(json, data, &mut scratch) {
                data.truncate(data_start);
                lengths.truncate(lengths_start);
                return Err(fail.into_error(Some(i)));
            }
            lengths.push(data.len() - before);
        }
        Ok(())
    }

    fn record(&self, json: &str, out: &mut Vec<u8>, s: &mut Scratch) -> Result<(), Fail> {
        let mut sc = Scanner::new(json);
        match sc.peek().map_err(Fail::whole)? {
            Next::Object => {}
            other => {
                return Err(Fail::whole(format!(
                    "a record is a JSON object with one key per column of {}, got {}",
                    self.table,
                    describe(&mut sc, other, s)
                )))
            }
        }
        self.message(&mut sc, 0, out, s, 0)?;
        if !sc.at_end() {
            return Err(Fail::whole(sc.syntax("expected the end of the record after its object")));
        }
        Ok(())
    }

    fn message(
        &self,
        sc: &mut Scanner<'_>,
        m: usize,
        out: &mut Vec<u8>,
        s: &mut Scratch,
        depth: usize,
    ) -> Result<(), Fail> {
        if depth > MAX_DEPTH {
            return Err(Fail::at_nothing(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let plan = &self.messages[m];
        sc.expect(b'{', "expected an object").map_err(Fail::whole)?;
        let mut seen = Seen::new(plan.fields.len());
        let mut guess = 0usize;
        if !sc.eat(b'}') {
            loop {
                sc.skip_ws();
                if sc.peek().map_err(Fail::whole)? != Next::String {
                    return Err(Fail::whole(sc.syntax("expected a key string")));
                }
                let key = sc.string(&mut s.key).map_err(Fail::whole)?;
                sc.expect(b':', "expected `:` after a key").map_err(Fail::whole)?;
                let Some(i) = plan.lookup(&key, guess) else {
                    let names: Vec<&str> = plan.fields.iter().take(12).map(|f| &*f.name).collect();
                    let more = if plan.fields.len() > 12 { ", …" } else { "" };
                    return Err(Fail::at(
                        &key,
                        format!("not a {}; known: {}{more}", plan.owner, names.join(", ")),
                    ));
                };
                guess = i + 1;
                let f = &plan.fields[i];
                if !seen.insert(i) {
                    return Err(Fail::at(&f.name, "given twice in one object".into()));
                }
                if sc.peek().map_err(Fail::whole)? == Next::Null {
                    sc.literal("null").map_err(Fail::whole)?;
                    if !f.nullable {
                        return Err(Fail::at(&f.name, format!("is NOT NULL ({}), got null", f.ty.sql())));
                    }
                } else {
                    self.field(sc, f, out, s, depth).map_err(|e| e.within(&f.name))?;
                }
                if sc.eat(b',') {
                    continue;
                }
                sc.expect(b'}', "expected `,` or `}` after a value").map_err(Fail::whole)?;
                break;
            }
        }
        for &r in &plan.required {
            if !seen.contains(r) {
                let f = &plan.fields[r];
                return Err(Fail::at(
                    &f.name,
                    format!("missing: the {} is NOT NULL ({})", plan.owner, f.ty.sql()),
                ));
            }
        }
        Ok(())
    }

    fn field(
        &self,
        sc: &mut Scanner<'_>,
        f: &FieldPlan,
        out: &mut Vec<u8>,
        s: &mut Scratch,
        depth: usize,
    ) -> Result<(), Fail> {
        match &f.ty {
            Ty::Array(element) => {
                let next = sc.peek().map_err(Fail::whole)?;
                if next != Next::Array {
                    return Err(self.wrong(sc, next, &f.ty, s));
                }
                sc.expect(b'[', "expected a list").map_err(Fail::whole)?;
                if sc.eat(b']') {
                    return Ok(());
                }
                let mut i = 0usize;
                loop {
                    let next = sc.peek().map_err(Fail::whole)?;
                    if next == Next::Null {
                        return Err(Fail::at_nothing(
                            "null element: ARRAY elements cannot be null in a proto record; drop it".into(),
                        )
                        .within_index(i));
                    }
                    self.single(sc, next, f.number, element, out, s, depth).map_err(|e| e.within_index(i))?;
                    i += 1;
                    if sc.eat(b',') {
                        continue;
                    }
                    sc.expect(b']', "expected `,` or `]` in a list").map_err(Fail::whole)?;
                    return Ok(());
                }
            }
            Ty::Map { key, value, value_nulls } => {
                let next = sc.peek().map_err(Fail::whole)?;
                if next != Next::Object {
                    return Err(self.wrong(sc, next, &f.ty, s));
                }
                sc.expect(b'{', "expected an object").map_err(Fail::whole)?;
                if sc.eat(b'}') {
                    return Ok(());
                }
                loop {
                    sc.skip_ws();
                    if sc.peek().map_err(Fail::whole)? != Next::String {
                        return Err(Fail::whole(sc.syntax("expected a key string")));
                    }
                    let k = sc.string(&mut s.key).map_err(Fail::whole)?;
                    sc.expect(b':', "expected `:` after a key").map_err(Fail::whole)?;
                    put_tag(out, f.number, WIRE_LEN);
                    let mark = begin_len(out);
                    self.map_key(&k, key, out, s).map_err(|e| e.within_key(&k))?;
                    let next = sc.peek().map_err(Fail::whole)?;
                    if next == Next::Null {
                        sc.literal("null").map_err(Fail::whole)?;
                        if !value_nulls {
                            return Err(Fail::at_nothing(
                                "null value in a MAP whose values are NOT NULL".into(),
                            )
                            .within_key(&k));
                        }
                    } else {
                        self.single(sc, next, 2, value, out, s, depth).map_err(|e| e.within_key(&k))?;
                    }
                    end_len(out, mark);
                    if sc.eat(b',') {
                        continue;
                    }
                    sc.expect(b'}', "expected `,` or `}` in a map").map_err(Fail::whole)?;
                    return Ok(());
                }
            }
            ty => {
                let next = sc.peek().map_err(Fail::whole)?;
                self.single(sc, next, f.number, ty, out, s, depth)
            }
        }
    }

    /// Writes one non-null, non-repeated value as field `number`.
    #[allow(clippy::too_many_arguments)]
    fn single(
        &self,
        sc: &mut Scanner<'_>,
        next: Next,
        number: u32,
        ty: &Ty,
        out: &mut Vec<u8>,
        s: &mut Scratch,
        depth: usize,
    ) -> Result<(), Fail> {
        match (ty, next) {
            (Ty::Bool, Next::True | Next::False) => {
                sc.literal(if next == Next::True { "true" } else { "false" }).map_err(Fail::whole)?;
                put_tag(out, number, WIRE_VARINT);
                out.push(u8::from(next == Next::True));
            }
            (Ty::Int32 { min, max, .. }, Next::Number | Next::String) => {
                let v = self.integer(sc, next, ty, *min, *max, s)?;
                put_tag(out, number, WIRE_VARINT);
                put_varint(out, v as u64);
            }
            (Ty::Long, Next::Number | Next::String) => {
                let v = self.integer(sc, next, ty, i64::MIN, i64::MAX, s)?;
                put_tag(out, number, WIRE_VARINT);
                put_varint(out, v as u64);
            }
            (Ty::Float | Ty::Double, Next::Number | Next::String) => {
                let v = self.float(sc, next, ty, s)?;
                if let Ty::Float = ty {
                    put_tag(out, number, WIRE_FIXED32);
                    out.extend_from_slice(&(v as f32).to_le_bytes());
                } else {
                    put_tag(out, number, WIRE_FIXED64);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            (Ty::Date, Next::Number) => {
                let v = self.integer(sc, next, ty, i32::MIN.into(), i32::MAX.into(), s)?;
                put_tag(out, number, WIRE_VARINT);
                put_varint(out, v as u64);
            }
            (Ty::Date, Next::String) => {
                let text = sc.string(&mut s.value).map_err(Fail::whole)?;
                let v = values::parse_date_or_midnight(&text)
                    .map_err(|why| Fail::at_nothing(format!("{} {why}", shown(&text))))?;
                put_tag(out, number, WIRE_VARINT);
                put_varint(out, i64::from(v) as u64);
            }
            (Ty::Timestamp { .. }, Next::Number) => {
                let v = self.integer(sc, next, ty, i64::MIN, i64::MAX, s)?;
                put_tag(out, number, WIRE_VARINT);
                put_varint(out, v as u64);
            }
            (Ty::Timestamp { ntz }, Next::String) => {
                let text = sc.string(&mut s.value).map_err(Fail::whole)?;
                let v = match values::parse_timestamp(&text, *ntz) {
                    Ok(v) => v,
                    // Integer microseconds may come quoted too (above 2^53).
                    Err(why) => text
                        .parse::<i64>()
                        .map_err(|_| Fail::at_nothing(format!("{} {why}", shown(&text))))?,
                };
                put_tag(out, number, WIRE_VARINT);
                put_varint(out, v as u64);
            }
            (Ty::String, Next::String) => {
                let text = sc.string(&mut s.value).map_err(Fail::whole)?;
                put_bytes(out, number, text.as_bytes());
            }
            (Ty::Binary, Next::String) => {
                let text = sc.string(&mut s.value).map_err(Fail::whole)?;
                s.bytes.clear();
                if B64_STANDARD.decode_vec(text.as_bytes(), &mut s.bytes).is_err() {
                    s.bytes.clear();
                    B64_URL_SAFE.decode_vec(text.as_bytes(), &mut s.bytes).map_err(|e| {
                        Fail::at_nothing(format!(
                            "{} is not base64 ({e}); BINARY takes base64 text",
                            shown(&text)
                        ))
                    })?;
                }
                put_bytes(out, number, &s.bytes);
            }
            (Ty::Decimal { precision, scale }, Next::Number | Next::String) => {
                let text: Cow<'_, str> = if next == Next::Number {
                    Cow::Borrowed(sc.number().map_err(Fail::whole)?)
                } else {
                    sc.string(&mut s.value).map_err(Fail::whole)?
                };
                s.decimal.clear();
                values::write_decimal(&text, *precision, *scale, &mut s.decimal).map_err(Fail::at_nothing)?;
                put_bytes(out, number, s.decimal.as_bytes());
            }
            (Ty::Variant, Next::String) => {
                let text = sc.string(&mut s.value).map_err(Fail::whole)?;
                put_bytes(out, number, text.as_bytes());
            }
            (Ty::Variant, _) => {
                let text = sc.skip_value(&mut s.value).map_err(Fail::whole)?;
                put_bytes(out, number, text.as_bytes());
            }
            (Ty::Struct(m), Next::Object) => {
                put_tag(out, number, WIRE_LEN);
                let mark = begin_len(out);
                self.message(sc, *m, out, s, depth + 1)?;
                end_len(out, mark);
            }
            (ty, next) => return Err(self.wrong(sc, next, ty, s)),
        }
        Ok(())
    }

    /// An integer for an integer-typed (or DATE / TIMESTAMP) column, range checked.
    fn integer(
        &self,
        sc: &mut Scanner<'_>,
        next: Next,
        ty: &Ty,
        min: i64,
        max: i64,
        s: &mut Scratch,
    ) -> Result<i64, Fail> {
        let (text, quoted): (Cow<'_, str>, bool) = match next {
            Next::Number => (Cow::Borrowed(sc.number().map_err(Fail::whole)?), false),
            _ => (sc.string(&mut s.value).map_err(Fail::whole)?, true),
        };
        let v = match parse_int(&text) {
            Some(v) => v,
            None if !quoted && text.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) => {
                let f: f64 = text.parse().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() <= MAX_EXACT_F64_INT {
                    f as i64
                } else {
                    return Err(Fail::at_nothing(format!(
                        "expected {} (a whole number), got number {}",
                        ty.sql(),
                        shown(&text)
                    )));
                }
            }
            None if text.trim_start_matches('-').bytes().all(|c| c.is_ascii_digit()) && !text.is_empty() => {
                return Err(range_error(&text, ty.sql(), min, max))
            }
            None => {
                return Err(Fail::at_nothing(format!("expected {}, got string {}", ty.sql(), shown(&text))))
            }
        };
        if v < min || v > max {
            return Err(range_error(&text, ty.sql(), min, max));
        }
        Ok(v)
    }

    fn float(&self, sc: &mut Scanner<'_>, next: Next, ty: &Ty, s: &mut Scratch) -> Result<f64, Fail> {
        if next == Next::Number {
            let text = sc.number().map_err(Fail::whole)?;
            let v: f64 = text.parse().unwrap_or(f64::INFINITY);
            let (too_big, limit) = match ty {
                Ty::Float => ((v as f32).is_infinite(), "about ±3.4e38"),
                _ => (v.is_infinite(), "about ±1.8e308"),
            };
            if too_big {
                return Err(Fail::at_nothing(format!("{text} is out of range for {} ({limit})", ty.sql())));
            }
            return Ok(v);
        }
        let text = sc.string(&mut s.value).map_err(Fail::whole)?;
        match &*text {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => Err(Fail::at_nothing(format!(
                "expected {}, got string {}; give a number, or \"NaN\", \"Infinity\" or \"-Infinity\"",
                ty.sql(),
                shown(other)
            ))),
        }
    }

    /// Writes a map entry's key (field 1) from the JSON object key `k`.
    fn map_key(&self, k: &str, ty: &Ty, out: &mut Vec<u8>, s: &mut Scratch) -> Result<(), Fail> {
        let bad = |what: &str| Fail::at_nothing(format!("map key {} is not {what}", shown(k)));
        match ty {
            Ty::String | Ty::Variant => put_bytes(out, 1, k.as_bytes()),
            Ty::Bool => {
                let v = match k {
                    "true" => 1,
                    "false" => 0,
                    _ => return Err(bad("a BOOLEAN (true or false)")),
                };
                put_tag(out, 1, WIRE_VARINT);
                out.push(v);
            }
            Ty::Int32 { min, max, sql } => {
                let v = parse_int(k).filter(|v| v >= min && v <= max).ok_or_else(|| bad(sql))?;
                put_tag(out, 1, WIRE_VARINT);
                put_varint(out, v as u64);
            }
            Ty::Long => {
                let v = parse_int(k).ok_or_else(|| bad("a BIGINT"))?;
                put_tag(out, 1, WIRE_VARINT);
                put_varint(out, v as u64);
            }
            Ty::Date => {
                let v = values::parse_date(k)
                    .map(i64::from)
                    .or_else(|_| parse_int(k).ok_or(()))
                    .map_err(|_| bad("a DATE"))?;
                put_tag(out, 1, WIRE_VARINT);
                put_varint(out, v as u64);
            }
            Ty::Timestamp { ntz } => {
                let v = values::parse_timestamp(k, *ntz)
                    .or_else(|_| parse_int(k).ok_or(()))
                    .map_err(|_| bad("a TIMESTAMP"))?;
                put_tag(out, 1, WIRE_VARINT);
                put_varint(out, v as u64);
            }
            Ty::Decimal { precision, scale } => {
                s.decimal.clear();
                values::write_decimal(k, *precision, *scale, &mut s.decimal).map_err(Fail::at_nothing)?;
                put_bytes(out, 1, s.decimal.as_bytes());
            }
            Ty::Float | Ty::Double => {
                let v: f64 = k.parse().map_err(|_| bad("a number"))?;
                if let Ty::Float = ty {
                    put_tag(out, 1, WIRE_FIXED32);
                    out.extend_from_slice(&(v as f32).to_le_bytes());
                } else {
                    put_tag(out, 1, WIRE_FIXED64);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Ty::Binary => {
                s.bytes.clear();
                B64_STANDARD.decode_vec(k.as_bytes(), &mut s.bytes).map_err(|_| bad("base64"))?;
                put_bytes(out, 1, &s.bytes);
            }
            Ty::Struct(_) | Ty::Array(_) | Ty::Map { .. } => return Err(bad("a scalar")),
        }
        Ok(())
    }

    /// "expected T, got …", consuming the value found.
    fn wrong(&self, sc: &mut Scanner<'_>, next: Next, ty: &Ty, s: &mut Scratch) -> Fail {
        let found = describe(sc, next, s);
        Fail::at_nothing(format!("expected {}, got {found}", ty.sql()))
    }
}

impl MessagePlan {
    /// The field a key names: the next one in column order (keys usually come that way), else
    /// an exact match, else a case-insensitive one (Delta names are case-insensitive).
    #[inline]
    fn lookup(&self, key: &str, guess: usize) -> Option<usize> {
        if let Some(f) = self.fields.get(guess) {
            if &*f.name == key {
                return Some(guess);
            }
        }
        if let Some(&i) = self.by_name.get(key) {
            return Some(i);
        }
        self.fields.iter().position(|f| f.name.eq_ignore_ascii_case(key))
    }
}

/// What a JSON value is, for error messages (consumes it).
fn describe(sc: &mut Scanner<'_>, next: Next, s: &mut Scratch) -> String {
    match next {
        Next::String => match sc.string(&mut s.value) {
            Ok(text) => format!("string {}", shown(&text)),
            Err(e) => e,
        },
        Next::Number => match sc.number() {
            Ok(text) => format!("number {}", shown(text)),
            Err(e) => e,
        },
        Next::True => "true".into(),
        Next::False => "false".into(),
        Next::Null => "null".into(),
        Next::Object => "an object".into(),
        Next::Array => "a list".into(),
    }
}

/// A user value quoted for an error message, cut to 64 characters.
pub(crate) fn shown(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(MAX_SHOWN_CHARS).collect();
    if chars.next().is_some() {
        format!("{:?}…", head)
    } else {
        format!("{head:?}")
    }
}

fn range_error(text: &str, sql: String, min: i64, max: i64) -> Fail {
    Fail::at_nothing(format!("{} is out of range for {sql} ({min}..={max})", text.trim_matches('"')))
}

/// An integer in plain decimal syntax (`-?[0-9]+`), if it fits an i64.
#[inline]
fn parse_int(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() < 19 {
        let mut v: i64 = 0;
        for &c in digits {
            v = v * 10 + i64::from(c - b'0');
        }
        return Some(if neg { -v } else { v });
    }
    text.parse().ok()
}

/// A failure inside one record: the path (innermost first while it bubbles up) and the message.
struct Fail {
    path: Vec<Seg>,
    message: String,
}

enum Seg {
    Field(String),
    Index(usize),
    Key(String),
}

impl Fail {
    fn whole(message: String) -> Fail {
        Fail { path: Vec::new(), message }
    }

    fn at_nothing(message: String) -> Fail {
        Fail { path: Vec::new(), message }
    }

    fn at(field: &str, message: String) -> Fail {
        Fail { path: vec![Seg::Field(field.to_string())], message }
    }

    fn within(mut self, field: &str) -> Fail {
        self.path.push(Seg::Field(field.to_string()));
        self
    }

    fn within_index(mut self, i: usize) -> Fail {
        self.path.push(Seg::Index(i));
        self
    }

    fn within_key(mut self, k: &str) -> Fail {
        let k: String = k.chars().take(MAX_SHOWN_CHARS).collect();
        self.path.push(Seg::Key(k));
        self
    }

    fn into_error(self, record: Option<usize>) -> TypedError {
        let mut column = String::new();
        for seg in self.path.iter().rev() {
            match seg {
                Seg::Field(f) => {
                    if !column.is_empty() {
                        column.push('.');
                    }
                    column.push_str(f);
                }
                Seg::Index(i) => column.push_str(&format!("[{i}]")),
                Seg::Key(k) => column.push_str(&format!("[{k}]")),
            }
        }
        let column = (!column.is_empty()).then_some(column);
        TypedError { record, column, message: self.message }
    }
}

/// Which fields of one object were given: a bitmask for up to 64 fields.
struct Seen {
    small: u64,
    big: Vec<bool>,
}

impl Seen {
    fn new(n: usize) -> Seen {
        Seen { small: 0, big: if n > 64 { vec![false; n] } else { Vec::new() } }
    }

    /// Marks field `i`; false if it was already marked.
    #[inline]
    fn insert(&mut self, i: usize) -> bool {
        if self.big.is_empty() {
            let bit = 1u64 << i;
            let fresh = self.small & bit == 0;
            self.small |= bit;
            fresh
        } else {
            !std::mem::replace(&mut self.big[i], true)
        }
    }

    fn contains(&self, i: usize) -> bool {
        if self.big.is_empty() {
            self.small & (1u64 << i) != 0
        } else {
            self.big[i]
        }
    }
}

/// Buffers reused across the values of a call.
#[derive(Default)]
struct Scratch {
    key: String,
    value: String,
    decimal: String,
    bytes: Vec<u8>,
}

const WIRE_VARINT: u32 = 0;
const WIRE_FIXED64: u32 = 1;
const WIRE_LEN: u32 = 2;
const WIRE_FIXED32: u32 = 5;

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn put_tag(out: &mut Vec<u8>, number: u32, wire: u32) {
    put_varint(out, u64::from(number << 3 | wire));
}

#[inline]
fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_tag(out, number, WIRE_LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reserves one byte for a length written by [`end_len`] once the content is known.
#[inline]
fn begin_len(out: &mut Vec<u8>) -> usize {
    out.push(0);
    out.len()
}

/// Writes the length of everything after `mark`, widening the reserved byte if needed.
#[inline]
fn end_len(out: &mut Vec<u8>, mark: usize) {
    let len = out.len() - mark;
    if len < 0x80 {
        out[mark - 1] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(10);
        put_varint(&mut prefix, len as u64);
        out.splice(mark - 1..mark, prefix);
    }
}
