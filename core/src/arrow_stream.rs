//! Arrow streams: record batches into a table over Arrow Flight `DoPut` (PROTOCOL.md §9).
//!
//! An Arrow stream is the same machine as a record stream (the queue of unacked calls, first come
//! first served admission, the in-flight bounds, flush, close, recovery, callbacks; see
//! `stream/`) with a different wire: each call is one or more IPC record batches, the server acks
//! by rows, and a batch acked in part is resent from its first unacked row.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;

use crate::flight::{self, Buffers, FlightWire, IpcCompression};
use crate::options::{AckCallback, StreamConfigurationOptions, DEFAULT_MAX_INFLIGHT_BYTES, MAX_OPTION_MS};
use crate::stream::{Queued, StreamMetrics, ZerobusStream};
use crate::wire::EncodedCall;
use crate::BufferOwner;
use crate::{ZerobusError, ZerobusResult};

/// The table an Arrow stream writes to and the schema of its batches.
#[derive(Clone, Debug)]
pub struct ArrowTableProperties {
    /// Three-part Unity Catalog name, `catalog.schema.table`.
    pub table_name: String,
    /// The batches' schema. `None` means "from the table": the SDK reads the table's schema from
    /// Unity Catalog when it creates the stream and maps it as PROTOCOL.md §9 says
    /// ([`crate::schema::arrow_schema`]).
    pub schema: Option<SchemaRef>,
}

impl ArrowTableProperties {
    /// Batches of `schema` into `table_name`.
    pub fn new(table_name: impl Into<String>, schema: SchemaRef) -> Self {
        ArrowTableProperties { table_name: table_name.into(), schema: Some(schema) }
    }

    /// The schema comes from the table (read when the stream is created).
    pub fn from_table(table_name: impl Into<String>) -> Self {
        ArrowTableProperties { table_name: table_name.into(), schema: None }
    }
}

/// Default bound on unacknowledged Arrow calls (the published SDKs' `max_inflight_batches`).
pub const DEFAULT_MAX_INFLIGHT_BATCHES: usize = 1_000;

/// Default bound on waiting for the server's ready signal after the schema message: 30 s.
pub const DEFAULT_CONNECTION_TIMEOUT_MS: u64 = 30_000;

/// Options for an Arrow stream: the published SDKs' names, plus the byte bound, the backoff cap
/// and the ack callback of record streams (the published Arrow streams reject callbacks; ours run
/// them exactly as record streams do).
#[derive(Clone)]
pub struct ArrowStreamConfigurationOptions {
    /// At most this many ingest calls (a batch, or an IPC stream, each) wait for acks.
    /// Default [`DEFAULT_MAX_INFLIGHT_BATCHES`].
    pub max_inflight_batches: usize,
    /// At most this many encoded IPC bytes wait for acks. Default
    /// [`DEFAULT_MAX_INFLIGHT_BYTES`], the record streams' bound.
    pub max_inflight_bytes: usize,
    /// As [`StreamConfigurationOptions::recovery`].
    pub recovery: bool,
    /// As [`StreamConfigurationOptions::recovery_timeout_ms`].
    pub recovery_timeout_ms: u64,
    /// As [`StreamConfigurationOptions::recovery_backoff_ms`].
    pub recovery_backoff_ms: u64,
    /// As [`StreamConfigurationOptions::recovery_backoff_max_ms`].
    pub recovery_backoff_max_ms: u64,
    /// As [`StreamConfigurationOptions::recovery_retries`].
    pub recovery_retries: u32,
    /// As [`StreamConfigurationOptions::server_lack_of_ack_timeout_ms`].
    pub server_lack_of_ack_timeout_ms: u64,
    /// As [`StreamConfigurationOptions::flush_timeout_ms`].
    pub flush_timeout_ms: u64,
    /// Bound on waiting for the ready signal on each connection (within
    /// `recovery_timeout_ms`). Default [`DEFAULT_CONNECTION_TIMEOUT_MS`].
    pub connection_timeout_ms: u64,
    /// Body compression of the IPC batches. Default [`IpcCompression::None`].
    pub ipc_compression: IpcCompression,
    /// As [`StreamConfigurationOptions::stream_paused_max_wait_time_ms`].
    pub stream_paused_max_wait_time_ms: Option<u64>,
    /// As [`StreamConfigurationOptions::callback_max_wait_time_ms`].
    pub callback_max_wait_time_ms: Option<u64>,
    /// Per-offset ack and error notifications (one offset per ingest call). Default none.
    pub ack_callback: Option<Arc<dyn AckCallback>>,
}

