//! An ingest stream: offsets, the in-flight queue and its bounds, the request stream tonic sends
//! from, ack tracking, flush and close, and the supervisor that reconnects and resends.
//!
//! All state lives in one [`State`] behind a mutex held only for O(1) bookkeeping (never across an
//! await, a send or a callback). The queue of unacked calls is the single source for sending and
//! resending: the request stream handed to tonic pulls from it at a cursor, and a reconnect just
//! rewinds the cursor to the first unacked call. Acks pop from the front, so an ack costs O(calls it
//! covers), and waiters are woken by watermark through a `watch` channel.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use zerobus_proto::ephemeral_stream_response::Payload as ResponsePayload;

use crate::auth::Auth;
use crate::callbacks::Callbacks;
use crate::options::{RecordType, StreamConfigurationOptions, TableProperties, MAX_CALL_PAYLOAD_BYTES};
use crate::sdk::SdkInner;
use crate::wire::{self, EncodedCall, Outgoing};
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

#[derive(Default)]
struct Counters {
    records_sent: AtomicU64,
    records_resent: AtomicU64,
    recoveries: AtomicU64,
    token_fetches: AtomicU64,
}

/// Ack watermark and terminal failure, watched by `flush` / `wait_for_offset`.
#[derive(Clone, Debug)]
struct Progress {
    acked: i64,
    failed: Option<ZerobusError>,
}

struct State {
    /// Unacked calls; `queue[0]` has logical offset `first_offset`.
    queue: VecDeque<EncodedCall>,
    first_offset: i64,
    next_offset: i64,
    inflight_bytes: usize,
    inflight_records: u64,
    /// Index in `queue` of the next call to send on the current connection.
    cursor: usize,
    /// Highest logical offset ever handed to a transport (to count resends).
    max_sent: i64,
    /// Bumped on every (re)connect; a request stream of an older generation ends.
    generation: u64,
    /// Logical offset that the current connection numbers 0.
    wire_base: i64,
    /// The current connection answered `create_stream`; records may flow.
    ready: bool,
    /// A `CloseStreamSignal` arrived: send nothing new on this connection.
    paused: bool,
    /// `close()` began: no new ingests.
    closing: bool,
    /// Everything is acked and `close()` wants END_STREAM sent.
    finishing: bool,
    failed: Option<ZerobusError>,
    sender: Option<Waker>,
    /// FIFO admission: calls that found no room take tickets and are admitted in ticket order,
    /// and a new call may not overtake them. `serving` is the ticket whose turn it is.
    next_ticket: u64,
    serving: u64,
    /// Tickets whose waiters gave up (their future was dropped); skipped when their turn comes.
    abandoned: std::collections::BTreeSet<u64>,
    /// Tickets below this were taken before `close()` began: those calls may still be queued.
    close_ticket: u64,
    /// When the server was last heard from, or when records started waiting after a silence.
    last_heard: Instant,
}

