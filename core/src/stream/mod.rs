//! An ingest stream: the public API, and the parts behind it, one file each:
//!
//! - `state`: the shared state (the queue of unacked calls, offsets, flags) behind one mutex;
//! - `admission`: checking and encoding records, the in-flight bounds, first come first served;
//! - `sender`: the request stream tonic sends from;
//! - `receiver`: acks and control messages of one connection;
//! - `connect`: opening one connection (headers, HTTP/2, `create_stream`);
//! - `supervisor`: reconnecting within the retry budget, or failing for good.
//!
//! The queue of unacked calls is the single source for sending and resending: the request stream
//! pulls from it at a cursor, and a reconnect rewinds the cursor to the first unacked call. Acks
//! pop from the front, so an ack costs O(calls it covers), and waiters are woken by watermark
//! through a `watch` channel.

mod admission;
mod connect;
mod flight_body;
mod receiver;
mod sender;
mod state;
mod supervisor;

use crate::table_schema::FromTable;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zerobus_schema::TableSchema;

use bytes::Bytes;
use tokio::task::JoinHandle;

pub use admission::{PendingIngest, Queued};
pub(crate) use state::Shared;

use crate::auth::Auth;
use crate::flight::FlightWire;
use crate::options::{RecordType, StreamConfigurationOptions, TableProperties};
use crate::transport::Transport;
use crate::wire;
use crate::{ErrorCode, ZerobusError, ZerobusResult};

/// One record as the caller hands it over: JSON text or encoded proto bytes, borrowed.
#[derive(Clone, Copy, Debug)]
pub enum RecordRef<'a> {
    /// A JSON object, as text (JSON streams).
    Json(&'a str),
    /// One encoded proto message (PROTO streams).
    Proto(&'a [u8]),
}

impl<'a> From<&'a str> for RecordRef<'a> {
    fn from(s: &'a str) -> Self {
        RecordRef::Json(s)
    }
}
impl<'a> From<&'a String> for RecordRef<'a> {
    fn from(s: &'a String) -> Self {
        RecordRef::Json(s)
    }
}
impl<'a> From<&'a [u8]> for RecordRef<'a> {
    fn from(b: &'a [u8]) -> Self {
        RecordRef::Proto(b)
    }
}
impl<'a> From<&'a Vec<u8>> for RecordRef<'a> {
    fn from(b: &'a Vec<u8>) -> Self {
        RecordRef::Proto(b)
    }
}
impl<'a, const N: usize> From<&'a [u8; N]> for RecordRef<'a> {
    fn from(b: &'a [u8; N]) -> Self {
        RecordRef::Proto(b)
    }
}
impl<'a> From<&'a Bytes> for RecordRef<'a> {
    fn from(b: &'a Bytes) -> Self {
        RecordRef::Proto(b)
    }
}

impl RecordRef<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            RecordRef::Json(s) => s.as_bytes(),
            RecordRef::Proto(b) => b,
        }
    }
}

/// A point-in-time view of a stream's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamMetrics {
    /// Ingest calls queued and not yet acknowledged.
    pub inflight_requests: u64,
    /// Records in those calls.
    pub inflight_records: u64,
    /// Encoded bytes held for those calls (the quantity `max_inflight_bytes` bounds).
    pub inflight_bytes: u64,
    /// Highest acknowledged offset, if any.
    pub last_acked_offset: Option<i64>,
    /// Records handed to the transport, resends included.
    pub records_sent: u64,
    /// Records sent again after a reconnect.
    pub records_resent: u64,
    /// Successful reconnects after a failure or a server close signal.
    pub recoveries: u64,
    /// Times this stream asked the token endpoint for a token.
    pub token_fetches: u64,
}

/// A stream of records into one table. `Send + Sync`: every method takes `&self`, so one stream
/// can be shared by many tasks or threads.
pub struct ZerobusStream {
    shared: Arc<Shared>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    close_result: tokio::sync::Mutex<Option<ZerobusResult<()>>>,
}

