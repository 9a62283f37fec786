//! The Arrow stream class. As for record streams, its public methods are the sync stream of
//! `zerobus.sdk.sync` as they are, and the `_`-prefixed ones are what `zerobus.sdk.aio` builds
//! its awaitables from.
//!
//! One ingest call is one call into the core and one offset, whatever it carries: a pyarrow
//! `Table` of many chunks is imported batch by batch through the C Stream interface and queued
//! as one call (`queue_batches`). The GIL is held only to ask the caller's object for its
//! capsules; reading a stream, checking and encoding the batches and waiting for room run
//! without it.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList};
use zerobus_core::{ErrorCode, Queued, ZerobusArrowStream, ZerobusError};

use crate::arrow::{self, ArrowBatch, ArrowSchema, Input};
use crate::asyncio::{self, Pending, Task};
use crate::stream::{none, Owned, StreamMetrics};
use crate::{errors, wait};

/// A stream of Arrow record batches into one table. Thread-safe: one stream may be shared by
/// many threads.
#[pyclass(module = "zerobus._core", name = "ZerobusArrowStream", frozen, weakref)]
pub struct ArrowStream {
    pub(crate) inner: Owned<ZerobusArrowStream>,
}

/// `zerobus._arrow`'s converters to pyarrow objects: Python code, so that this crate never
/// imports pyarrow (an optional dependency) and the error when it is missing is Python's.
static RECORD_BATCHES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static SCHEMA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn offset_of(py: Python<'_>, offset: Option<i64>) -> PyResult<i64> {
    // The core gives every Arrow call an offset, an empty one included.
    offset.ok_or_else(|| {
        errors::to_py(
            py,
            ZerobusError::new(ErrorCode::Internal, "an Arrow ingest call was queued without an offset"),
        )
    })
}

impl ArrowStream {
    /// Queues one call now if there is room, else takes its place in line (without the GIL:
    /// this is the core's work on the call, checking and encoding its batches).
    fn queue(&self, py: Python<'_>, input: Input) -> PyResult<Queued> {
        let s = &**self.inner;
        let queued = match &input {
            Input::Batches(batches) => py.detach(|| s.queue_batches(batches)),
            Input::Ipc(ipc) => py.detach(|| s.queue_ipc_batch(ipc)),
        };
        // The imported batches are released here, with the GIL held, after the core encoded
        // them: a producer's release callback may be Python code.
        drop(input);
        queued.map_err(|e| errors::to_py(py, e))
    }

    fn ingest(&self, py: Python<'_>, input: Input) -> PyResult<i64> {
        match self.queue(py, input)? {
            Queued::Offset(o) => offset_of(py, o),
            Queued::Waiting(p) => wait(py, p.wait()),
        }
    }

    /// `Queued` as Python: the offset, or a `Pending` that holds the call's place in line.
    fn queued_py(py: Python<'_>, q: Queued) -> PyResult<Py<PyAny>> {
        Ok(match q {
            Queued::Offset(o) => offset_of(py, o)?.into_pyobject(py)?.into_any().unbind(),
            Queued::Waiting(p) => Py::new(py, Pending::new(p))?.into_any(),
        })
    }
}

#[pymethods]
impl ArrowStream {
    /// Queues Arrow data as one call under the next offset and returns the offset once queued
    /// (not once acknowledged: use `wait_for_offset` or `flush`). `data` is anything with
    /// `__arrow_c_stream__` (a pyarrow `Table` or `RecordBatchReader`, a Polars `DataFrame`, a
    /// DuckDB result: every batch of it, in one call) or `__arrow_c_array__` (a pyarrow
    /// `RecordBatch`), or an Arrow IPC stream as `bytes`. Waits, with the GIL released, while
    /// the in-flight bounds are reached. All or nothing: a batch whose columns do not match the
    /// stream's schema fails the call (`INVALID_RECORD`, naming the column) and nothing of it is
    /// queued.
    fn ingest_batch(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<i64> {
        let input = arrow::input(py, data)?;
        self.ingest(py, input)
    }

    /// Queues an Arrow IPC stream (the schema message, then one or more record batches) as one
    /// call; its batches are sent as they are, without re-encoding.
    fn ingest_ipc_batch(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<i64> {
        let ipc = arrow::ipc_arg(py, data)?;
        self.ingest(py, Input::Ipc(ipc))
    }

    /// Waits until `offset` is acknowledged (every row of its call is durable; bounded by
    /// `flush_timeout_ms`).
    fn wait_for_offset(&self, py: Python<'_>, offset: i64) -> PyResult<()> {
        wait(py, self.inner.wait_for_offset(offset))
    }

    /// Waits until every batch ingested before this call is acknowledged.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        wait(py, self.inner.flush())
    }

    /// Flushes and closes the stream. When it returns every ack/error callback has run.
    /// Idempotent: a second call returns the first one's result.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        wait(py, self.inner.close())
    }

