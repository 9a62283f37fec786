//! The Python options object (`zerobus.sdk.shared.StreamConfigurationOptions`, or anything with
//! its attributes) as the core's options. Only the conversion of each value is checked here; the
//! ranges are the core's (`StreamConfigurationOptions::validate`), the same for every language,
//! and so are the defaults ([`default_options`]).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};
use zerobus_core::{ArrowStreamConfigurationOptions, RecordType, StreamConfigurationOptions};

use crate::callbacks::PyAckCallback;
use crate::errors;

/// Wire values of `RecordType` as the Python layer passes them (`UNSPECIFIED` is the published
/// SDK's "infer it from the table properties").
const UNSPECIFIED: i64 = 0;
const PROTO: i64 = 1;
const JSON: i64 = 2;

/// The core's default options under their Python names (`max_inflight_records` is the
/// published Python name of the core's `max_inflight_requests`: in-flight ingest calls).
#[pyfunction]
pub(crate) fn default_options(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = StreamConfigurationOptions::default();
    let out = PyDict::new(py);
    out.set_item("max_inflight_records", d.max_inflight_requests)?;
    out.set_item("max_inflight_bytes", d.max_inflight_bytes)?;
    out.set_item("recovery", d.recovery)?;
    out.set_item("recovery_timeout_ms", d.recovery_timeout_ms)?;
    out.set_item("recovery_backoff_ms", d.recovery_backoff_ms)?;
    out.set_item("recovery_backoff_max_ms", d.recovery_backoff_max_ms)?;
    out.set_item("recovery_retries", d.recovery_retries)?;
    out.set_item("server_lack_of_ack_timeout_ms", d.server_lack_of_ack_timeout_ms)?;
    out.set_item("flush_timeout_ms", d.flush_timeout_ms)?;
    out.set_item("stream_paused_max_wait_time_ms", d.stream_paused_max_wait_time_ms)?;
    out.set_item("callback_max_wait_time_ms", d.callback_max_wait_time_ms)?;
    Ok(out)
}

