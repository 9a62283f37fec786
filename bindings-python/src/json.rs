//! Python objects written as JSON text in one walk, without `json.dumps` and without an
//! intermediate tree: what a `dict` record becomes on a JSON stream.
//!
//! Types, as `json.dumps` writes them where it writes them: `dict` (keys `str`, or `int` /
//! `float` / `bool` / `None` written as strings) → object; `list` / `tuple` → array; `str`;
//! `int` (any size); `float` (finite only: NaN and infinities are not JSON); `bool`; `None` →
//! `null`. Beyond `json.dumps`, the types a table row usually holds: `datetime` / `date` /
//! `time` → their `isoformat()` string (RFC 3339 for a `datetime`), `Decimal` and `UUID` → their
//! `str()`, `bytes` → base64 (as the service takes BINARY columns). Anything else is an error
//! naming the key path and the type.

use base64::Engine as _;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use crate::records::utf8;

/// Nesting deeper than this is refused (it is also how a cycle ends).
const MAX_DEPTH: usize = 128;

/// Why a value could not be written: the message, and the key path from the record's top,
/// collected while the walk unwinds.
pub(crate) struct JsonError {
    path: Vec<String>,
    message: String,
}

impl JsonError {
    fn new(message: impl Into<String>) -> Self {
        JsonError { path: Vec::new(), message: message.into() }
    }

    fn at(mut self, segment: String) -> Self {
        self.path.push(segment);
        self
    }

    /// `key "loc.lat": message`, or the message alone for the record itself.
    pub(crate) fn render(&self) -> String {
        if self.path.is_empty() {
            return self.message.clone();
        }
        let mut path = String::new();
        for seg in self.path.iter().rev() {
            if !path.is_empty() && !seg.starts_with('[') {
                path.push('.');
            }
            path.push_str(seg);
        }
        format!("key \"{path}\": {}", self.message)
    }
}

impl From<PyErr> for JsonError {
    fn from(e: PyErr) -> Self {
        JsonError::new(e.to_string())
    }
}

/// Appends `value` as JSON to `out`.
pub(crate) fn write(out: &mut Vec<u8>, value: &Bound<'_, PyAny>) -> Result<(), JsonError> {
    write_value(out, value, 0)
}

fn write_value(out: &mut Vec<u8>, v: &Bound<'_, PyAny>, depth: usize) -> Result<(), JsonError> {
    // Exact types first: the common case costs one type comparison each.
    if let Ok(s) = v.cast_exact::<PyString>() {
        write_str(out, utf8(s)?);
    } else if let Ok(d) = v.cast::<PyDict>() {
        write_dict(out, d, depth)?;
    } else if v.is_exact_instance_of::<PyBool>() {
        out.extend_from_slice(if v.is_truthy()? { b"true" } else { b"false" });
    } else if let Ok(i) = v.cast::<PyInt>() {
        write_int(out, i)?;
    } else if let Ok(f) = v.cast::<PyFloat>() {
        write_float(out, f.value())?;
    } else if v.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(l) = v.cast::<PyList>() {
        write_seq(out, l.iter(), depth)?;
    } else if let Ok(t) = v.cast::<PyTuple>() {
        write_seq(out, t.iter(), depth)?;
    } else if let Ok(s) = v.cast::<PyString>() {
        write_str(out, utf8(s)?);
    } else if let Ok(b) = v.cast::<PyBytes>() {
        write_base64(out, b.as_bytes());
    } else if let Ok(b) = v.cast::<PyByteArray>() {
        write_base64(out, &b.to_vec());
    } else {
        write_other(out, v)?;
    }
    Ok(())
}

fn write_dict(out: &mut Vec<u8>, d: &Bound<'_, PyDict>, depth: usize) -> Result<(), JsonError> {
    if depth >= MAX_DEPTH {
        return Err(JsonError::new(format!("nested deeper than {MAX_DEPTH} levels (a cycle?)")));
    }
    out.push(b'{');
    let mut first = true;
    for (k, val) in d.iter() {
        if !first {
            out.push(b',');
        }
        first = false;
        let key = key_text(&k)?;
        write_str(out, &key);
        out.push(b':');
        write_value(out, &val, depth + 1).map_err(|e| e.at(key.into_owned()))?;
    }
    out.push(b'}');
    Ok(())
}