impl std::fmt::Debug for ZerobusStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZerobusStream")
            .field("table", &self.shared.table.table_name)
            .field("record_type", &self.shared.opts.record_type)
            .field("auth", &self.shared.auth)
            .finish_non_exhaustive()
    }
}

/// What `recreate_stream` takes from an old stream to open its successor.
pub(crate) type RecreateParts =
    (Arc<Transport>, TableProperties, Option<Arc<FromTable>>, Auth, StreamConfigurationOptions);

impl ZerobusStream {
    pub(crate) async fn open(
        transport: Arc<Transport>,
        table: TableProperties,
        from_table: Option<Arc<FromTable>>,
        auth: Auth,
        opts: StreamConfigurationOptions,
    ) -> ZerobusResult<ZerobusStream> {
        let descriptor = match opts.record_type {
            RecordType::Proto => table.descriptor_proto.as_ref(),
            RecordType::Json => None,
        };
        let create_message = wire::encode_create(&table.table_name, opts.record_type, descriptor);
        Self::start(transport, table, from_table, auth, opts, create_message, None).await
    }

    /// The machine behind an Arrow stream: the same queue, admission and recovery, with calls
    /// sent as Flight `DoPut` batches after the schema message.
    pub(crate) async fn open_arrow(
        transport: Arc<Transport>,
        table_name: String,
        auth: Auth,
        opts: StreamConfigurationOptions,
        flight: FlightWire,
    ) -> ZerobusResult<ZerobusStream> {
        let schema_message = crate::flight::schema_message(&flight.schema);
        let table = TableProperties::new(table_name);
        Self::start(transport, table, None, auth, opts, schema_message, Some(flight)).await
    }

    async fn start(
        transport: Arc<Transport>,
        table: TableProperties,
        from_table: Option<Arc<FromTable>>,
        auth: Auth,
        opts: StreamConfigurationOptions,
        create_message: Bytes,
        flight: Option<FlightWire>,
    ) -> ZerobusResult<ZerobusStream> {
        let shared = Arc::new(Shared::new(transport, table, from_table, auth, opts, create_message, flight));
        let live = supervisor::open_first(&shared).await?;
        let supervisor = tokio::spawn(supervisor::supervise(shared.clone(), live));
        Ok(ZerobusStream {
            shared,
            supervisor: Mutex::new(Some(supervisor)),
            close_result: tokio::sync::Mutex::new(None),
        })
    }

    /// The state behind the stream, for the Arrow stream built on it.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The table this stream writes to.
    pub fn table_name(&self) -> &str {
        &self.shared.table.table_name
    }

    /// The record type of this stream.
    pub fn record_type(&self) -> RecordType {
        self.shared.opts.record_type
    }

    /// The server's id for the current connection of this stream (it changes when the stream
    /// reconnects).
    pub fn stream_id(&self) -> String {
        self.shared.stream_id.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Queues one record and returns its offset once queued (not once acked: use
    /// [`wait_for_offset`](Self::wait_for_offset) or [`flush`](Self::flush) for durability).
    /// Waits while the in-flight bounds are reached.
    pub async fn ingest_record_offset<'a>(&self, record: impl Into<RecordRef<'a>>) -> ZerobusResult<i64> {
        let call = self.shared.encode_one(record.into())?;
        self.shared.enqueue(call).await
    }

    /// Queues a batch of records under one offset (all-or-nothing on the server). An empty batch
    /// sends nothing and returns `None`.
    pub async fn ingest_records_offset<'a, I>(&self, records: I) -> ZerobusResult<Option<i64>>
    where
        I: IntoIterator,
        I::Item: Into<RecordRef<'a>>,
    {
        match self.shared.encode_many(records)? {
            None => self.shared.check_open().map(|()| None),
            Some(call) => self.shared.enqueue(call).await.map(Some),
        }
    }

    /// Queues a batch held in one contiguous buffer: record `i` is the next `lengths[i]` bytes.
    /// This is how bindings hand a batch over in one call with one copy.
    pub async fn ingest_records_contiguous_offset(
        &self,
        data: &[u8],
        lengths: &[usize],
    ) -> ZerobusResult<Option<i64>> {
        match self.shared.encode_contiguous(data, lengths)? {
            None => self.shared.check_open().map(|()| None),
            Some(call) => self.shared.enqueue(call).await.map(Some),
        }
    }

    /// Like [`ingest_record_offset`](Self::ingest_record_offset) without the offset: the record
    /// is queued before this returns, and its failure reaches the error callback, `flush` and
    /// `close` exactly as for the offset form.
    pub async fn ingest_record_nowait<'a>(&self, record: impl Into<RecordRef<'a>>) -> ZerobusResult<()> {
        self.ingest_record_offset(record).await.map(drop)
    }