/// Reads attribute `name` of `o`: `None` when missing or `None`.
fn attr<'py>(o: &Bound<'py, PyAny>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    match o.getattr(name) {
        Ok(v) if v.is_none() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyAttributeError>(o.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A non-negative integer option; anything else is named in the error.
fn whole(o: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<u64>> {
    let Some(v) = attr(o, name)? else { return Ok(None) };
    if v.is_instance_of::<PyBool>() {
        return Err(errors::invalid(o.py(), format!("option {name} must be an integer, not a bool")));
    }
    v.extract::<u64>().map(Some).map_err(|_| {
        let shown = v.repr().map(|r| r.to_string()).unwrap_or_default();
        errors::invalid(o.py(), format!("option {name} must be a non-negative integer, got {shown}"))
    })
}

/// The core's options from `options` (or the defaults). `has_descriptor` says whether the table
/// properties carry a descriptor: it decides an `UNSPECIFIED` record type, as in the published
/// SDK (a descriptor means PROTO, none means JSON).
pub(crate) fn to_core(
    py: Python<'_>,
    options: Option<&Bound<'_, PyAny>>,
    has_descriptor: bool,
) -> PyResult<StreamConfigurationOptions> {
    let mut c = StreamConfigurationOptions::default();
    let mut record_type = UNSPECIFIED;
    if let Some(o) = options.filter(|o| !o.is_none()) {
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        if let Some(v) = whole(o, "max_inflight_records")? {
            c.max_inflight_requests = size(v);
        }
        if let Some(v) = whole(o, "max_inflight_bytes")? {
            c.max_inflight_bytes = size(v);
        }
        if let Some(v) = attr(o, "recovery")? {
            c.recovery = v
                .cast::<PyBool>()
                .map_err(|_| errors::invalid(py, "option recovery must be True or False"))?
                .is_true();
        }
        for (name, slot) in [
            ("recovery_timeout_ms", &mut c.recovery_timeout_ms),
            ("recovery_backoff_ms", &mut c.recovery_backoff_ms),
            ("recovery_backoff_max_ms", &mut c.recovery_backoff_max_ms),
            ("server_lack_of_ack_timeout_ms", &mut c.server_lack_of_ack_timeout_ms),
            ("flush_timeout_ms", &mut c.flush_timeout_ms),
        ] {
            if let Some(v) = whole(o, name)? {
                *slot = v;
            }
        }
        if let Some(v) = whole(o, "recovery_retries")? {
            c.recovery_retries = u32::try_from(v).unwrap_or(u32::MAX);
        }
        // Unlike the others, `None` here is a value: wait without a bound.
        c.stream_paused_max_wait_time_ms = whole(o, "stream_paused_max_wait_time_ms")?;
        c.callback_max_wait_time_ms = whole(o, "callback_max_wait_time_ms")?;
        if let Some(v) = attr(o, "record_type")? {
            record_type = v.extract::<i64>().map_err(|_| {
                errors::invalid(py, "option record_type must be a RecordType (UNSPECIFIED, PROTO or JSON)")
            })?;
        }
        if let Some(cb) = attr(o, "ack_callback")? {
            c.ack_callback = Some(Arc::new(PyAckCallback::new(cb)?));
        }
    }
    c.record_type = match (record_type, has_descriptor) {
        (UNSPECIFIED, true) | (PROTO, _) => RecordType::Proto,
        (UNSPECIFIED, false) | (JSON, false) => RecordType::Json,
        (JSON, true) => {
            return Err(errors::invalid(
                py,
                "record_type is JSON but the table properties carry a descriptor; drop the \
                 descriptor for a JSON stream, or use RecordType.PROTO",
            ))
        }
        (other, _) => {
            return Err(errors::invalid(
                py,
                format!("record_type {other} is not one of RecordType.UNSPECIFIED (0), PROTO (1), JSON (2)"),
            ))
        }
    };
    Ok(c)
}

/// The core's default Arrow stream options under their Python names (the core's own).
#[pyfunction]
pub(crate) fn default_arrow_options(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = ArrowStreamConfigurationOptions::default();
    let out = PyDict::new(py);
    out.set_item("max_inflight_batches", d.max_inflight_batches)?;
    out.set_item("max_inflight_bytes", d.max_inflight_bytes)?;
    out.set_item("recovery", d.recovery)?;
    out.set_item("recovery_timeout_ms", d.recovery_timeout_ms)?;
    out.set_item("recovery_backoff_ms", d.recovery_backoff_ms)?;
    out.set_item("recovery_backoff_max_ms", d.recovery_backoff_max_ms)?;
    out.set_item("recovery_retries", d.recovery_retries)?;
    out.set_item("server_lack_of_ack_timeout_ms", d.server_lack_of_ack_timeout_ms)?;
    out.set_item("flush_timeout_ms", d.flush_timeout_ms)?;
    out.set_item("connection_timeout_ms", d.connection_timeout_ms)?;
    out.set_item("ipc_compression", d.ipc_compression.name())?;
    out.set_item("stream_paused_max_wait_time_ms", d.stream_paused_max_wait_time_ms)?;
    out.set_item("callback_max_wait_time_ms", d.callback_max_wait_time_ms)?;
    Ok(out)
}

/// The core's Arrow stream options from `options`
/// (`zerobus.sdk.shared.ArrowStreamConfigurationOptions`, or anything with its attributes), or
/// the defaults. `ipc_compression` is a name (`"none"`, `"lz4_frame"`, `"zstd"`) or an
/// `IpcCompression` member (whose value is the name); the core parses the name and lists the
/// choices when it is none of them.
pub(crate) fn arrow_to_core(
    py: Python<'_>,
    options: Option<&Bound<'_, PyAny>>,
) -> PyResult<ArrowStreamConfigurationOptions> {
    let mut c = ArrowStreamConfigurationOptions::default();
    let Some(o) = options.filter(|o| !o.is_none()) else { return Ok(c) };
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    if let Some(v) = whole(o, "max_inflight_batches")? {
        c.max_inflight_batches = size(v);
    }
    if let Some(v) = whole(o, "max_inflight_bytes")? {
        c.max_inflight_bytes = size(v);
    }
    if let Some(v) = attr(o, "recovery")? {
        c.recovery = v
            .cast::<PyBool>()
            .map_err(|_| errors::invalid(py, "option recovery must be True or False"))?
            .is_true();
    }
    for (name, slot) in [
        ("recovery_timeout_ms", &mut c.recovery_timeout_ms),
        ("recovery_backoff_ms", &mut c.recovery_backoff_ms),
        ("recovery_backoff_max_ms", &mut c.recovery_backoff_max_ms),
        ("server_lack_of_ack_timeout_ms", &mut c.server_lack_of_ack_timeout_ms),
        ("flush_timeout_ms", &mut c.flush_timeout_ms),
        ("connection_timeout_ms", &mut c.connection_timeout_ms),
    ] {
        if let Some(v) = whole(o, name)? {
            *slot = v;
        }
    }
    if let Some(v) = whole(o, "recovery_retries")? {
        c.recovery_retries = u32::try_from(v).unwrap_or(u32::MAX);
    }
    // Unlike the others, `None` here is a value: wait without a bound.
    c.stream_paused_max_wait_time_ms = whole(o, "stream_paused_max_wait_time_ms")?;
    c.callback_max_wait_time_ms = whole(o, "callback_max_wait_time_ms")?;
    if let Some(v) = attr(o, "ipc_compression")? {
        // The name, or an `IpcCompression` member, whose value is the name.
        let name = match v.extract::<String>() {
            Ok(name) => Some(name),
            Err(_) => v.getattr("value").ok().and_then(|n| n.extract::<String>().ok()),
        };
        let Some(name) = name else {
            let shown = v.repr().map(|r| r.to_string()).unwrap_or_default();
            return Err(errors::invalid(
                py,
                format!(
                    "option ipc_compression must be an IpcCompression or one of \"none\", \"lz4_frame\", \
                     \"zstd\", got {shown}"
                ),
            ));
        };
        c.ipc_compression = name.parse().map_err(|e| errors::to_py(py, e))?;
    }
    if let Some(cb) = attr(o, "ack_callback")? {
        c.ack_callback = Some(Arc::new(PyAckCallback::new(cb)?));
    }
    Ok(c)
}
