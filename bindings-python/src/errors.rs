//! Core errors as Python exceptions. The classes are the Python layer's
//! (`zerobus/_errors.py`, re-exported by `zerobus.sdk.shared`), so user code can raise and
//! subclass them like any exception: a retryable error is a `ZerobusException`, a
//! non-retryable one its subclass `NonRetriableException`, as in the published SDK; both carry
//! `.code` (the core's code name), `.grpc_status` and `.retryable`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use zerobus_core::{ErrorCode, ZerobusError};

static ZEROBUS_EXCEPTION: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static NON_RETRIABLE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn class<'py>(
    py: Python<'py>,
    cell: &'py PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "zerobus._errors", name)
}

/// The exception for a core error.
pub(crate) fn to_py(py: Python<'_>, e: ZerobusError) -> PyErr {
    let (cell, name) = if e.is_retryable() {
        (&ZEROBUS_EXCEPTION, "ZerobusException")
    } else {
        (&NON_RETRIABLE, "NonRetriableException")
    };
    let made = class(py, cell, name)
        .and_then(|cls| cls.call1((e.message(), e.code().as_str(), e.grpc_status(), e.is_retryable())));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        // Only when the Python half of the package is missing or broken.
        Err(_) => PyRuntimeError::new_err(format!("{}: {}", e.code().as_str(), e.message())),
    }
}

/// An `INVALID_ARGUMENT` exception.
pub(crate) fn invalid(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_py(py, ZerobusError::new(ErrorCode::InvalidArgument, message))
}

/// An `INVALID_RECORD` exception.
pub(crate) fn invalid_record(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_py(py, ZerobusError::new(ErrorCode::InvalidRecord, message))
}

/// A Python exception raised by the caller's code, as a core error: a `ZerobusException` keeps
/// its code, anything else is `fallback`. `what` names where it was raised.
pub(crate) fn from_py(py: Python<'_>, err: &PyErr, fallback: ErrorCode, what: &str) -> ZerobusError {
    let value = err.value(py);
    let code = class(py, &ZEROBUS_EXCEPTION, "ZerobusException")
        .ok()
        .filter(|cls| value.is_instance(cls).unwrap_or(false))
        .and_then(|_| value.getattr("code").ok())
        .and_then(|c| c.extract::<String>().ok())
        .and_then(|c| ErrorCode::ALL.into_iter().find(|k| k.as_str() == c))
        .unwrap_or(fallback);
    let kind = value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "exception".into());
    ZerobusError::new(code, format!("{what} raised {kind}: {value}"))
}