impl State {
    fn take_sender(&mut self) -> Option<Waker> {
        self.sender.take()
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    progress: watch::Sender<Progress>,
    space: Notify,
    opts: StreamConfigurationOptions,
    table: TableProperties,
    create_message: Bytes,
    auth: Auth,
    sdk: Arc<SdkInner>,
    channel: tokio::sync::Mutex<Option<Channel>>,
    callbacks: Option<Callbacks>,
    counters: Counters,
    /// Where encoded calls are written; its own lock so encoding never holds up the sender.
    slabs: Mutex<wire::Slabs>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a way that matters
        // more than losing the stream, so poisoning is ignored rather than propagated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `call` if it is its turn and the bounds allow; gives it back if not. `ticket` is
    /// `None` for a call that has not waited yet (it may not overtake waiting calls), or the
    /// ticket of a waiting call. Errors if the stream is closed or failed.
    fn admit(&self, call: EncodedCall, ticket: Option<u64>) -> ZerobusResult<Result<i64, EncodedCall>> {
        let mut st = self.lock();
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        // Calls made before close() began (they hold earlier tickets) still get in: close flushes them.
        if st.closing && ticket.is_none_or(|t| t >= st.close_ticket) {
            return Err(ZerobusError::closed());
        }
        let my_turn = match ticket {
            None => st.next_ticket == st.serving,
            Some(t) => t == st.serving,
        };
        let size = call.body.len();
        // A call always fits an empty queue, so a bound of 0 or a call larger than the byte bound
        // still makes progress one call at a time.
        let fits = st.queue.is_empty()
            || (st.queue.len() < self.opts.max_inflight_requests
                && st.inflight_bytes + size <= self.opts.max_inflight_bytes);
        if !my_turn || !fits {
            return Ok(Err(call));
        }
        let offset = st.next_offset;
        st.next_offset += 1;
        st.inflight_bytes += size;
        st.inflight_records += u64::from(call.records);
        st.queue.push_back(call);
        let turn_passed = ticket.is_some();
        if turn_passed {
            advance_turn(&mut st);
        }
        let waker = st.take_sender();
        drop(st);
        if turn_passed {
            // The next ticket holder may fit too, and a flush may be waiting for this turn.
            self.space.notify_waiters();
        }
        if let Some(w) = waker {
            w.wake();
        }
        Ok(Ok(offset))
    }

    /// Takes a place in line for a call that found no room.
    fn take_ticket(&self) -> u64 {
        let mut st = self.lock();
        st.next_ticket += 1;
        st.next_ticket - 1
    }
}

/// Passes the turn to the next ticket still waiting.
fn advance_turn(st: &mut State) {
    st.serving += 1;
    while st.abandoned.remove(&st.serving) {
        st.serving += 1;
    }
}

/// An ingest call waiting for room in the in-flight bounds. It holds its place in line from the
/// moment it was created, so calls are queued (and get offsets) in the order they were made.
/// Dropping it gives up the place and queues nothing.
pub struct PendingIngest {
    shared: Arc<Shared>,
    call: Option<EncodedCall>,
    ticket: u64,
}

impl std::fmt::Debug for PendingIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingIngest").field("ticket", &self.ticket).finish_non_exhaustive()
    }
}

impl PendingIngest {
    /// Waits for this call's turn and for room, queues it, and returns its offset. Fails if the
    /// stream closes or fails first.
    pub async fn wait(mut self) -> ZerobusResult<i64> {
        let shared = self.shared.clone();
        loop {
            let notified = shared.space.notified();
            tokio::pin!(notified);
            // Register before checking so an ack between the check and the await is not missed.
            notified.as_mut().enable();
            let call = self.call.take().expect("a pending call is queued at most once");
            match shared.admit(call, Some(self.ticket)) {
                Ok(Ok(offset)) => return Ok(offset),
                Ok(Err(back)) => self.call = Some(back),
                Err(e) => {
                    self.give_up();
                    return Err(e);
                }
            }
            notified.await;
        }
    }

    fn give_up(&self) {
        let mut st = self.shared.lock();
        if st.serving == self.ticket {
            advance_turn(&mut st);
        } else {
            st.abandoned.insert(self.ticket);
        }
        drop(st);
        self.shared.space.notify_waiters();
    }
}

impl Drop for PendingIngest {
    fn drop(&mut self) {
        if self.call.is_some() {
            self.give_up();
        }
    }
}

/// What a `queue_*` call did.
#[derive(Debug)]
pub enum Queued {
    /// The call is queued under this offset (`None`: an empty batch, nothing to send).
    Offset(Option<i64>),
    /// The in-flight bounds are reached (or earlier calls are waiting): the call holds its place
    /// in line; `wait()` queues it.
    Waiting(PendingIngest),
}

impl Queued {
    /// The offset, waiting for room if needed.
    pub async fn offset(self) -> ZerobusResult<Option<i64>> {
        match self {
            Queued::Offset(o) => Ok(o),
            Queued::Waiting(p) => p.wait().await.map(Some),
        }
    }
}