impl Default for ArrowStreamConfigurationOptions {
    fn default() -> Self {
        let d = StreamConfigurationOptions::default();
        ArrowStreamConfigurationOptions {
            max_inflight_batches: DEFAULT_MAX_INFLIGHT_BATCHES,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            recovery: d.recovery,
            recovery_timeout_ms: d.recovery_timeout_ms,
            recovery_backoff_ms: d.recovery_backoff_ms,
            recovery_backoff_max_ms: d.recovery_backoff_max_ms,
            recovery_retries: d.recovery_retries,
            server_lack_of_ack_timeout_ms: d.server_lack_of_ack_timeout_ms,
            flush_timeout_ms: d.flush_timeout_ms,
            connection_timeout_ms: DEFAULT_CONNECTION_TIMEOUT_MS,
            ipc_compression: IpcCompression::None,
            stream_paused_max_wait_time_ms: d.stream_paused_max_wait_time_ms,
            callback_max_wait_time_ms: d.callback_max_wait_time_ms,
            ack_callback: None,
        }
    }
}

impl std::fmt::Debug for ArrowStreamConfigurationOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowStreamConfigurationOptions")
            .field("max_inflight_batches", &self.max_inflight_batches)
            .field("max_inflight_bytes", &self.max_inflight_bytes)
            .field("recovery", &self.recovery)
            .field("recovery_timeout_ms", &self.recovery_timeout_ms)
            .field("recovery_backoff_ms", &self.recovery_backoff_ms)
            .field("recovery_backoff_max_ms", &self.recovery_backoff_max_ms)
            .field("recovery_retries", &self.recovery_retries)
            .field("server_lack_of_ack_timeout_ms", &self.server_lack_of_ack_timeout_ms)
            .field("flush_timeout_ms", &self.flush_timeout_ms)
            .field("connection_timeout_ms", &self.connection_timeout_ms)
            .field("ipc_compression", &self.ipc_compression)
            .field("stream_paused_max_wait_time_ms", &self.stream_paused_max_wait_time_ms)
            .field("callback_max_wait_time_ms", &self.callback_max_wait_time_ms)
            .field("ack_callback", &self.ack_callback.as_ref().map(|_| "set"))
            .finish()
    }
}

impl ArrowStreamConfigurationOptions {
    /// The record-stream options the shared machinery runs on.
    pub(crate) fn stream_options(&self) -> StreamConfigurationOptions {
        StreamConfigurationOptions {
            max_inflight_requests: self.max_inflight_batches,
            max_inflight_bytes: self.max_inflight_bytes,
            recovery: self.recovery,
            recovery_timeout_ms: self.recovery_timeout_ms,
            recovery_backoff_ms: self.recovery_backoff_ms,
            recovery_backoff_max_ms: self.recovery_backoff_max_ms,
            recovery_retries: self.recovery_retries,
            server_lack_of_ack_timeout_ms: self.server_lack_of_ack_timeout_ms,
            flush_timeout_ms: self.flush_timeout_ms,
            record_type: crate::RecordType::Proto,
            stream_paused_max_wait_time_ms: self.stream_paused_max_wait_time_ms,
            callback_max_wait_time_ms: self.callback_max_wait_time_ms,
            ack_callback: self.ack_callback.clone(),
        }
    }

    /// Checks every option against its range, as [`StreamConfigurationOptions::validate`] does
    /// (`max_inflight_batches` is checked under that name).
    pub fn validate(&self) -> ZerobusResult<()> {
        if self.connection_timeout_ms == 0 || self.connection_timeout_ms > MAX_OPTION_MS {
            return Err(ZerobusError::invalid_argument(format!(
                "option connection_timeout_ms is {} ms; it must be between 1 and {MAX_OPTION_MS} ms",
                self.connection_timeout_ms
            )));
        }
        self.stream_options().validate().map_err(|e| {
            if e.message().contains("max_inflight_requests") {
                ZerobusError::invalid_argument(
                    e.message().replace("max_inflight_requests", "max_inflight_batches"),
                )
            } else {
                e
            }
        })
    }
}