    /// Like [`ingest_records_offset`](Self::ingest_records_offset) without the offset.
    pub async fn ingest_records_nowait<'a, I>(&self, records: I) -> ZerobusResult<()>
    where
        I: IntoIterator,
        I::Item: Into<RecordRef<'a>>,
    {
        self.ingest_records_offset(records).await.map(drop)
    }

    /// Queues one record if the in-flight bounds allow it now; otherwise fails at once with
    /// `QUEUE_FULL` and queues nothing.
    pub fn try_ingest_record_offset<'a>(&self, record: impl Into<RecordRef<'a>>) -> ZerobusResult<i64> {
        let call = self.shared.encode_one(record.into())?;
        self.shared.try_enqueue(call)
    }

    /// Queues a batch if the in-flight bounds allow it now; otherwise `QUEUE_FULL`.
    pub fn try_ingest_records_offset<'a, I>(&self, records: I) -> ZerobusResult<Option<i64>>
    where
        I: IntoIterator,
        I::Item: Into<RecordRef<'a>>,
    {
        match self.shared.encode_many(records)? {
            None => self.shared.check_open().map(|()| None),
            Some(call) => self.shared.try_enqueue(call).map(Some),
        }
    }

    /// Non-blocking form of [`ingest_records_contiguous_offset`](Self::ingest_records_contiguous_offset).
    pub fn try_ingest_records_contiguous_offset(
        &self,
        data: &[u8],
        lengths: &[usize],
    ) -> ZerobusResult<Option<i64>> {
        self.try_ingest_records_contiguous_as(self.record_type(), data, lengths)
    }

    /// Queues one record now if there is room, else takes its place in line without waiting.
    /// Unlike the `async` forms, whose place is taken when they are first polled, this fixes the
    /// order at the moment of the call: bindings whose runtime polls futures in no fixed order
    /// use it to keep calls in call order.
    pub fn queue_record<'a>(&self, record: impl Into<RecordRef<'a>>) -> ZerobusResult<Queued> {
        let call = self.shared.encode_one(record.into())?;
        self.shared.queue(call)
    }

    /// [`queue_record`](Self::queue_record) for a batch (one offset); an empty batch queues nothing.
    pub fn queue_records<'a, I>(&self, records: I) -> ZerobusResult<Queued>
    where
        I: IntoIterator,
        I::Item: Into<RecordRef<'a>>,
    {
        match self.shared.encode_many(records)? {
            None => self.shared.check_open().map(|()| Queued::Offset(None)),
            Some(call) => self.shared.queue(call),
        }
    }

    /// [`queue_record`](Self::queue_record) for a batch held in one contiguous buffer.
    pub fn queue_records_contiguous(&self, data: &[u8], lengths: &[usize]) -> ZerobusResult<Queued> {
        self.queue_records_contiguous_as(self.record_type(), data, lengths)
    }

    /// [`queue_records_contiguous`](Self::queue_records_contiguous) where `kind` says what the
    /// caller handed: JSON text (`RecordType::Json`) or encoded bytes (`RecordType::Proto`),
    /// checked against the stream's type as the single-record calls check a [`RecordRef`]. For
    /// bindings whose callers distinguish text from bytes.
    pub fn queue_records_contiguous_as(
        &self,
        kind: RecordType,
        data: &[u8],
        lengths: &[usize],
    ) -> ZerobusResult<Queued> {
        match self.shared.encode_contiguous_as(data, lengths, kind == RecordType::Json)? {
            None => self.shared.check_open().map(|()| Queued::Offset(None)),
            Some(call) => self.shared.queue(call),
        }
    }

    /// Non-blocking form of [`queue_records_contiguous_as`](Self::queue_records_contiguous_as):
    /// `QUEUE_FULL` when the bounds are reached.
    pub fn try_ingest_records_contiguous_as(
        &self,
        kind: RecordType,
        data: &[u8],
        lengths: &[usize],
    ) -> ZerobusResult<Option<i64>> {
        match self.shared.encode_contiguous_as(data, lengths, kind == RecordType::Json)? {
            None => self.shared.check_open().map(|()| None),
            Some(call) => self.shared.try_enqueue(call).map(Some),
        }
    }

    /// Waits until `offset` is acknowledged, the stream fails, or `flush_timeout_ms` passes.
    pub async fn wait_for_offset(&self, offset: i64) -> ZerobusResult<()> {
        let assigned = self.shared.lock().next_offset;
        if offset < 0 || offset >= assigned {
            return Err(ZerobusError::invalid_argument(format!(
                "offset {offset} was never assigned on this stream (next offset is {assigned}); wait only for offsets that ingest calls returned"
            )));
        }
        self.wait_acked(offset, self.flush_deadline()).await
    }

    fn flush_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_millis(self.shared.opts.flush_timeout_ms)
    }

    fn flush_timeout(&self, what: &str) -> ZerobusError {
        ZerobusError::new(
            ErrorCode::Timeout,
            format!(
                "{what} within flush_timeout_ms ({} ms); records stay queued and may still be acknowledged: wait again, or raise flush_timeout_ms",
                self.shared.opts.flush_timeout_ms
            ),
        )
    }

    async fn wait_acked(&self, offset: i64, deadline: tokio::time::Instant) -> ZerobusResult<()> {
        let mut rx = self.shared.progress.subscribe();
        let wait = async {
            loop {
                {
                    let p = rx.borrow_and_update();
                    if p.acked >= offset {
                        return Ok(());
                    }
                    if let Some(e) = &p.failed {
                        return Err(e.clone());
                    }
                }
                if rx.changed().await.is_err() {
                    return Err(ZerobusError::closed());
                }
            }
        };
        match tokio::time::timeout_at(deadline, wait).await {
            Ok(r) => r,
            Err(_) => Err(self.flush_timeout(&format!("offset {offset} not acknowledged"))),
        }
    }

    /// Waits until every record ingested before this call is acknowledged, including calls that
    /// were still waiting for room in the in-flight bounds (bounded by `flush_timeout_ms`).
    pub async fn flush(&self) -> ZerobusResult<()> {
        let deadline = self.flush_deadline();
        let earlier = self.shared.lock().next_ticket;
        loop {
            let notified = self.shared.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.shared.lock();
                if st.serving >= earlier || st.failed.is_some() {
                    break;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(self.flush_timeout("earlier calls waiting for room were not queued"));
            }
        }
        let (last, failed) = {
            let st = self.shared.lock();
            (st.next_offset - 1, st.failed.clone())
        };
        if last < 0 {
            return failed.map_or(Ok(()), Err);
        }
        self.wait_acked(last, deadline).await
    }

    /// Flushes, half-closes the request stream so the server sees END_STREAM, waits for the
    /// server to finish, and stops. Idempotent: later calls return the first call's result.
    /// After `close()` returns no callback runs and ingests fail with `STREAM_CLOSED`.
    pub async fn close(&self) -> ZerobusResult<()> {
        let mut result_slot = self.close_result.lock().await;
        if let Some(result) = result_slot.as_ref() {
            return result.clone();
        }
        {
            let mut st = self.shared.lock();
            st.closing = true;
            st.close_ticket = st.next_ticket;
        }
        let result = self.flush().await;
        let waker = {
            let mut st = self.shared.lock();
            st.finishing = true;
            st.take_sender()
        };
        if let Some(w) = waker {
            w.wake();
        }
        let handle = self.supervisor.lock().ok().and_then(|mut h| h.take());
        if let Some(mut handle) = handle {
            // The server answers END_STREAM by ending the call; don't wait forever for it. When
            // the flush already failed (its timeout passed, or the stream failed) the caller has
            // its answer: what is unacked stays in `get_unacked_records`, so stop at once.
            let bound = match result {
                Ok(()) => Duration::from_millis(self.shared.opts.recovery_timeout_ms.max(100)),
                Err(_) => Duration::ZERO,
            };
            if tokio::time::timeout(bound, &mut handle).await.is_err() {
                handle.abort();
            }
        }
        {
            // Stop any request stream still alive so the transport can go.
            let waker = self.shared.lock().retire_connection();
            if let Some(w) = waker {
                w.wake();
            }
        }
        if let Some(cb) = &self.shared.callbacks {
            cb.drain_and_stop(self.shared.opts.callback_max_wait_time_ms.map(Duration::from_millis)).await;
        }
        *result_slot = Some(result.clone());
        result
    }

    /// Whether the stream no longer accepts records (closed, or failed for good).
    pub fn is_closed(&self) -> bool {
        let st = self.shared.lock();
        st.closing || st.failed.is_some()
    }

    /// The records of every unacknowledged call, in offset order (a batch contributes its
    /// records in order). After a terminal failure, re-ingest these on a new stream.
    pub fn get_unacked_records(&self) -> Vec<Bytes> {
        let st = self.shared.lock();
        st.queue.iter().flat_map(wire::decode_records).collect()
    }

    /// Every unacknowledged call as its list of records, in offset order, batch structure kept.
    pub fn get_unacked_batches(&self) -> Vec<Vec<Bytes>> {
        let st = self.shared.lock();
        st.queue.iter().map(wire::decode_records).collect()
    }

    /// What a new stream like this one is opened from: its transport, table, credentials and
    /// options (the ack callback included), for [`ZerobusSdk::recreate_stream`](crate::ZerobusSdk::recreate_stream).
    pub(crate) fn recreate_parts(&self) -> RecreateParts {
        let s = &self.shared;
        (s.transport.clone(), s.table.clone(), s.from_table.clone(), s.auth.clone(), s.opts.clone())
    }

    /// The table's schema when the stream was opened from it (a PROTO stream created without a
    /// descriptor); JSON records given to such a stream are encoded to proto by it.
    pub fn table_schema(&self) -> Option<&TableSchema> {
        self.shared.from_table.as_ref().map(|t| &t.schema)
    }

    /// A snapshot of the stream's counters.
    pub fn metrics(&self) -> StreamMetrics {
        let st = self.shared.lock();
        let c = &self.shared.counters;
        StreamMetrics {
            inflight_requests: st.queue.len() as u64,
            inflight_records: st.inflight_records,
            inflight_bytes: st.inflight_bytes as u64,
            last_acked_offset: (st.first_offset > 0).then_some(st.first_offset - 1),
            records_sent: c.records_sent.load(Relaxed),
            records_resent: c.records_resent.load(Relaxed),
            recoveries: c.recoveries.load(Relaxed),
            token_fetches: c.token_fetches.load(Relaxed),
        }
    }
}

impl Drop for ZerobusStream {
    fn drop(&mut self) {
        // Dropped without close(): stop the background work; unacked records are abandoned.
        let mut st = self.shared.lock();
        if !st.queue.is_empty() && st.failed.is_none() && !st.finishing {
            tracing::warn!(
                "stream on {} dropped without close() with {} unacknowledged calls",
                self.shared.table.table_name,
                st.queue.len()
            );
        }
        st.closing = true;
        // Every ticket is at or past close_ticket now, so a call still waiting for room (a
        // PendingIngest outlives the stream) fails STREAM_CLOSED once woken, instead of hanging.
        st.close_ticket = 0;
        let waker = st.retire_connection();
        let waiting = st.take_all_waiting();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        for w in waiting {
            w.wake();
        }
        self.shared.space.notify_waiters();
        if let Some(h) = self.supervisor.get_mut().ok().and_then(Option::take) {
            h.abort();
        }
    }
}