/// A stream of records into one table. `Send + Sync`: every method takes `&self`, so one stream
/// can be shared by many tasks or threads.
pub struct ZerobusStream {
    shared: Arc<Shared>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    close_result: tokio::sync::Mutex<Option<ZerobusResult<()>>>,
    stream_id: Mutex<String>,
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

impl ZerobusStream {
    pub(crate) async fn open(
        sdk: Arc<SdkInner>,
        table: TableProperties,
        auth: Auth,
        mut opts: StreamConfigurationOptions,
    ) -> ZerobusResult<ZerobusStream> {
        let descriptor = match opts.record_type {
            RecordType::Proto => table.descriptor_proto.as_ref(),
            RecordType::Json => None,
        };
        let create_message = wire::encode_create(&table.table_name, opts.record_type, descriptor);
        let callbacks = opts.ack_callback.take().map(Callbacks::spawn);
        let (progress, _) = watch::channel(Progress { acked: -1, failed: None });
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                first_offset: 0,
                next_offset: 0,
                inflight_bytes: 0,
                inflight_records: 0,
                cursor: 0,
                max_sent: -1,
                generation: 0,
                wire_base: 0,
                ready: false,
                paused: false,
                closing: false,
                finishing: false,
                failed: None,
                sender: None,
                next_ticket: 0,
                serving: 0,
                abandoned: std::collections::BTreeSet::new(),
                close_ticket: 0,
                last_heard: Instant::now(),
            }),
            progress,
            space: Notify::new(),
            opts,
            table,
            create_message,
            auth,
            sdk,
            channel: tokio::sync::Mutex::new(None),
            callbacks,
            counters: Counters::default(),
            slabs: Mutex::new(wire::Slabs::new()),
        });

        // The first open follows the same retry rules as recovery, so a server that is briefly
        // unavailable does not fail stream creation.
        let mut budget = RetryBudget::new(&shared.opts, true);
        let live = loop {
            match open_connection(&shared).await {
                Ok(live) => break live,
                Err(e) => {
                    if !budget.allows_retry(&shared, &e) {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(shared.opts.recovery_backoff_ms)).await;
                }
            }
        };
        let stream_id = live.stream_id.clone();
        let supervisor = tokio::spawn(supervise(shared.clone(), live, budget));
        Ok(ZerobusStream {
            shared,
            supervisor: Mutex::new(Some(supervisor)),
            close_result: tokio::sync::Mutex::new(None),
            stream_id: Mutex::new(stream_id),
        })
    }

    /// The table this stream writes to.
    pub fn table_name(&self) -> &str {
        &self.shared.table.table_name
    }

    /// The record type of this stream.
    pub fn record_type(&self) -> RecordType {
        self.shared.opts.record_type
    }

    /// The server's id for the current connection of this stream.
    pub fn stream_id(&self) -> String {
        self.stream_id.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Queues one record and returns its offset once queued (not once acked: use
    /// [`wait_for_offset`](Self::wait_for_offset) or [`flush`](Self::flush) for durability).
    /// Waits while the in-flight bounds are reached.
    pub async fn ingest_record_offset<'a>(&self, record: impl Into<RecordRef<'a>>) -> ZerobusResult<i64> {
        let call = self.encode_one(record.into())?;
        self.enqueue(call).await
    }

    /// Queues a batch of records under one offset (all-or-nothing on the server). An empty batch
    /// sends nothing and returns `None`.
    pub async fn ingest_records_offset<'a, I>(&self, records: I) -> ZerobusResult<Option<i64>>
    where
        I: IntoIterator,
        I::Item: Into<RecordRef<'a>>,
    {
        match self.encode_many(records)? {
            None => Ok(None),
            Some(call) => self.enqueue(call).await.map(Some),
        }
    }

    /// Queues a batch held in one contiguous buffer: record `i` is the next `lengths[i]` bytes.
    /// This is how bindings hand a batch over in one call with one copy.
    pub async fn ingest_records_contiguous_offset(
        &self,
        data: &[u8],
        lengths: &[usize],
    ) -> ZerobusResult<Option<i64>> {
        match self.encode_contiguous(data, lengths)? {
            None => Ok(None),
            Some(call) => self.enqueue(call).await.map(Some),
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
        let call = self.encode_one(record.into())?;
        self.try_enqueue(call)
    }

    /// Queues a batch if the in-flight bounds allow it now; otherwise `QUEUE_FULL`.
    pub fn try_ingest_records_offset<'a, I>(&self, records: I) -> ZerobusResult<Option<i64>>
    where
        I: IntoIterator,
        I::Item: Into<RecordRef<'a>>,
    {
        match self.encode_many(records)? {
            None => Ok(None),
            Some(call) => self.try_enqueue(call).map(Some),
        }
    }

    /// Non-blocking form of [`ingest_records_contiguous_offset`](Self::ingest_records_contiguous_offset).
    pub fn try_ingest_records_contiguous_offset(
        &self,
        data: &[u8],
        lengths: &[usize],
    ) -> ZerobusResult<Option<i64>> {
        match self.encode_contiguous(data, lengths)? {
            None => Ok(None),
            Some(call) => self.try_enqueue(call).map(Some),
        }
    }

    fn check_kind(&self, record: &RecordRef<'_>) -> ZerobusResult<()> {
        match (self.shared.opts.record_type, record) {
            (RecordType::Json, RecordRef::Json(text)) => check_json(text),
            (RecordType::Proto, RecordRef::Proto(_)) => Ok(()),
            (RecordType::Json, RecordRef::Proto(_)) => Err(ZerobusError::invalid_record(format!(
                "record type mismatch: proto bytes given to JSON stream on table {}",
                self.shared.table.table_name
            ))),
            (RecordType::Proto, RecordRef::Json(_)) => Err(ZerobusError::invalid_record(format!(
                "record type mismatch: JSON text given to PROTO stream on table {} (encode it first, e.g. with JsonToProto)",
                self.shared.table.table_name
            ))),
        }
    }

    fn encode_one(&self, record: RecordRef<'_>) -> ZerobusResult<EncodedCall> {
        self.check_kind(&record)?;
        check_size(record.bytes().len())?;
        Ok(wire::encode_call(
            self.shared.opts.record_type,
            std::iter::once(record.bytes()),
            &self.shared.slabs,
        ))
    }

    fn encode_many<'a, I>(&self, records: I) -> ZerobusResult<Option<EncodedCall>>
    where
        I: IntoIterator,
        I::Item: Into<RecordRef<'a>>,
    {
        let records: Vec<RecordRef<'a>> = records.into_iter().map(Into::into).collect();
        if records.is_empty() {
            return Ok(None);
        }
        let mut total = 0usize;
        for (i, r) in records.iter().enumerate() {
            self.check_kind(r).map_err(|e| e.context(&format!("record {i} of the batch")))?;
            total += r.bytes().len();
        }
        check_size(total)?;
        let slices = records.iter().map(|r| r.bytes());
        Ok(Some(wire::encode_call(self.shared.opts.record_type, slices, &self.shared.slabs)))
    }

    fn encode_contiguous(&self, data: &[u8], lengths: &[usize]) -> ZerobusResult<Option<EncodedCall>> {
        if lengths.is_empty() {
            return Ok(None);
        }
        let total: usize = lengths.iter().sum();
        if total != data.len() {
            return Err(ZerobusError::invalid_argument(format!(
                "batch lengths add up to {total} bytes but the buffer holds {}",
                data.len()
            )));
        }
        check_size(total)?;
        let mut slices = Vec::with_capacity(lengths.len());
        let mut pos = 0;
        for (i, len) in lengths.iter().enumerate() {
            let rec = &data[pos..pos + len];
            pos += len;
            let rec = match self.shared.opts.record_type {
                RecordType::Json => RecordRef::Json(std::str::from_utf8(rec).map_err(|e| {
                    ZerobusError::invalid_record(format!("record {i} of the batch is not UTF-8: {e}"))
                })?),
                RecordType::Proto => RecordRef::Proto(rec),
            };
            self.check_kind(&rec).map_err(|e| e.context(&format!("record {i} of the batch")))?;
            slices.push(&data[pos - len..pos]);
        }
        Ok(Some(wire::encode_call(self.shared.opts.record_type, slices.into_iter(), &self.shared.slabs)))
    }

    fn try_enqueue(&self, call: EncodedCall) -> ZerobusResult<i64> {
        match self.shared.admit(call, None)? {
            Ok(offset) => Ok(offset),
            Err(_) => Err(ZerobusError::new(
                ErrorCode::QueueFull,
                format!(
                    "in-flight bound reached (max_inflight_requests {}, max_inflight_bytes {}); nothing was queued",
                    self.shared.opts.max_inflight_requests, self.shared.opts.max_inflight_bytes
                ),
            )),
        }
    }

    /// Queues `call` now, or takes its place in line.
    fn queue(&self, call: EncodedCall) -> ZerobusResult<Queued> {
        match self.shared.admit(call, None)? {
            Ok(offset) => Ok(Queued::Offset(Some(offset))),
            Err(call) => Ok(Queued::Waiting(PendingIngest {
                shared: self.shared.clone(),
                call: Some(call),
                ticket: self.shared.take_ticket(),
            })),
        }
    }

    async fn enqueue(&self, call: EncodedCall) -> ZerobusResult<i64> {
        match self.queue(call)? {
            Queued::Offset(Some(offset)) => Ok(offset),
            Queued::Offset(None) => unreachable!("a non-empty call always gets an offset"),
            Queued::Waiting(pending) => pending.wait().await,
        }
    }

    /// Queues one record now if there is room, else takes its place in line without waiting.
    /// Unlike the `async` forms, whose place is taken when they are first polled, this fixes the
    /// order at the moment of the call: bindings whose runtime polls futures in no fixed order
    /// use it to keep calls in call order.
    pub fn queue_record<'a>(&self, record: impl Into<RecordRef<'a>>) -> ZerobusResult<Queued> {
        let call = self.encode_one(record.into())?;
        self.queue(call)
    }

    /// [`queue_record`](Self::queue_record) for a batch (one offset); an empty batch queues nothing.
    pub fn queue_records<'a, I>(&self, records: I) -> ZerobusResult<Queued>
    where
        I: IntoIterator,
        I::Item: Into<RecordRef<'a>>,
    {
        match self.encode_many(records)? {
            None => Ok(Queued::Offset(None)),
            Some(call) => self.queue(call),
        }
    }

    /// [`queue_record`](Self::queue_record) for a batch held in one contiguous buffer.
    pub fn queue_records_contiguous(&self, data: &[u8], lengths: &[usize]) -> ZerobusResult<Queued> {
        match self.encode_contiguous(data, lengths)? {
            None => Ok(Queued::Offset(None)),
            Some(call) => self.queue(call),
        }
    }

    /// Waits until `offset` is acknowledged, the stream fails, or `flush_timeout_ms` passes.
    pub async fn wait_for_offset(&self, offset: i64) -> ZerobusResult<()> {
        let assigned = self.shared.lock().next_offset;
        if offset < 0 || offset >= assigned {
            return Err(ZerobusError::invalid_argument(format!(
                "offset {offset} was never assigned on this stream (next offset is {assigned})"
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
                "{what} within flush_timeout_ms ({} ms); records stay queued",
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
            // The server answers END_STREAM by ending the call; don't wait forever for it.
            let bound = Duration::from_millis(self.shared.opts.recovery_timeout_ms.max(100));
            if tokio::time::timeout(bound, &mut handle).await.is_err() {
                handle.abort();
            }
        }
        {
            // Stop any request stream still alive so the transport can go.
            let mut st = self.shared.lock();
            st.generation += 1;
            if let Some(w) = st.take_sender() {
                w.wake();
            }
        }
        *self.shared.channel.lock().await = None;
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
        st.generation += 1;
        let waker = st.take_sender();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        if let Some(h) = self.supervisor.get_mut().ok().and_then(Option::take) {
            h.abort();
        }
    }
}

fn check_size(bytes: usize) -> ZerobusResult<()> {
    if bytes > MAX_CALL_PAYLOAD_BYTES {
        return Err(ZerobusError::new(
            ErrorCode::RecordTooLarge,
            format!(
                "one ingest call carries {bytes} bytes of records, more than the {MAX_CALL_PAYLOAD_BYTES}-byte limit; split it (nothing was sent)"
            ),
        ));
    }
    Ok(())
}

/// A JSON record must be one JSON object. Checked here so a bad record fails its own call
/// instead of failing the whole stream on the server.
fn check_json(text: &str) -> ZerobusResult<()> {
    crate::json_check::check_object(text).map_err(ZerobusError::invalid_record)
}

// ---------------------------------------------------------------------------------------------
// Connections

/// The requests of one connection: `create_stream`, then queued calls from the cursor.
struct RequestStream {
    shared: Arc<Shared>,
    generation: u64,
    create: Option<Bytes>,
}

impl futures_core::Stream for RequestStream {
    type Item = Outgoing;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        if let Some(create) = self.create.take() {
            return Poll::Ready(Some(Outgoing::Raw(create)));
        }
        let shared = self.shared.clone();
        let mut st = shared.lock();
        if st.generation != self.generation {
            return Poll::Ready(None);
        }
        if st.ready && !st.paused && st.cursor < st.queue.len() {
            let logical = st.first_offset + st.cursor as i64;
            let call = &st.queue[st.cursor];
            let item = Outgoing::Call {
                wire_offset: logical - st.wire_base,
                batch: call.is_batch(),
                body: call.body.clone(),
            };
            let records = u64::from(call.records);
            if st.cursor == 0 {
                // Records start waiting for acks now: the lack-of-ack clock starts here.
                st.last_heard = Instant::now();
            }
            st.cursor += 1;
            let resent = logical <= st.max_sent;
            st.max_sent = st.max_sent.max(logical);
            drop(st);
            shared.counters.records_sent.fetch_add(records, Relaxed);
            if resent {
                shared.counters.records_resent.fetch_add(records, Relaxed);
            }
            return Poll::Ready(Some(item));
        }
        if st.finishing && st.cursor == st.queue.len() {
            return Poll::Ready(None); // END_STREAM
        }
        if !st.sender.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.sender = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// An open connection whose `create_stream` was answered.
struct Live {
    inbound: tonic::Streaming<zerobus_proto::EphemeralStreamResponse>,
    stream_id: String,
}

/// How a connection ended.
enum End {
    /// `close()` finished: everything acked and the server ended the call.
    Finished,
    /// The connection failed or must be replaced; `progress` says whether any ack arrived, and
    /// `paused` that the server asked for a new connection (CloseStreamSignal) and got it drained.
    Failed { error: ZerobusError, progress: bool, paused: bool },
}

async fn call_headers(shared: &Shared) -> ZerobusResult<Vec<(String, String)>> {
    match &shared.auth {
        Auth::OAuth(oauth) => {
            let (token, fetched) = oauth.token().await?;
            if fetched {
                shared.counters.token_fetches.fetch_add(1, Relaxed);
            }
            let headers = vec![
                ("authorization".to_owned(), format!("Bearer {}", token.0)),
                ("x-databricks-zerobus-table-name".to_owned(), shared.table.table_name.clone()),
            ];
            Ok(headers)
        }
        Auth::Headers(provider) => {
            let provider = provider.clone();
            let headers = tokio::task::spawn_blocking(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| provider.get_headers()))
                    .unwrap_or_else(|_| Err(ZerobusError::internal("the headers provider panicked")))
            })
            .await
            .map_err(|e| ZerobusError::internal(format!("headers provider task: {e}")))??;
            Ok(headers)
        }
    }
}

/// Opens a connection within `recovery_timeout_ms`: headers, channel, call, `create_stream`.
async fn open_connection(shared: &Arc<Shared>) -> ZerobusResult<Live> {
    let bound = Duration::from_millis(shared.opts.recovery_timeout_ms);
    match tokio::time::timeout(bound, open_connection_unbounded(shared)).await {
        Ok(r) => r,
        Err(_) => Err(ZerobusError::new(
            ErrorCode::Timeout,
            format!(
                "opening the stream on {} did not finish within recovery_timeout_ms ({} ms)",
                shared.table.table_name, shared.opts.recovery_timeout_ms
            ),
        )),
    }
}

async fn open_connection_unbounded(shared: &Arc<Shared>) -> ZerobusResult<Live> {
    let headers = call_headers(shared).await?;
    let channel = {
        let mut slot = shared.channel.lock().await;
        match slot.as_ref() {
            Some(c) => c.clone(),
            None => {
                let c = shared.sdk.connect().await?;
                *slot = Some(c.clone());
                c
            }
        }
    };
    let generation = {
        let mut st = shared.lock();
        st.generation += 1;
        st.wire_base = st.first_offset;
        st.cursor = 0;
        st.ready = false;
        st.paused = false;
        if let Some(w) = st.take_sender() {
            w.wake();
        }
        st.generation
    };
    let mut request = tonic::Request::new(RequestStream {
        shared: shared.clone(),
        generation,
        create: Some(shared.create_message.clone()),
    });
    for (name, value) in &headers {
        let name = tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| ZerobusError::invalid_argument(format!("header name {name:?} is not valid")))?;
        let value = value.parse().map_err(|_| {
            ZerobusError::invalid_argument(format!("value of header {name} is not a valid header value"))
        })?;
        request.metadata_mut().insert(name, value);
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    let failed_channel = |e: &dyn std::fmt::Display| {
        ZerobusError::new(ErrorCode::Unavailable, format!("channel not ready: {e}"))
    };
    if let Err(e) = grpc.ready().await {
        *shared.channel.lock().await = None;
        return Err(failed_channel(&e));
    }
    let path = http::uri::PathAndQuery::from_static(zerobus_proto::EPHEMERAL_STREAM_PATH);
    let response = grpc.streaming(request, path, wire::WireCodec).await.map_err(|s| status_error(&s))?;
    let mut inbound = response.into_inner();
    let first = inbound.message().await.map_err(|s| status_error(&s))?;
    let stream_id = match first.and_then(|m| m.payload) {
        Some(ResponsePayload::CreateStreamResponse(r)) => r.stream_id.unwrap_or_default(),
        Some(other) => {
            return Err(ZerobusError::new(
                ErrorCode::ProtocolError,
                format!("server answered create_stream with {other:?} instead of create_stream_response"),
            ))
        }
        None => {
            return Err(ZerobusError::new(
                ErrorCode::Unavailable,
                "server ended the stream before answering create_stream",
            ))
        }
    };
    let waker = {
        let mut st = shared.lock();
        st.ready = true;
        st.last_heard = Instant::now();
        st.take_sender()
    };
    if let Some(w) = waker {
        w.wake();
    }
    Ok(Live { inbound, stream_id })
}

fn status_error(status: &tonic::Status) -> ZerobusError {
    ZerobusError::from_status(status)
}

/// Reads acks and control messages until the connection ends.
async fn run_connection(shared: &Arc<Shared>, live: &mut Live) -> End {
    let lack_of_ack = Duration::from_millis(shared.opts.server_lack_of_ack_timeout_ms);
    let mut progress = false;
    let mut pause_deadline: Option<Instant> = None;
    let fail = |error: ZerobusError, progress: bool| End::Failed { error, progress, paused: false };
    let paused = |progress: bool| End::Failed { error: paused_error(), progress, paused: true };
    loop {
        // Wake up for whichever comes first: the lack-of-ack deadline or the pause deadline.
        // With nothing in flight, still wake every `lack_of_ack` so that records sent meanwhile
        // are timed from when they were sent (`last_heard` is set then).
        let now = Instant::now();
        let mut wake_at = now + Duration::from_secs(3600);
        if !lack_of_ack.is_zero() {
            let st = shared.lock();
            wake_at = if st.cursor > 0 { st.last_heard + lack_of_ack } else { now + lack_of_ack };
        }
        if let Some(d) = pause_deadline {
            wake_at = wake_at.min(d);
        }
        let message = tokio::time::timeout_at(wake_at.into(), live.inbound.message()).await;
        let message = match message {
            Err(_) => {
                let now = Instant::now();
                if pause_deadline.is_some_and(|d| now >= d) {
                    return paused(progress);
                }
                let st = shared.lock();
                if st.cursor > 0 && !lack_of_ack.is_zero() && now >= st.last_heard + lack_of_ack {
                    return fail(
                        ZerobusError::new(
                            ErrorCode::Unavailable,
                            format!(
                                "no acknowledgement from the server for {} ms while records wait (server_lack_of_ack_timeout_ms)",
                                lack_of_ack.as_millis()
                            ),
                        ),
                        progress,
                    );
                }
                continue;
            }
            Ok(Err(status)) => return fail(status_error(&status), progress),
            Ok(Ok(None)) => {
                let st = shared.lock();
                if st.finishing && st.queue.is_empty() {
                    return End::Finished;
                }
                return fail(ZerobusError::new(ErrorCode::Unavailable, "server ended the stream"), progress);
            }
            Ok(Ok(Some(m))) => m,
        };
        match message.payload {
            Some(ResponsePayload::IngestRecordResponse(ack)) => {
                let Some(wire_offset) = ack.durability_ack_up_to_offset else { continue };
                match apply_ack(shared, wire_offset) {
                    Ok(advanced) => progress |= advanced,
                    Err(e) => return fail(e, progress),
                }
                if pause_deadline.is_some() && shared.lock().cursor == 0 {
                    // Everything sent before the close signal is durable: reconnect now.
                    return paused(progress);
                }
            }
            Some(ResponsePayload::CloseStreamSignal(signal)) => {
                shared.lock().last_heard = Instant::now();
                if !shared.opts.recovery {
                    continue; // the server will end the call; that failure is final.
                }
                let server_wait = signal
                    .duration
                    .map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
                    .unwrap_or_default();
                let wait = shared
                    .opts
                    .stream_paused_max_wait_time_ms
                    .map(Duration::from_millis)
                    .unwrap_or(server_wait);
                let mut st = shared.lock();
                st.paused = true;
                if st.cursor == 0 || wait.is_zero() {
                    drop(st);
                    return paused(progress);
                }
                pause_deadline = Some(Instant::now() + wait);
            }
            Some(ResponsePayload::CreateStreamResponse(_)) => {
                return fail(
                    ZerobusError::new(
                        ErrorCode::ProtocolError,
                        "server sent a second create_stream_response",
                    ),
                    progress,
                );
            }
            None => {}
        }
    }
}

fn paused_error() -> ZerobusError {
    ZerobusError::new(ErrorCode::Unavailable, "server asked to close the stream (CloseStreamSignal)")
}

/// Applies a cumulative ack; returns whether it acknowledged anything new.
fn apply_ack(shared: &Shared, wire_offset: i64) -> ZerobusResult<bool> {
    let mut st = shared.lock();
    let logical = st.wire_base + wire_offset;
    let last_acked = st.first_offset - 1;
    let last_sent = st.first_offset + st.cursor as i64 - 1;
    if logical < last_acked || logical > last_sent {
        return Err(ZerobusError::new(
            ErrorCode::ProtocolError,
            format!(
                "server acknowledged offset {wire_offset} on this connection, outside the acked..sent range {}..={}",
                last_acked - st.wire_base,
                last_sent - st.wire_base
            ),
        ));
    }
    st.last_heard = Instant::now();
    if logical == last_acked {
        return Ok(false);
    }
    let n = (logical - last_acked) as usize;
    // Freed after the lock is released, so the lock is held only for bookkeeping.
    let done: Vec<EncodedCall> = st.queue.drain(..n).collect();
    for call in &done {
        st.inflight_bytes -= call.body.len();
        st.inflight_records -= u64::from(call.records);
    }
    st.cursor -= n;
    st.first_offset = logical + 1;
    drop(st);
    drop(done);
    shared.space.notify_waiters();
    shared.progress.send_modify(|p| p.acked = logical);
    if let Some(cb) = &shared.callbacks {
        cb.acked(last_acked + 1, logical);
    }
    Ok(true)
}

/// Limits reconnect attempts: `recovery_retries` in a row without an ack, and one token refresh
/// for UNAUTHENTICATED between acks.
struct RetryBudget {
    left: u32,
    auth_refresh_left: bool,
}

impl RetryBudget {
    fn new(opts: &StreamConfigurationOptions, first_open: bool) -> Self {
        let left = match (opts.recovery, first_open) {
            (false, _) => 0,
            (true, true) => opts.recovery_retries.saturating_sub(1),
            (true, false) => opts.recovery_retries,
        };
        RetryBudget { left, auth_refresh_left: true }
    }

    fn reset(&mut self, opts: &StreamConfigurationOptions) {
        *self = RetryBudget::new(opts, false);
    }

    /// Whether to try again after `error`; spends budget.
    fn allows_retry(&mut self, shared: &Shared, error: &ZerobusError) -> bool {
        if error.code() == ErrorCode::Unauthenticated && error.grpc_status().is_some() {
            // The server refused the token: drop it and try once with a fresh one.
            if !self.auth_refresh_left || !shared.opts.recovery {
                return false;
            }
            if let Auth::OAuth(oauth) = &shared.auth {
                oauth.invalidate();
            }
            self.auth_refresh_left = false;
            return true;
        }
        if !error.is_retryable() || self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

/// Keeps the stream connected: runs each connection, and on failure reconnects and resends
/// within the retry budget, or fails the stream for good.
async fn supervise(shared: Arc<Shared>, first: Live, mut budget: RetryBudget) {
    budget.reset(&shared.opts);
    let mut live = first;
    loop {
        let (mut error, progress, paused) = match run_connection(&shared, &mut live).await {
            End::Finished => return,
            End::Failed { error, progress, paused } => (error, progress, paused),
        };
        drop(live);
        if progress {
            budget.reset(&shared.opts);
        }
        {
            let st = shared.lock();
            if st.finishing && st.queue.is_empty() {
                return; // closing and nothing left to deliver: a failed END_STREAM loses nothing.
            }
        }
        tracing::debug!("stream on {} lost its connection: {error}", shared.table.table_name);
        loop {
            if !budget.allows_retry(&shared, &error) {
                let error = if shared.opts.recovery && error.is_retryable() {
                    error.context("recovery gave up (recovery_retries exhausted)")
                } else {
                    error
                };
                fail_stream(&shared, error);
                return;
            }
            if !paused && !progress {
                tokio::time::sleep(Duration::from_millis(shared.opts.recovery_backoff_ms)).await;
            }
            match open_connection(&shared).await {
                Ok(next) => {
                    shared.counters.recoveries.fetch_add(1, Relaxed);
                    live = next;
                    break;
                }
                Err(e) => error = e,
            }
        }
    }
}

/// Terminal failure: every pending offset fails, records stay for `get_unacked_*`.
fn fail_stream(shared: &Shared, error: ZerobusError) {
    let (from, to) = {
        let mut st = shared.lock();
        if st.failed.is_some() {
            return;
        }
        st.failed = Some(error.clone());
        st.generation += 1;
        if let Some(w) = st.take_sender() {
            w.wake();
        }
        (st.first_offset, st.next_offset - 1)
    };
    tracing::warn!("stream on {} failed: {error}", shared.table.table_name);
    shared.progress.send_modify(|p| p.failed = Some(error.clone()));
    shared.space.notify_waiters();
    if let Some(cb) = &shared.callbacks {
        cb.failed(from, to, error.message());
    }
}