/// A stream of Arrow record batches into one table. `Send + Sync`: every method takes `&self`.
///
/// Each ingest call gets one offset, whatever the number of rows or physical batches it carries;
/// `wait_for_offset`, `flush` and the callbacks work by those offsets, exactly as on record
/// streams.
pub struct ZerobusArrowStream {
    inner: ZerobusStream,
    schema: SchemaRef,
    options: ArrowStreamConfigurationOptions,
    /// The last schema [`queue_columns`](Self::queue_columns) decoded, by its IPC bytes: batches
    /// of one table share a schema, so it is decoded once, not per call.
    column_schema: Mutex<Option<(Vec<u8>, SchemaRef)>>,
}

impl std::fmt::Debug for ZerobusArrowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZerobusArrowStream")
            .field("table", &self.inner.table_name())
            .field("columns", &self.schema.fields().len())
            .field("ipc_compression", &self.options.ipc_compression)
            .finish_non_exhaustive()
    }
}

impl ZerobusArrowStream {
    pub(crate) async fn open(
        transport: Arc<crate::transport::Transport>,
        table_name: String,
        schema: SchemaRef,
        auth: crate::auth::Auth,
        options: ArrowStreamConfigurationOptions,
    ) -> ZerobusResult<ZerobusArrowStream> {
        let wire = FlightWire {
            schema: schema.clone(),
            compression: options.ipc_compression,
            connection_timeout_ms: options.connection_timeout_ms,
        };
        let inner =
            ZerobusStream::open_arrow(transport, table_name, auth, options.stream_options(), wire).await?;
        Ok(ZerobusArrowStream { inner, schema, options, column_schema: Mutex::new(None) })
    }

    fn encode_batch(&self, batch: &RecordBatch, buffers: Buffers) -> ZerobusResult<EncodedCall> {
        self.encode_batches(std::slice::from_ref(batch), buffers)
    }

    fn encode_batches(&self, batches: &[RecordBatch], buffers: Buffers) -> ZerobusResult<EncodedCall> {
        let table = self.inner.table_name();
        let mut parts = Vec::with_capacity(batches.len());
        if batches.is_empty() {
            // A call of no rows still goes out (as an empty batch), so its offset gets acked.
            return self.encode_batch(&RecordBatch::new_empty(self.schema.clone()), Buffers::Shared);
        }
        for batch in batches {
            let batch = flight::fit_batch(table, &self.schema, batch)?;
            parts.extend(flight::encode_batch(table, &batch, self.options.ipc_compression, buffers)?);
        }
        Ok(EncodedCall::arrow(parts))
    }

    fn encode_ipc(&self, ipc: &Bytes) -> ZerobusResult<EncodedCall> {
        let parts =
            flight::ipc_parts(self.inner.table_name(), &self.schema, ipc, self.options.ipc_compression)?;
        Ok(EncodedCall::arrow(parts))
    }

    /// Queues one record batch under the next offset, waiting while the in-flight bounds are
    /// reached, and returns the offset (queued, not yet durable: see
    /// [`wait_for_offset`](Self::wait_for_offset)). The batch must have the stream's columns, in
    /// order, with the same types (`Utf8` / `Binary` columns are widened to the `LargeUtf8` /
    /// `LargeBinary` the table mapping uses); a NOT NULL column may be declared nullable if it
    /// holds no nulls. A batch larger than one message's limit goes as several physical batches
    /// under the one offset.
    ///
    /// Without `ipc_compression`, the batch's buffers are sent as they are, not copied: the
    /// stream keeps a reference to them until the server acks the batch (Arrow data is
    /// immutable; do not write into memory a batch shares, such as a NumPy array's, before its
    /// offset is acked). Sliced columns and dictionary, view, union, run-end, fixed-size-list and
    /// null columns are encoded to an IPC copy here instead, as is every batch with compression.
    pub async fn ingest_batch(&self, batch: RecordBatch) -> ZerobusResult<i64> {
        let call = self.encode_batch(&batch, Buffers::Shared)?;
        self.inner.shared().enqueue(call).await
    }

    /// Queues several batches (a table's) as one call under one offset; all or nothing: if one
    /// batch fails its check, none is queued. An empty list queues a call of no rows.
    pub async fn ingest_batches(&self, batches: &[RecordBatch]) -> ZerobusResult<i64> {
        let call = self.encode_batches(batches, Buffers::Shared)?;
        self.inner.shared().enqueue(call).await
    }