    /// The unacknowledged rows, in offset order, as `pyarrow.RecordBatch`es of the stream's
    /// schema (the first starts at the first unacknowledged row). Needs pyarrow;
    /// `get_unacked_ipc()` gives the same rows as bytes without it.
    fn get_unacked_batches<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = &**self.inner;
        let batches = py.detach(|| s.get_unacked_batches()).map_err(|e| errors::to_py(py, e))?;
        let exported = PyList::new(py, batches.into_iter().map(ArrowBatch::new))?;
        RECORD_BATCHES.import(py, "zerobus._arrow", "record_batches")?.call1((exported,))
    }

    /// The unacknowledged rows as one Arrow IPC stream (the schema message, then the batches
    /// `get_unacked_batches` returns).
    fn get_unacked_ipc<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let s = &**self.inner;
        let ipc = py.detach(|| s.get_unacked_ipc()).map_err(|e| errors::to_py(py, e))?;
        Ok(PyBytes::new(py, &ipc))
    }

    /// The schema the stream's batches must have, as a `pyarrow.Schema` (needs pyarrow).
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let exported = ArrowSchema::new(self.inner.schema().clone());
        SCHEMA.import(py, "zerobus._arrow", "schema")?.call1((exported,))
    }

    /// The table this stream writes to.
    #[getter]
    fn table_name(&self) -> String {
        self.inner.table_name().to_owned()
    }

    /// Whether the stream no longer accepts batches (closed, or failed for good).
    #[getter]
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// A snapshot of the stream's counters (`inflight_records` and `records_sent` count rows).
    fn metrics(&self) -> StreamMetrics {
        self.inner.metrics().into()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the stream, whether or not the block raised.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let fields: Vec<String> = self.inner.schema().fields().iter().map(|f| f.name().clone()).collect();
        format!("ZerobusArrowStream(table_name={:?}, columns={:?})", self.inner.table_name(), fields)
    }

    /// `ingest_batch`'s call queued now (its offset) or a `Pending` holding its place in line.
    fn _queue_batch(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let input = arrow::input(py, data)?;
        let q = self.queue(py, input)?;
        Self::queued_py(py, q)
    }

    /// `ingest_ipc_batch`'s call queued now or a `Pending`.
    fn _queue_ipc_batch(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let ipc = arrow::ipc_arg(py, data)?;
        let q = self.queue(py, Input::Ipc(ipc))?;
        Self::queued_py(py, q)
    }

    fn _wait_for_offset_async(
        &self,
        offset: i64,
        event_loop: Bound<'_, PyAny>,
        future: Bound<'_, PyAny>,
    ) -> Task {
        let s = Arc::clone(&self.inner);
        asyncio::spawn(event_loop, future, async move { s.wait_for_offset(offset).await }, none)
    }

    fn _flush_async(&self, event_loop: Bound<'_, PyAny>, future: Bound<'_, PyAny>) -> Task {
        let s = Arc::clone(&self.inner);
        asyncio::spawn(event_loop, future, async move { s.flush().await }, none)
    }

    fn _close_async(&self, event_loop: Bound<'_, PyAny>, future: Bound<'_, PyAny>) -> Task {
        let s = Arc::clone(&self.inner);
        asyncio::spawn(event_loop, future, async move { s.close().await }, none)
    }
}
