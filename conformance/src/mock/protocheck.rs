//! A small protobuf wire-format validator: checks that a record decodes as the message a
//! `DescriptorProto` describes, as the real service does before accepting it. It checks
//! structure (declared field numbers, compatible wire types, required fields, UTF-8 strings,
//! nested messages); it does not build values.

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::DescriptorProto;

/// A descriptor flattened into index-addressed messages, so validation never looks names up.
#[derive(Debug)]
pub(crate) struct Schema {
    messages: Vec<MessageSchema>,
}

#[derive(Debug)]
struct MessageSchema {
    name: String,
    /// Sorted by field number.
    fields: Vec<FieldSchema>,
    /// The name of each field of `fields`, for messages.
    names: Vec<String>,
    required: u32,
}

#[derive(Debug, Clone, Copy)]
struct FieldSchema {
    number: u32,
    kind: Kind,
    repeated: bool,
    /// Position among the message's required fields.
    required_slot: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Varint,
    Fixed64,
    Fixed32,
    String,
    Bytes,
    Message(usize),
    Group(usize),
}

const MAX_DEPTH: u32 = 100;

impl Schema {
    /// Builds the schema of `root` and its nested types; fails when a field's type is missing
    /// or names a message the descriptor does not contain.
    pub fn new(root: &DescriptorProto) -> Result<Schema, String> {
        if root.name().is_empty() {
            return Err("descriptor has no message name".into());
        }
        let flat = flatten(root);
        let enum_names: Vec<String> = flat
            .iter()
            .flat_map(|(path, d)| d.enum_type.iter().map(move |e| format!("{path}.{}", e.name())))
            .collect();

        let mut messages = Vec::with_capacity(flat.len());
        for (path, d) in &flat {
            let mut fields = Vec::with_capacity(d.field.len());
            let mut names = Vec::with_capacity(d.field.len());
            let mut required = 0;
            for f in &d.field {
                let number = match f.number {
                    Some(n) if (1..=536_870_911).contains(&n) => n as u32,
                    _ => return Err(format!("field {:?} of {path} has no valid number", f.name())),
                };
                let ty = match f.r#type {
                    Some(t) => Some(
                        Type::try_from(t)
                            .map_err(|_| format!("field {number} of {path} has unknown type {t}"))?,
                    ),
                    None => None,
                };
                let resolve = || {
                    resolve(&flat, path, f.type_name())
                        .ok_or_else(|| format!("field {number} of {path}: unknown type {:?}", f.type_name()))
                };
                let kind = match ty {
                    Some(Type::Double | Type::Fixed64 | Type::Sfixed64) => Kind::Fixed64,
                    Some(Type::Float | Type::Fixed32 | Type::Sfixed32) => Kind::Fixed32,
                    Some(
                        Type::Int32
                        | Type::Int64
                        | Type::Uint32
                        | Type::Uint64
                        | Type::Sint32
                        | Type::Sint64
                        | Type::Bool
                        | Type::Enum,
                    ) => Kind::Varint,
                    Some(Type::String) => Kind::String,
                    Some(Type::Bytes) => Kind::Bytes,
                    Some(Type::Message) => Kind::Message(resolve()?),
                    Some(Type::Group) => Kind::Group(resolve()?),
                    // protoc leaves `type` unset only before it resolves `type_name`.
                    None if !f.type_name().is_empty() => match resolve() {
                        Ok(i) => Kind::Message(i),
                        Err(_) if is_enum(&enum_names, path, f.type_name()) => Kind::Varint,
                        Err(e) => return Err(e),
                    },
                    None => return Err(format!("field {number} of {path} has no type")),
                };
                let repeated = f.label() == Label::Repeated;
                let required_slot = (f.label() == Label::Required).then(|| {
                    required += 1;
                    required - 1
                });
                fields.push(FieldSchema { number, kind, repeated, required_slot });
                names.push((number, f.name().to_string()));
            }
            fields.sort_by_key(|f| f.number);
            names.sort_by_key(|(n, _)| *n);
            if fields.windows(2).any(|w| w[0].number == w[1].number) {
                return Err(format!("{path} declares a field number twice"));
            }
            let names = names.into_iter().map(|(_, name)| name).collect();
            messages.push(MessageSchema { name: path.clone(), fields, names, required });
        }
        Ok(Schema { messages })
    }

    /// Checks that `bytes` is a valid encoding of the root message.
    pub fn validate(&self, bytes: &[u8]) -> Result<(), String> {
        let mut r = Reader { buf: bytes, pos: 0 };
        self.message(&mut r, 0, None, 0)?;
        Ok(())
    }

    /// Reads one message until the end of `r` (or, for a group, until its end tag).
    fn message(
        &self,
        r: &mut Reader<'_>,
        index: usize,
        group: Option<u32>,
        depth: u32,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("message nesting too deep".into());
        }
        let m = &self.messages[index];
        // Required fields are rare and few; a bitmask covers them without allocating.
        let mut seen_mask = 0u64;
        let mut seen_vec = if m.required > 64 { vec![false; m.required as usize] } else { Vec::new() };
        loop {
            if r.at_end() {
                if let Some(g) = group {
                    return Err(format!("group field {g} of {} not terminated", m.name));
                }
                break;
            }
            let key = r.varint().map_err(|e| format!("{}: {e}", m.name))?;
            let wire = (key & 7) as u8;
            let number = key >> 3;
            if number == 0 || number > 536_870_911 {
                return Err(format!("{}: invalid field number {number}", m.name));
            }
            let number = number as u32;
            if wire == 4 {
                if group == Some(number) {
                    break;
                }
                return Err(format!("{}: unexpected end-group tag for field {number}", m.name));
            }
            let Ok(i) = m.fields.binary_search_by_key(&number, |f| f.number) else {
                return Err(format!("{}: field {number} is not in the descriptor", m.name));
            };
            let f = m.fields[i];
            let err = |what: &str| format!("{}: field {number}: {what}", m.name);
            match (f.kind, wire) {
                (Kind::Varint, 0) => {
                    r.varint().map_err(|e| err(&e))?;
                }
                (Kind::Fixed64, 1) => r.skip(8).map_err(|e| err(&e))?,
                (Kind::Fixed32, 5) => r.skip(4).map_err(|e| err(&e))?,
                (Kind::String, 2) => {
                    let s = r.len_delimited().map_err(|e| err(&e))?;
                    std::str::from_utf8(s).map_err(|_| err("string is not valid UTF-8"))?;
                }
                (Kind::Bytes, 2) => {
                    r.len_delimited().map_err(|e| err(&e))?;
                }
                (Kind::Message(sub), 2) => {
                    let s = r.len_delimited().map_err(|e| err(&e))?;
                    self.message(&mut Reader { buf: s, pos: 0 }, sub, None, depth + 1)?;
                }
                (Kind::Group(sub), 3) => self.message(r, sub, Some(number), depth + 1)?,
                // Packed repeated scalars.
                (Kind::Varint, 2) if f.repeated => {
                    let s = r.len_delimited().map_err(|e| err(&e))?;
                    let mut p = Reader { buf: s, pos: 0 };
                    while !p.at_end() {
                        p.varint().map_err(|e| err(&e))?;
                    }
                }
                (Kind::Fixed64, 2) if f.repeated => {
                    if r.len_delimited().map_err(|e| err(&e))?.len() % 8 != 0 {
                        return Err(err("packed fixed64 length is not a multiple of 8"));
                    }
                }
                (Kind::Fixed32, 2) if f.repeated => {
                    if r.len_delimited().map_err(|e| err(&e))?.len() % 4 != 0 {
                        return Err(err("packed fixed32 length is not a multiple of 4"));
                    }
                }
                (_, w) => return Err(err(&format!("wire type {w} does not match the declared type"))),
            }
            if let Some(slot) = f.required_slot {
                if m.required > 64 {
                    seen_vec[slot as usize] = true;
                } else {
                    seen_mask |= 1 << slot;
                }
            }
        }
        let all_seen = if m.required > 64 {
            seen_vec.iter().all(|&s| s)
        } else {
            m.required == 0 || seen_mask == u64::MAX >> (64 - m.required)
        };
        if !all_seen {
            let missing: Vec<String> = m
                .fields
                .iter()
                .zip(&m.names)
                .filter_map(|(f, name)| {
                    let slot = f.required_slot?;
                    let seen =
                        if m.required > 64 { seen_vec[slot as usize] } else { seen_mask & (1 << slot) != 0 };
                    (!seen).then(|| format!("{name} ({})", f.number))
                })
                .collect();
            return Err(format!("{}: required field(s) missing: {}", m.name, missing.join(", ")));
        }
        Ok(())
    }
}

