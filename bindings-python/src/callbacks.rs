//! The caller's Python objects as the core's callback traits. The core calls them on its own
//! threads; each call takes the GIL only for the Python call. An exception raised in a callback
//! is reported through `sys.unraisablehook` (printed by default) and the stream goes on.

use pyo3::prelude::*;
use zerobus_core::{AckCallback, ErrorCode, HeadersProvider, ZerobusError, ZerobusResult};

use crate::errors;

/// An `AckCallback` subclass instance (any object with `on_ack(offset)` and
/// `on_error(offset, message)`).
pub(crate) struct PyAckCallback {
    obj: Py<PyAny>,
}

impl PyAckCallback {
    pub(crate) fn new(obj: Bound<'_, PyAny>) -> PyResult<Self> {
        for method in ["on_ack", "on_error"] {
            if !obj.hasattr(method)? {
                return Err(errors::invalid(
                    obj.py(),
                    format!("ack_callback has no {method}(); subclass zerobus.sdk.shared.AckCallback"),
                ));
            }
        }
        Ok(PyAckCallback { obj: obj.unbind() })
    }

    fn call(&self, method: &str, offset: i64, message: Option<&str>) {
        // None when the interpreter is gone (the process is exiting): nothing to call then.
        let _ = crate::attach(|py| {
            let obj = self.obj.bind(py);
            let called = match message {
                None => obj.call_method1(method, (offset,)),
                Some(m) => obj.call_method1(method, (offset, m)),
            };
            if let Err(e) = called {
                e.write_unraisable(py, Some(obj));
            }
        });
    }
}

impl AckCallback for PyAckCallback {
    fn on_ack(&self, offset: i64) {
        self.call("on_ack", offset, None);
    }

    fn on_error(&self, offset: i64, message: &str) {
        self.call("on_error", offset, Some(message));
    }
}

/// A `HeadersProvider` subclass instance, asked for the call's headers on every connect.
pub(crate) struct PyHeaders {
    obj: Py<PyAny>,
}

impl PyHeaders {
    pub(crate) fn new(obj: Bound<'_, PyAny>) -> PyResult<Self> {
        if !obj.hasattr("get_headers")? {
            return Err(errors::invalid(
                obj.py(),
                "headers_provider has no get_headers(); subclass zerobus.sdk.shared.HeadersProvider",
            ));
        }
        Ok(PyHeaders { obj: obj.unbind() })
    }
}

impl HeadersProvider for PyHeaders {
    /// `get_headers()` returns a list of `(name, value)` pairs (or a dict). A `ZerobusException`
    /// it raises keeps its code; any other exception is `UNAVAILABLE`, so the core's retry budget
    /// applies. The core says in the message that the headers provider failed.
    fn get_headers(&self) -> ZerobusResult<Vec<(String, String)>> {
        crate::attach(|py| {
            let answer = self
                .obj
                .bind(py)
                .call_method0("get_headers")
                .map_err(|e| errors::from_py(py, &e, ErrorCode::Unavailable, "get_headers()"))?;
            let pairs = match answer.cast::<pyo3::types::PyDict>() {
                Ok(d) => d.items().into_any(),
                Err(_) => answer,
            };
            pairs.extract::<Vec<(String, String)>>().map_err(|_| {
                ZerobusError::new(
                    ErrorCode::InvalidArgument,
                    "get_headers() must return a list of (name, value) string pairs",
                )
            })
        })
        .unwrap_or_else(|| {
            Err(ZerobusError::new(ErrorCode::StreamClosed, "the interpreter is shutting down"))
        })
    }
}
