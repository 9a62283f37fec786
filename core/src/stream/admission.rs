//! Admission: a call's records are checked and encoded once, then queued under the next offset
//! if the in-flight bounds allow, first come first served. Calls that find no room take a ticket
//! (a place in line) and wait; the non-blocking form fails with `QUEUE_FULL` instead.

use std::sync::Arc;
use std::task::Poll;

use super::state::{Shared, State};
use super::RecordRef;
use crate::options::{RecordType, MAX_CALL_PAYLOAD_BYTES};
use crate::wire::{self, EncodedCall};
use crate::{ErrorCode, ZerobusError, ZerobusResult};

impl Shared {
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
        let size = call.size();
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
        let next = if let Some(t) = ticket {
            st.waiting.remove(&t);
            advance_turn(&mut st);
            st.take_turn_waker()
        } else {
            None
        };
        let waker = st.take_sender();
        drop(st);
        if turn_passed {
            // The next ticket holder may fit too, and a flush may be waiting for this turn.
            if let Some(w) = next {
                w.wake();
            }
            self.space.notify_waiters();
        }
        if let Some(w) = waker {
            w.wake();
        }
        Ok(Ok(offset))
    }

    /// An empty batch queues nothing, but on a closed or failed stream it fails like any other
    /// call, so callers learn the stream is gone.
    pub(super) fn check_open(&self) -> ZerobusResult<()> {
        let st = self.lock();
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        if st.closing {
            return Err(ZerobusError::closed());
        }
        Ok(())
    }

    /// Takes a place in line for a call that found no room.
    fn take_ticket(&self) -> u64 {
        let mut st = self.lock();
        st.next_ticket += 1;
        st.next_ticket - 1
    }

    /// Queues `call` now or fails with `QUEUE_FULL`.
    pub(crate) fn try_enqueue(&self, call: EncodedCall) -> ZerobusResult<i64> {
        match self.admit(call, None)? {
            Ok(offset) => Ok(offset),
            Err(_) => Err(ZerobusError::new(
                ErrorCode::QueueFull,
                format!(
                    "in-flight bound reached (max_inflight_requests {}, max_inflight_bytes {}); nothing was queued: wait for acks or use the blocking call",
                    self.opts.max_inflight_requests, self.opts.max_inflight_bytes
                ),
            )),
        }
    }

    /// Queues `call` now, or takes its place in line.
    pub(crate) fn queue(self: &Arc<Self>, call: EncodedCall) -> ZerobusResult<Queued> {
        match self.admit(call, None)? {
            Ok(offset) => Ok(Queued::Offset(Some(offset))),
            Err(call) => Ok(Queued::Waiting(PendingIngest {
                shared: self.clone(),
                call: Some(call),
                ticket: self.take_ticket(),
            })),
        }
    }

    /// Queues `call`, waiting for room if needed.
    pub(crate) async fn enqueue(self: &Arc<Self>, call: EncodedCall) -> ZerobusResult<i64> {
        match self.queue(call)? {
            Queued::Offset(Some(offset)) => Ok(offset),
            Queued::Offset(None) => unreachable!("a non-empty call always gets an offset"),
            Queued::Waiting(pending) => pending.wait().await,
        }
    }

    fn check_kind(&self, record: &RecordRef<'_>) -> ZerobusResult<()> {
        let table = &self.table.table_name;
        match (self.opts.record_type, record) {
            (RecordType::Json, RecordRef::Json(text)) => check_json(text),
            (RecordType::Proto, RecordRef::Proto(_)) => Ok(()),
            (RecordType::Json, RecordRef::Proto(_)) => Err(ZerobusError::invalid_record(format!(
                "record type mismatch: proto bytes given to a JSON stream on table {table}; pass JSON text, or open the stream with RecordType PROTO"
            ))),
            (RecordType::Proto, RecordRef::Json(_)) => Err(ZerobusError::invalid_record(format!(
                "record type mismatch: JSON text given to a PROTO stream on table {table}; encode it first (e.g. with JsonToProto), open the stream from the table (PROTO with no descriptor: JSON is then encoded by the table's schema), or open it with RecordType JSON"
            ))),
        }
    }

    /// Whether JSON records are encoded here, by the table's schema (a PROTO stream opened from
    /// its table), rather than refused as the wrong kind.
    fn typed(&self) -> Option<&zerobus_schema::TypedEncoder> {
        match (&self.from_table, self.opts.record_type) {
            (Some(t), RecordType::Proto) => Some(&t.encoder),
            _ => None,
        }
    }

    /// Checks and encodes a call on a stream opened from its table: JSON records become proto
    /// bytes by the table's schema (all of them before anything is queued), proto bytes pass.
    fn encode_typed(
        &self,
        encoder: &zerobus_schema::TypedEncoder,
        records: &[RecordRef<'_>],
        batch: bool,
    ) -> ZerobusResult<EncodedCall> {
        let table = &self.table.table_name;
        let mut encoded = Vec::new();
        let mut ends = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let in_batch =
                |e: ZerobusError| if batch { e.context(&format!("record {i} of the batch")) } else { e };
            match r {
                RecordRef::Json(text) => {
                    encoder.encode(text, &mut encoded).map_err(|e| {
                        in_batch(ZerobusError::invalid_record(format!(
                            "table {table}: {e}; nothing was queued, the stream carries on"
                        )))
                    })?;
                    ends.push(Some(encoded.len()));
                }
                RecordRef::Proto(_) => ends.push(None),
            }
        }
        let mut start = 0;
        let slices: Vec<&[u8]> = records
            .iter()
            .zip(&ends)
            .map(|(r, end)| match end {
                Some(end) => {
                    let s = &encoded[start..*end];
                    start = *end;
                    s
                }
                None => r.bytes(),
            })
            .collect();
        check_size(slices.iter().map(|s| s.len()).sum())?;
        Ok(wire::encode_call(self.opts.record_type, slices.iter().copied(), &self.slabs))
    }

    /// Checks and encodes one record.
    pub(super) fn encode_one(&self, record: RecordRef<'_>) -> ZerobusResult<EncodedCall> {
        if let Some(encoder) = self.typed() {
            return self.encode_typed(encoder, &[record], false);
        }
        self.check_kind(&record)?;
        check_size(record.bytes().len())?;
        Ok(wire::encode_call(self.opts.record_type, std::iter::once(record.bytes()), &self.slabs))
    }

    /// Checks and encodes a batch; `None` for an empty one. A bad record fails the whole call and
    /// the error names its index.
    pub(super) fn encode_many<'a, I>(&self, records: I) -> ZerobusResult<Option<EncodedCall>>
    where
        I: IntoIterator,
        I::Item: Into<RecordRef<'a>>,
    {
        let records: Vec<RecordRef<'a>> = records.into_iter().map(Into::into).collect();
        if records.is_empty() {
            return Ok(None);
        }
        if let Some(encoder) = self.typed() {
            return self.encode_typed(encoder, &records, true).map(Some);
        }
        let mut total = 0usize;
        for (i, r) in records.iter().enumerate() {
            self.check_kind(r).map_err(|e| e.context(&format!("record {i} of the batch")))?;
            total += r.bytes().len();
        }
        check_size(total)?;
        let slices = records.iter().map(|r| r.bytes());
        Ok(Some(wire::encode_call(self.opts.record_type, slices, &self.slabs)))
    }

    /// Checks and encodes a batch held in one buffer: record `i` is the next `lengths[i]` bytes.
    /// The bytes are taken as the stream's own kind (text on JSON streams); bindings that know
    /// whether the caller handed text or bytes use [`encode_contiguous_as`](Self::encode_contiguous_as).
    pub(super) fn encode_contiguous(
        &self,
        data: &[u8],
        lengths: &[usize],
    ) -> ZerobusResult<Option<EncodedCall>> {
        self.encode_contiguous_as(data, lengths, self.opts.record_type == RecordType::Json)
    }

    /// [`encode_contiguous`](Self::encode_contiguous) where `text` says whether the caller handed
    /// JSON text (`true`) or encoded bytes (`false`), checked against the stream's kind like the
    /// single-record calls.
    pub(super) fn encode_contiguous_as(
        &self,
        data: &[u8],
        lengths: &[usize],
        text: bool,
    ) -> ZerobusResult<Option<EncodedCall>> {
        if lengths.is_empty() {
            return Ok(None);
        }
        let mut total = 0usize;
        for len in lengths {
            total = total.checked_add(*len).ok_or_else(|| {
                ZerobusError::invalid_argument(
                    "batch lengths overflow when added up; pass the length of each record",
                )
            })?;
        }
        if total != data.len() {
            return Err(ZerobusError::invalid_argument(format!(
                "batch lengths add up to {total} bytes but the buffer holds {}; pass one length per record",
                data.len()
            )));
        }
        if let (Some(encoder), true) = (self.typed(), text) {
            let mut records = Vec::with_capacity(lengths.len());
            let mut pos = 0;
            for (i, len) in lengths.iter().enumerate() {
                let rec = &data[pos..pos + len];
                pos += len;
                records.push(RecordRef::Json(std::str::from_utf8(rec).map_err(|e| {
                    ZerobusError::invalid_record(format!(
                        "record {i} of the batch is not UTF-8 text: {e}; JSON records must be UTF-8"
                    ))
                })?));
            }
            return self.encode_typed(encoder, &records, true).map(Some);
        }
        check_size(total)?;
        let mut slices = Vec::with_capacity(lengths.len());
        let mut pos = 0;
        for (i, len) in lengths.iter().enumerate() {
            let rec = &data[pos..pos + len];
            pos += len;
            let as_ref = if text {
                RecordRef::Json(std::str::from_utf8(rec).map_err(|e| {
                    ZerobusError::invalid_record(format!(
                        "record {i} of the batch is not UTF-8 text: {e}; JSON records must be UTF-8"
                    ))
                })?)
            } else {
                RecordRef::Proto(rec)
            };
            self.check_kind(&as_ref).map_err(|e| e.context(&format!("record {i} of the batch")))?;
            slices.push(rec);
        }
        Ok(Some(wire::encode_call(self.opts.record_type, slices.into_iter(), &self.slabs)))
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
        std::future::poll_fn(|cx| {
            // Register before checking, so room that appears between the check and the
            // return of `Pending` wakes this call.
            shared.lock().waiting.insert(self.ticket, cx.waker().clone());
            let call = self.call.take().expect("a pending call is queued at most once");
            match shared.admit(call, Some(self.ticket)) {
                Ok(Ok(offset)) => Poll::Ready(Ok(offset)),
                Ok(Err(back)) => {
                    self.call = Some(back);
                    Poll::Pending
                }
                Err(e) => {
                    self.give_up();
                    Poll::Ready(Err(e))
                }
            }
        })
        .await
    }

    fn give_up(&self) {
        let mut st = self.shared.lock();
        st.waiting.remove(&self.ticket);
        let next = if st.serving == self.ticket {
            advance_turn(&mut st);
            st.take_turn_waker()
        } else {
            st.abandoned.insert(self.ticket);
            None
        };
        drop(st);
        if let Some(w) = next {
            w.wake();
        }
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
    crate::json_check::check_object(text).map_err(|why| {
        ZerobusError::invalid_record(format!(
            "{why}; each record must be one JSON object (nothing was queued, the stream carries on)"
        ))
    })
}