/// A dict key as JSON writes it: strings as they are, numbers, booleans and `None` as text.
fn key_text<'a>(k: &'a Bound<'_, PyAny>) -> Result<std::borrow::Cow<'a, str>, JsonError> {
    if let Ok(s) = k.cast::<PyString>() {
        return Ok(utf8(s)?.into());
    }
    if k.is_instance_of::<PyBool>() {
        return Ok(if k.is_truthy()? { "true" } else { "false" }.into());
    }
    if k.is_none() {
        return Ok("null".into());
    }
    if k.is_instance_of::<PyInt>() || k.is_instance_of::<PyFloat>() {
        let mut text = Vec::new();
        write_value(&mut text, k, 0)?;
        return Ok(String::from_utf8(text).unwrap_or_default().into());
    }
    Err(JsonError::new(format!("a dict key must be str, int, float, bool or None, not {}", type_name(k))))
}

fn write_seq<'py>(
    out: &mut Vec<u8>,
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    depth: usize,
) -> Result<(), JsonError> {
    if depth >= MAX_DEPTH {
        return Err(JsonError::new(format!("nested deeper than {MAX_DEPTH} levels (a cycle?)")));
    }
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_value(out, &item, depth + 1).map_err(|e| e.at(format!("[{i}]")))?;
    }
    out.push(b']');
    Ok(())
}

fn write_int(out: &mut Vec<u8>, i: &Bound<'_, PyInt>) -> Result<(), JsonError> {
    if let Ok(n) = i.extract::<i64>() {
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    } else if let Ok(n) = i.extract::<u64>() {
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    } else {
        // Beyond 64 bits: Python's own decimal digits, which JSON takes at any length.
        let text = i.str()?;
        out.extend_from_slice(utf8(&text)?.as_bytes());
    }
    Ok(())
}

fn write_float(out: &mut Vec<u8>, f: f64) -> Result<(), JsonError> {
    if !f.is_finite() {
        // As Python prints them.
        let shown = if f.is_nan() {
            "nan"
        } else if f > 0.0 {
            "inf"
        } else {
            "-inf"
        };
        return Err(JsonError::new(format!(
            "{shown} is not a JSON number (NaN and infinities are not JSON)"
        )));
    }
    out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    Ok(())
}

fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written =
        base64::engine::general_purpose::STANDARD.encode_slice(bytes, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

/// The classes written by their `str()`, imported on first use.
static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UUID: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `datetime` / `date` / `time`, `Decimal`, `UUID`, and subclasses of the JSON types.
fn write_other(out: &mut Vec<u8>, v: &Bound<'_, PyAny>) -> Result<(), JsonError> {
    let py = v.py();
    let is = |cell: &PyOnceLock<Py<PyType>>, module: &str, name: &str| -> Result<bool, JsonError> {
        Ok(v.is_instance(cell.import(py, module, name)?)?)
    };
    // `datetime` is a subclass of `date`.
    if is(&DATE, "datetime", "date")? || is(&TIME, "datetime", "time")? {
        let text = v.call_method0("isoformat")?;
        write_str(out, utf8(text.cast::<PyString>().map_err(PyErr::from)?)?);
        return Ok(());
    }
    if is(&DECIMAL, "decimal", "Decimal")? || is(&UUID, "uuid", "UUID")? {
        let text = v.str()?;
        write_str(out, utf8(&text)?);
        return Ok(());
    }
    Err(JsonError::new(format!(
        "{} cannot be written as JSON (use str, int, float, bool, None, dict, list, tuple, bytes, \
         datetime, date, time, Decimal or UUID)",
        type_name(v)
    )))
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "this object".into())
}

/// Appends `s` as a JSON string, escaping what JSON requires (quotes, backslashes, control
/// characters); everything else, non-ASCII included, is copied as UTF-8.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    loop {
        // Plain runs (no quote, backslash or control character) 16 bytes at a time.
        i += zerobus_core::schema::plain_run_len(&bytes[i..]);
        let Some(&b) = bytes.get(i) else { break };
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            // plain_run_len stops only at the bytes above; step over anything else regardless.
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[run..i]);
        if escape.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.extend_from_slice(escape);
        }
        i += 1;
        run = i;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}