/// Every message of `root`, nested ones included, by its path from the root (`Root.Inner`), the
/// root first.
pub(crate) fn flatten(root: &DescriptorProto) -> Vec<(String, &DescriptorProto)> {
    fn collect<'a>(path: String, d: &'a DescriptorProto, out: &mut Vec<(String, &'a DescriptorProto)>) {
        out.push((path.clone(), d));
        for nested in &d.nested_type {
            collect(format!("{path}.{}", nested.name()), nested, out);
        }
    }
    let mut flat = Vec::new();
    collect(root.name().to_string(), root, &mut flat);
    flat
}

/// Finds the message `type_name` refers to from inside message `scope`: fully qualified
/// (`.pkg.Root.Inner`), relative (`Root.Inner`, `Inner`), as protoc and hand-built
/// descriptors write it.
pub(crate) fn resolve(flat: &[(String, &DescriptorProto)], scope: &str, type_name: &str) -> Option<usize> {
    let name = type_name.trim_start_matches('.');
    if name.is_empty() {
        return None;
    }
    // Innermost scope first, as protobuf's own lookup does.
    let mut scope = Some(scope);
    while let Some(s) = scope {
        let candidate = format!("{s}.{name}");
        if let Some(i) = flat.iter().position(|(p, _)| *p == candidate) {
            return Some(i);
        }
        scope = s.rfind('.').map(|i| &s[..i]);
    }
    if let Some(i) = flat.iter().position(|(p, _)| p == name) {
        return Some(i);
    }
    // A package prefix the descriptor doesn't carry: match the longest known suffix.
    flat.iter()
        .enumerate()
        .filter(|(_, (p, _))| name.ends_with(&format!(".{p}")))
        .max_by_key(|(_, (p, _))| p.len())
        .map(|(i, _)| i)
}

fn is_enum(enum_names: &[String], scope: &str, type_name: &str) -> bool {
    let name = type_name.trim_start_matches('.');
    enum_names.iter().any(|e| {
        e == name
            || e.ends_with(&format!(".{name}"))
            || name.ends_with(&format!(".{e}"))
            || *e == format!("{scope}.{name}")
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err("truncated varint".into());
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err("varint overflows 64 bits".into());
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn skip(&mut self, n: usize) -> Result<(), String> {
        if self.buf.len() - self.pos < n {
            return Err("truncated fixed-width value".into());
        }
        self.pos += n;
        Ok(())
    }

    fn len_delimited(&mut self) -> Result<&'a [u8], String> {
        let len = self.varint()?;
        if len > (self.buf.len() - self.pos) as u64 {
            return Err("length-delimited value runs past the end".into());
        }
        let s = &self.buf[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(s)
    }
}
