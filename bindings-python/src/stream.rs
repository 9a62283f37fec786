//! The stream class. Its public methods are the sync stream of `zerobus.sdk.sync` as they are
//! (no Python layer on the hot path); the `_`-prefixed ones are what `zerobus.sdk.aio` builds
//! its awaitables from.

use std::mem::ManuallyDrop;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use zerobus_core::{Queued, RecordRef, ZerobusStream};

use crate::asyncio::{self, Pending, Task};
use crate::records::{self, Batch};
use crate::{errors, runtime, wait};

/// A core stream (a record stream, or an Arrow stream), dropped inside the runtime so its
/// background tasks stop cleanly whichever thread lets go of it last.
pub(crate) struct Owned<S = ZerobusStream>(ManuallyDrop<Arc<S>>);

impl<S> Owned<S> {
    pub(crate) fn new(s: S) -> Self {
        Owned(ManuallyDrop::new(Arc::new(s)))
    }
}

impl<S> std::ops::Deref for Owned<S> {
    type Target = Arc<S>;
    fn deref(&self) -> &Arc<S> {
        &self.0
    }
}

impl<S> Drop for Owned<S> {
    fn drop(&mut self) {
        let _entered = runtime().enter();
        // SAFETY: `self.0` is taken exactly once, here, and never used after.
        drop(unsafe { ManuallyDrop::take(&mut self.0) });
    }
}

/// A point-in-time view of a stream's counters.
#[pyclass(module = "zerobus._core", frozen, get_all)]
pub struct StreamMetrics {
    /// Ingest calls queued and not yet acknowledged.
    inflight_requests: u64,
    /// Records in those calls.
    inflight_records: u64,
    /// Encoded bytes held for those calls.
    inflight_bytes: u64,
    /// Highest acknowledged offset, if any.
    last_acked_offset: Option<i64>,
    /// Records handed to the transport, resends included.
    records_sent: u64,
    /// Records sent again after a reconnect.
    records_resent: u64,
    /// Successful reconnects.
    recoveries: u64,
    /// Token requests made for this stream.
    token_fetches: u64,
}

impl From<zerobus_core::StreamMetrics> for StreamMetrics {
    fn from(m: zerobus_core::StreamMetrics) -> Self {
        StreamMetrics {
            inflight_requests: m.inflight_requests,
            inflight_records: m.inflight_records,
            inflight_bytes: m.inflight_bytes,
            last_acked_offset: m.last_acked_offset,
            records_sent: m.records_sent,
            records_resent: m.records_resent,
            recoveries: m.recoveries,
            token_fetches: m.token_fetches,
        }
    }
}

#[pymethods]
impl StreamMetrics {
    fn __repr__(&self) -> String {
        format!(
            "StreamMetrics(inflight_requests={}, inflight_records={}, inflight_bytes={}, \
             last_acked_offset={}, records_sent={}, records_resent={}, recoveries={}, token_fetches={})",
            self.inflight_requests,
            self.inflight_records,
            self.inflight_bytes,
            self.last_acked_offset.map_or_else(|| "None".to_owned(), |o| o.to_string()),
            self.records_sent,
            self.records_resent,
            self.recoveries,
            self.token_fetches
        )
    }
}

/// An ingest stream into one table. Thread-safe: one stream may be shared by many threads.
#[pyclass(module = "zerobus._core", name = "ZerobusStream", frozen, weakref)]
pub struct Stream {
    pub(crate) inner: Owned,
}

pub(crate) fn none(py: Python<'_>, (): ()) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}

fn bytes_list<'py>(py: Python<'py>, records: &[impl AsRef<[u8]>]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, records.iter().map(|r| PyBytes::new(py, r.as_ref())))
}

impl Stream {
    /// Queues `records` now if there is room, else takes its place in line (with the GIL
    /// released: this is the core's work on the call).
    fn queue_refs(&self, py: Python<'_>, records: &[RecordRef<'_>]) -> PyResult<Queued> {
        let s = &**self.inner;
        let queued = match records {
            [one] => py.detach(|| s.queue_record(*one)),
            many => py.detach(|| s.queue_records(many.iter().copied())),
        };
        queued.map_err(|e| errors::to_py(py, e))
    }

    /// Queues, waiting for room with the GIL released when the bounds are reached.
    fn ingest_refs(&self, py: Python<'_>, records: &[RecordRef<'_>]) -> PyResult<Option<i64>> {
        match self.queue_refs(py, records)? {
            Queued::Offset(o) => Ok(o),
            Queued::Waiting(p) => wait(py, p.wait()).map(Some),
        }
    }

    fn one(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<i64> {
        let rec = records::convert(record, &|| "the record".to_owned())?;
        let offset = self.ingest_refs(py, &[rec.as_ref()])?;
        offset.ok_or_else(|| errors::invalid(py, "one record always has an offset"))
    }

    fn many(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        // An empty batch queues nothing (`None`); the core still says whether the stream is open.
        let batch = Batch::convert(records)?;
        self.ingest_refs(py, &batch.refs())
    }

    /// `Queued` as Python: the offset (`None` for an empty batch) or a `Pending`.
    fn queued_py(py: Python<'_>, q: Queued) -> PyResult<Py<PyAny>> {
        Ok(match q {
            Queued::Offset(o) => o.into_pyobject(py)?.into_any().unbind(),
            Queued::Waiting(p) => Py::new(py, Pending::new(p))?.into_any(),
        })
    }
}