    /// [`ingest_batches`](Self::ingest_batches) that takes its place in line at once.
    pub fn queue_batches(&self, batches: &[RecordBatch]) -> ZerobusResult<Queued> {
        let call = self.encode_batches(batches, Buffers::Shared)?;
        self.inner.shared().queue(call)
    }

    /// Queues an Arrow IPC *stream* (schema message, then one or more record batches) under one
    /// offset. Its record batches are sent as they are, without re-encoding, unless the stream's
    /// `ipc_compression` is set and a batch was written uncompressed: that batch is compressed
    /// here (a batch already compressed keeps its codec). Each is checked against the stream's
    /// schema first, and nothing of a stream that fails the check is queued.
    pub async fn ingest_ipc_batch(&self, ipc: Bytes) -> ZerobusResult<i64> {
        let call = self.encode_ipc(&ipc)?;
        self.inner.shared().enqueue(call).await
    }

    /// [`ingest_batch`](Self::ingest_batch) that takes its place in line at the moment of the
    /// call (see [`ZerobusStream::queue_record`]); for bindings.
    pub fn queue_batch(&self, batch: &RecordBatch) -> ZerobusResult<Queued> {
        let call = self.encode_batch(batch, Buffers::Shared)?;
        self.inner.shared().queue(call)
    }

    /// [`queue_batch`](Self::queue_batch) for a batch over memory lent for this call only (the
    /// C ABI's and the JVM's Arrow C Data imports, whose release callbacks run when the call
    /// returns): it is encoded to an IPC copy before this returns and nothing of its buffers is
    /// kept.
    pub fn queue_batch_copied(&self, batch: &RecordBatch) -> ZerobusResult<Queued> {
        let call = self.encode_batch(batch, Buffers::Copied)?;
        self.inner.shared().queue(call)
    }

    /// Queues record batches given as their column buffers (one or more, as one call under one
    /// offset) and takes its place in line at once, like [`queue_batches`](Self::queue_batches);
    /// for bindings whose host language can lend its Arrow memory for one synchronous call.
    /// `schema_ipc` is an IPC stream holding the batches' schema (decoded once per distinct
    /// schema in a row); `nodes` and `buffers` describe the batches as
    /// [`crate::arrow_columns`] says. The buffers are read in place, validated in full and
    /// encoded to IPC before this returns, and nothing of them is kept: they may change or go
    /// as soon as it returns. Buffers that do not make the schema's columns fail with
    /// `INVALID_RECORD` naming the table and the column, and nothing is queued.
    pub fn queue_columns(
        &self,
        schema_ipc: &[u8],
        nodes: &[u64],
        buffers: &[&[u8]],
    ) -> ZerobusResult<Queued> {
        // SAFETY: the unit owner keeps nothing alive, and with `Copied` nothing of the batches
        // outlives this call (`columns_call` drops them before it returns); the `&[u8]`s keep the
        // memory alive and unwritten until then.
        let call = unsafe { self.columns_call(schema_ipc, nodes, buffers, Arc::new(()), Buffers::Copied) }?;
        self.inner.shared().queue(call)
    }

    /// [`queue_columns`](Self::queue_columns) without the copy: the batches' buffers are sent
    /// as they are and kept until the call's rows are acked (or the call fails, or the stream
    /// is dropped). Every buffer holds a clone of `owner`, so dropping `owner`'s last clone is
    /// the sign that the stream is done with the memory: a binding's owner releases the host
    /// language's buffers in its `Drop`, which may run on any thread (a core thread after an
    /// ack, or the caller's on an error). Layouts the in-place writer does not cover, and any
    /// batch with `ipc_compression`, are copied at admission instead and `owner` goes then.
    ///
    /// # Safety
    ///
    /// Each buffer's memory stays valid, and nothing writes it, until `owner`'s last clone is
    /// dropped.
    pub unsafe fn queue_columns_held(
        &self,
        schema_ipc: &[u8],
        nodes: &[u64],
        buffers: &[&[u8]],
        owner: Arc<dyn BufferOwner>,
    ) -> ZerobusResult<Queued> {
        // SAFETY: this function's contract is `columns_call`'s.
        let call = unsafe { self.columns_call(schema_ipc, nodes, buffers, owner, Buffers::Shared) }?;
        self.inner.shared().queue(call)
    }

