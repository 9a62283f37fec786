//! The caller's Python records as the core's records. A record is:
//! - `str`: JSON text (JSON streams), borrowed from the string, not copied;
//! - `dict`: written as JSON text here (`json`), walking the objects once;
//! - `bytes` / `bytearray` / `memoryview`-free buffers: one encoded proto message (PROTO streams),
//!   borrowed;
//! - a protobuf message (anything with `SerializeToString()`): its serialized bytes.
//!
//! Whether the kind fits the stream is the core's check, as for every binding.

use std::ffi::c_char;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};
use zerobus_core::RecordRef;

use crate::errors;
use crate::json;

extern "C" {
    // In the stable ABI from CPython 3.10, and exported with this signature by every CPython 3
    // (3.9 included): PyO3 declares it only for abi3 builds from 3.10 on, so it is declared here.
    fn PyUnicode_AsUTF8AndSize(unicode: *mut ffi::PyObject, size: *mut ffi::Py_ssize_t) -> *const c_char;
}

/// The UTF-8 text of a Python string, borrowed. CPython keeps the UTF-8 form inside the string
/// object once made, so after the first use this copies nothing.
pub(crate) fn utf8<'a>(s: &'a Bound<'_, PyString>) -> PyResult<&'a str> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live `str` (the `Bound` holds a reference and the GIL); the call only
    // reads it and writes `size`.
    let data = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if data.is_null() {
        // A lone surrogate has no UTF-8 form: Python set the exception.
        return Err(PyErr::fetch(s.py()));
    }
    // SAFETY: CPython returned `size` bytes of valid UTF-8 at `data`, owned by the string object,
    // never changed (strings are immutable) and freed only with the object, which `s` keeps
    // alive for at least `'a`.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size as usize) };
    // SAFETY: CPython's UTF-8 form of a string is valid UTF-8 (it failed above otherwise).
    Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// One record, converted: borrowed from the caller's object, or JSON text written for a dict.
pub(crate) enum Record<'py> {
    Text(Bound<'py, PyString>),
    Bytes(Bound<'py, PyBytes>),
    Json(Vec<u8>),
}

impl Record<'_> {
    /// The record as the core takes it. `Text` was checked by [`utf8`] when converted.
    pub(crate) fn as_ref(&self) -> RecordRef<'_> {
        match self {
            Record::Text(s) => RecordRef::Json(utf8(s).unwrap_or_default()),
            Record::Bytes(b) => RecordRef::Proto(b.as_bytes()),
            // Written by `json::write`, which writes UTF-8 only.
            Record::Json(text) => RecordRef::Json(std::str::from_utf8(text).unwrap_or_default()),
        }
    }
}

const KINDS: &str = "pass str (JSON text), dict (written as JSON), bytes (an encoded proto message) \
                     or a protobuf message";

/// Converts one record; `what` names it in errors ("the record", "record 3 of the batch").
pub(crate) fn convert<'py>(v: &Bound<'py, PyAny>, what: &dyn Fn() -> String) -> PyResult<Record<'py>> {
    let py = v.py();
    if let Ok(s) = v.cast::<PyString>() {
        utf8(s).map_err(|e| errors::invalid_record(py, format!("{} is not valid text: {e}", what())))?;
        return Ok(Record::Text(s.clone()));
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(Record::Bytes(b.clone()));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut out = Vec::with_capacity(256);
        json::write(&mut out, d.as_any())
            .map_err(|e| errors::invalid_record(py, format!("{}: {}", what(), e.render())))?;
        return Ok(Record::Json(out));
    }
    if let Ok(b) = v.cast::<PyByteArray>() {
        return Ok(Record::Bytes(PyBytes::new(py, &b.to_vec())));
    }
    if v.hasattr("SerializeToString")? {
        let encoded = v.call_method0("SerializeToString")?;
        let bytes = encoded.cast_into::<PyBytes>().map_err(|_| {
            errors::invalid_record(py, format!("{}: SerializeToString() did not return bytes", what()))
        })?;
        return Ok(Record::Bytes(bytes));
    }
    let kind = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    Err(errors::invalid_record(py, format!("{} is a {kind}; {KINDS}", what())))
}

/// One record of a batch: borrowed from the caller's object, or a range of the batch's JSON
/// buffer (a dict).
enum Slot<'py> {
    Borrowed(Record<'py>),
    Json(std::ops::Range<usize>),
}

/// A batch converted: one entry per record, in order. Every dict of the batch is written into
/// one buffer, so a batch of dicts costs one allocation, not one per record.
pub(crate) struct Batch<'py> {
    json: Vec<u8>,
    slots: Vec<Slot<'py>>,
}

impl<'py> Batch<'py> {
    /// Converts every record of `records` (a list, tuple or any iterable). Fails on the first
    /// record that cannot be converted, naming its index; nothing of the batch is queued then.
    pub(crate) fn convert(records: &Bound<'py, PyAny>) -> PyResult<Batch<'py>> {
        let py = records.py();
        let mut batch = Batch { json: Vec::new(), slots: Vec::new() };
        if let Ok(list) = records.cast::<PyList>() {
            batch.json.reserve(list.len() * 64);
            batch.slots.reserve(list.len());
            for (i, v) in list.iter().enumerate() {
                batch.push(i, &v)?;
            }
        } else if let Ok(tuple) = records.cast::<PyTuple>() {
            for (i, v) in tuple.iter().enumerate() {
                batch.push(i, &v)?;
            }
        } else if records.is_instance_of::<PyString>()
            || records.is_instance_of::<PyBytes>()
            || records.is_instance_of::<PyDict>()
        {
            return Err(errors::invalid(
                py,
                "a batch is a list (or any iterable) of records, not one record; use \
                 ingest_record_offset for a single record",
            ));
        } else {
            let iter = records
                .try_iter()
                .map_err(|_| errors::invalid(py, "a batch is a list (or any iterable) of records"))?;
            for (i, v) in iter.enumerate() {
                batch.push(i, &v?)?;
            }
        }
        Ok(batch)
    }

    fn push(&mut self, i: usize, v: &Bound<'py, PyAny>) -> PyResult<()> {
        if let Ok(d) = v.cast::<PyDict>() {
            let start = self.json.len();
            json::write(&mut self.json, d.as_any()).map_err(|e| {
                errors::invalid_record(v.py(), format!("record {i} of the batch: {}", e.render()))
            })?;
            self.slots.push(Slot::Json(start..self.json.len()));
        } else {
            self.slots.push(Slot::Borrowed(convert(v, &|| format!("record {i} of the batch"))?));
        }
        Ok(())
    }

    /// The records as the core takes them, borrowed from this batch.
    pub(crate) fn refs(&self) -> Vec<RecordRef<'_>> {
        self.slots
            .iter()
            .map(|slot| match slot {
                Slot::Borrowed(r) => r.as_ref(),
                // Written by `json::write`, which writes UTF-8 only.
                Slot::Json(range) => {
                    RecordRef::Json(std::str::from_utf8(&self.json[range.clone()]).unwrap_or_default())
                }
            })
            .collect()
    }
}