#[pymethods]
impl Stream {
    /// Queues one record and returns its offset once queued (not once acknowledged: use
    /// `wait_for_offset` or `flush`). Waits, with the GIL released, while the in-flight bounds
    /// are reached.
    fn ingest_record_offset(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<i64> {
        self.one(py, record)
    }

    /// As `ingest_record_offset`, without the offset: the record is queued before this returns,
    /// and its failure reaches the error callback, `flush` and `close` exactly as for the
    /// offset form.
    fn ingest_record_nowait(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<()> {
        self.one(py, record).map(drop)
    }

    /// Queues a batch (a list or any iterable of records) under one offset, in one call into the
    /// core; `None` for an empty batch. All or nothing: a record that cannot be converted fails
    /// the call, naming its index, and nothing of it is queued.
    fn ingest_records_offset(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        self.many(py, records)
    }

    /// As `ingest_records_offset`, without the offset.
    fn ingest_records_nowait(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<()> {
        self.many(py, records).map(drop)
    }

    /// Queues one record if the in-flight bounds allow it now, else raises `QUEUE_FULL`
    /// (retryable) at once and queues nothing. Never waits.
    fn try_ingest_record_offset(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<i64> {
        let rec = records::convert(record, &|| "the record".to_owned())?;
        let r = rec.as_ref();
        let s = &**self.inner;
        py.detach(|| s.try_ingest_record_offset(r)).map_err(|e| errors::to_py(py, e))
    }

    /// `try_ingest_record_offset` for a batch under one offset (`None` for an empty batch).
    fn try_ingest_records_offset(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        let batch = Batch::convert(records)?;
        let refs = batch.refs();
        let s = &**self.inner;
        py.detach(|| s.try_ingest_records_offset(refs.iter().copied())).map_err(|e| errors::to_py(py, e))
    }

    /// Waits until `offset` is acknowledged (bounded by `flush_timeout_ms`).
    fn wait_for_offset(&self, py: Python<'_>, offset: i64) -> PyResult<()> {
        wait(py, self.inner.wait_for_offset(offset))
    }

    /// Waits until every record ingested before this call is acknowledged.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        wait(py, self.inner.flush())
    }

    /// Flushes and closes the stream. When it returns every ack/error callback has run.
    /// Idempotent: a second call returns the first one's result.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        wait(py, self.inner.close())
    }

    /// The records of every unacknowledged call, in offset order.
    fn get_unacked_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        bytes_list(py, &self.inner.get_unacked_records())
    }

    /// Every unacknowledged call as its list of records, in offset order.
    fn get_unacked_batches<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let batches = self.inner.get_unacked_batches();
        PyList::new(py, batches.iter().map(|b| bytes_list(py, b)).collect::<PyResult<Vec<_>>>()?)
    }

    /// The server's id for the current connection (it changes when the stream reconnects).
    #[getter]
    fn stream_id(&self) -> String {
        self.inner.stream_id()
    }

    /// The table's schema when the stream was created from the table (a PROTO stream without a
    /// descriptor: dicts and JSON text given to it are encoded by the columns' types), else None.
    #[getter]
    fn table_schema(&self) -> Option<crate::schema::TableSchema> {
        self.inner.table_schema().cloned().map(crate::schema::TableSchema::new)
    }

    /// The table this stream writes to.
    #[getter]
    fn table_name(&self) -> String {
        self.inner.table_name().to_owned()
    }

    /// Whether the stream no longer accepts records (closed, or failed for good).
    #[getter]
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Wire value of the stream's record type (1 = PROTO, 2 = JSON).
    #[getter]
    fn record_type(&self) -> i32 {
        self.inner.record_type() as i32
    }

    /// A snapshot of the stream's counters.
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
        format!(
            "ZerobusStream(table_name={:?}, stream_id={:?})",
            self.inner.table_name(),
            self.inner.stream_id()
        )
    }

    /// One record queued now (its offset) or a `Pending` holding its place in line.
    fn _queue(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let rec = records::convert(record, &|| "the record".to_owned())?;
        let q = self.queue_refs(py, &[rec.as_ref()])?;
        Self::queued_py(py, q)
    }

    /// A batch queued now (its offset, `None` when empty) or a `Pending`.
    fn _queue_batch(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let batch = Batch::convert(records)?;
        let q = self.queue_refs(py, &batch.refs())?;
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