    /// The call of the batches `nodes` and `buffers` describe, over memory `owner` answers for.
    ///
    /// # Safety
    ///
    /// As [`crate::arrow_columns::batches_over`]: the memory stays valid and unwritten until
    /// `owner`'s last clone is dropped.
    unsafe fn columns_call(
        &self,
        schema_ipc: &[u8],
        nodes: &[u64],
        buffers: &[&[u8]],
        owner: Arc<dyn BufferOwner>,
        keep: Buffers,
    ) -> ZerobusResult<EncodedCall> {
        let schema = self.column_schema(schema_ipc)?;
        // SAFETY: the caller's promise, passed on.
        let batches =
            unsafe { crate::arrow_columns::batches_over(&schema, nodes, buffers, owner) }.map_err(|e| {
                ZerobusError::new(
                    crate::ErrorCode::InvalidRecord,
                    format!(
                        "table {}: the batch's buffers do not make its schema's columns: {e}",
                        self.table_name()
                    ),
                )
            })?;
        self.encode_batches(&batches, keep)
    }

    /// The schema whose IPC bytes are `ipc`, decoded once per distinct schema in a row.
    fn column_schema(&self, ipc: &[u8]) -> ZerobusResult<SchemaRef> {
        let mut last = self.column_schema.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((bytes, schema)) = last.as_ref() {
            if bytes.as_slice() == ipc {
                return Ok(schema.clone());
            }
        }
        let schema = flight::schema_from_ipc(ipc)?;
        *last = Some((ipc.to_vec(), schema.clone()));
        Ok(schema)
    }

    /// [`ingest_ipc_batch`](Self::ingest_ipc_batch) that takes its place in line at once.
    pub fn queue_ipc_batch(&self, ipc: &Bytes) -> ZerobusResult<Queued> {
        let call = self.encode_ipc(ipc)?;
        self.inner.shared().queue(call)
    }

    /// Queues a batch now or fails with `QUEUE_FULL`, queuing nothing.
    pub fn try_ingest_batch(&self, batch: &RecordBatch) -> ZerobusResult<i64> {
        let call = self.encode_batch(batch, Buffers::Shared)?;
        self.inner.shared().try_enqueue(call)
    }

    /// Waits until `offset` is acknowledged (every row of its call is durable).
    pub async fn wait_for_offset(&self, offset: i64) -> ZerobusResult<()> {
        self.inner.wait_for_offset(offset).await
    }

    /// Waits until every batch ingested before this call is acknowledged.
    pub async fn flush(&self) -> ZerobusResult<()> {
        self.inner.flush().await
    }

    /// Flushes, ends the `DoPut` call and stops; idempotent, as [`ZerobusStream::close`].
    pub async fn close(&self) -> ZerobusResult<()> {
        self.inner.close().await
    }

    /// Whether the stream no longer accepts batches.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The unacknowledged rows, in offset order, as record batches of the stream's schema: one
    /// per physical batch, the first starting at the first unacknowledged row. After a terminal
    /// failure, ingest these on a new stream.
    pub fn get_unacked_batches(&self) -> ZerobusResult<Vec<RecordBatch>> {
        let (calls, skip) = self.inner.shared().unacked_flight_calls();
        let mut out = Vec::new();
        let mut skip = skip;
        for parts in calls {
            out.extend(flight::decode_parts(&self.schema, &parts, skip)?);
            skip = 0;
        }
        Ok(out)
    }

    /// [`get_unacked_batches`](Self::get_unacked_batches) as one Arrow IPC stream (the schema
    /// message, then the batches): for bindings that hand Arrow data over as IPC bytes.
    pub fn get_unacked_ipc(&self) -> ZerobusResult<Vec<u8>> {
        flight::batches_to_ipc(&self.schema, &self.get_unacked_batches()?)
    }

    /// The table this stream writes to.
    pub fn table_name(&self) -> &str {
        self.inner.table_name()
    }

    /// The schema batches must have.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The options the stream was opened with.
    pub fn options(&self) -> &ArrowStreamConfigurationOptions {
        &self.options
    }

    /// The stream's counters; `inflight_records` and `records_sent` count rows.
    pub fn metrics(&self) -> StreamMetrics {
        self.inner.metrics()
    }

    pub(crate) fn recreate_parts(&self) -> (Arc<crate::transport::Transport>, crate::auth::Auth) {
        let (transport, _, _, auth, _) = self.inner.recreate_parts();
        (transport, auth)
    }
}
