//! Streams: ingest (single, batch in one call, nowait, non-blocking), wait, flush, close,
//! unacked records, metrics; and the JSON → proto encoder.

use std::ffi::c_char;

use prost::Message;
use zerobus_core::{
    ErrorCode, JsonToProto, Queued, RecordRef, RecordType, ZerobusError, ZerobusResult, ZerobusStream,
};

use crate::error::zerobus_error;
use crate::memory::{zerobus_batches, zerobus_buffer};
use crate::{arg_bytes, guard, null, runtime};

/// An open stream into one table. Thread-safe. Close it with `zerobus_stream_close`, then free it.
pub struct zerobus_stream {
    inner: ZerobusStream,
}

impl zerobus_stream {
    pub(crate) fn boxed(inner: ZerobusStream) -> *mut zerobus_stream {
        Box::into_raw(Box::new(zerobus_stream { inner }))
    }
}

/// A point-in-time view of a stream's counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct zerobus_metrics {
    /// Calls queued and not yet acknowledged.
    pub inflight_requests: u64,
    /// Records in those calls.
    pub inflight_records: u64,
    /// Encoded bytes held for those calls.
    pub inflight_bytes: u64,
    /// Highest acknowledged offset, or -1 if none.
    pub last_acked_offset: i64,
    /// Records handed to the transport, resends included.
    pub records_sent: u64,
    /// Records sent again after a reconnect.
    pub records_resent: u64,
    /// Successful reconnects.
    pub recoveries: u64,
    /// Token endpoint requests made by this stream.
    pub token_fetches: u64,
}

/// # Safety
/// `stream` is NULL or a live stream handle not raced by `zerobus_stream_free`.
unsafe fn stream_ref<'a>(stream: *const zerobus_stream) -> ZerobusResult<&'a ZerobusStream> {
    // SAFETY: per the function contract.
    unsafe { stream.as_ref() }.map(|s| &s.inner).ok_or_else(|| null("stream"))
}

fn record<'a>(stream: &ZerobusStream, bytes: &'a [u8]) -> ZerobusResult<RecordRef<'a>> {
    Ok(match stream.record_type() {
        RecordType::Proto => RecordRef::Proto(bytes),
        RecordType::Json => RecordRef::Json(std::str::from_utf8(bytes).map_err(|e| {
            ZerobusError::new(ErrorCode::InvalidRecord, format!("JSON record is not UTF-8: {e}"))
        })?),
    })
}

fn write_offset(out: *mut i64, value: i64) {
    if !out.is_null() {
        // SAFETY: non-null output pointers are writable per the header contract.
        unsafe { *out = value };
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Wait for room in the in-flight bounds.
    Block,
    /// Fail with QUEUE_FULL instead of waiting.
    Try,
}

fn ingest_one(stream: &ZerobusStream, bytes: &[u8], mode: Mode) -> ZerobusResult<i64> {
    let rec = record(stream, bytes)?;
    match mode {
        Mode::Try => stream.try_ingest_record_offset(rec),
        Mode::Block => settle(stream.queue_record(rec)?).map(|o| o.unwrap_or(-1)),
    }
}

/// Returns a queued call's offset, entering the runtime only when the call has to wait for room
/// (the common case is queued at once, with the record encoded once either way).
fn settle(queued: Queued) -> ZerobusResult<Option<i64>> {
    match queued {
        Queued::Offset(offset) => Ok(offset),
        Queued::Waiting(pending) => runtime().block_on(pending.wait()).map(Some),
    }
}

/// # Safety
/// `data` has `data_len` readable bytes and `lengths` has `count` readable entries, for the call.
unsafe fn ingest_many(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    mode: Mode,
) -> ZerobusResult<Option<i64>> {
    // SAFETY: per the function contract.
    let stream = unsafe { stream_ref(stream) }?;
    // SAFETY: per the function contract.
    let data = unsafe { arg_bytes(data, data_len, "data") }?;
    let lengths = if count == 0 {
        &[][..]
    } else if lengths.is_null() {
        return Err(null("lengths"));
    } else {
        // SAFETY: non-null with `count` readable entries per the contract.
        unsafe { std::slice::from_raw_parts(lengths, count) }
    };
    match mode {
        Mode::Try => stream.try_ingest_records_contiguous_offset(data, lengths),
        Mode::Block => settle(stream.queue_records_contiguous(data, lengths)?),
    }
}

/// Shared body of the single-record entry points.
fn ingest_record_c(
    stream: *const zerobus_stream,
    data: *const u8,
    len: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
    mode: Mode,
) -> bool {
    guard(err, || {
        // SAFETY: per the header contract for `stream` and `data`/`len`.
        let (s, bytes) = unsafe { (stream_ref(stream)?, arg_bytes(data, len, "data")?) };
        ingest_one(s, bytes, mode)
    })
    .map(|o| write_offset(offset, o))
    .is_some()
}

/// Shared body of the batch entry points; an empty batch stores offset -1. The arguments are
/// the C entry point's, one for one.
#[allow(clippy::too_many_arguments)]
fn ingest_records_c(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
    mode: Mode,
) -> bool {
    // SAFETY: per the header contract of every pointer argument.
    guard(err, || unsafe { ingest_many(stream, data, data_len, lengths, count, mode) })
        .map(|o| write_offset(offset, o.unwrap_or(-1)))
        .is_some()
}

/// Queues one record (JSON text or proto bytes, `len` bytes, copied) and stores its offset in
/// `*offset` (may be NULL). Blocks only while the in-flight bounds are reached (until acks make
/// room or the stream fails). Returns false on error.
#[no_mangle]
pub extern "C" fn zerobus_stream_ingest_record(
    stream: *const zerobus_stream,
    data: *const u8,
    len: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    ingest_record_c(stream, data, len, offset, err, Mode::Block)
}

/// Like `zerobus_stream_ingest_record` but never blocks: fails with ZEROBUS_ERROR_QUEUE_FULL
/// (nothing queued) when the in-flight bounds are reached.
#[no_mangle]
pub extern "C" fn zerobus_stream_try_ingest_record(
    stream: *const zerobus_stream,
    data: *const u8,
    len: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    ingest_record_c(stream, data, len, offset, err, Mode::Try)
}

/// Queues one record without returning its offset ("fire and forget"): it is queued before this
/// returns and accounted exactly like `zerobus_stream_ingest_record` (its failure reaches the
/// error callback, flush and close). Blocks only while the in-flight bounds are reached.
#[no_mangle]
pub extern "C" fn zerobus_stream_ingest_record_nowait(
    stream: *const zerobus_stream,
    data: *const u8,
    len: usize,
    err: *mut *mut zerobus_error,
) -> bool {
    ingest_record_c(stream, data, len, std::ptr::null_mut(), err, Mode::Block)
}

/// Queues a batch in ONE call under ONE offset: record `i` is the next `lengths[i]` bytes of
/// `data` (`data_len` bytes in all; the lengths must add up to it). Everything is copied once.
/// Stores the offset in `*offset` (may be NULL), or -1 for an empty batch (nothing is sent).
/// Blocks only while the in-flight bounds are reached. Returns false on error.
#[no_mangle]
pub extern "C" fn zerobus_stream_ingest_records(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    ingest_records_c(stream, data, data_len, lengths, count, offset, err, Mode::Block)
}

/// Like `zerobus_stream_ingest_records` but never blocks: ZEROBUS_ERROR_QUEUE_FULL instead.
#[no_mangle]
pub extern "C" fn zerobus_stream_try_ingest_records(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    ingest_records_c(stream, data, data_len, lengths, count, offset, err, Mode::Try)
}

/// `zerobus_stream_ingest_records` without the offset, accounted the same way.
#[no_mangle]
pub extern "C" fn zerobus_stream_ingest_records_nowait(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    err: *mut *mut zerobus_error,
) -> bool {
    ingest_records_c(stream, data, data_len, lengths, count, std::ptr::null_mut(), err, Mode::Block)
}

/// Runs one of the stream's blocking operations on the library runtime.
fn block_on_stream<'a, F: std::future::Future<Output = ZerobusResult<()>>>(
    stream: *const zerobus_stream,
    err: *mut *mut zerobus_error,
    op: impl FnOnce(&'a ZerobusStream) -> F,
) -> bool {
    guard(err, || {
        // SAFETY: per the header contract.
        let s = unsafe { stream_ref(stream) }?;
        runtime().block_on(op(s))
    })
    .is_some()
}

/// Blocks until `offset` is acknowledged (true), the stream fails, or flush_timeout_ms passes.
#[no_mangle]
pub extern "C" fn zerobus_stream_wait_for_offset(
    stream: *const zerobus_stream,
    offset: i64,
    err: *mut *mut zerobus_error,
) -> bool {
    block_on_stream(stream, err, |s| async move { s.wait_for_offset(offset).await })
}

/// Blocks until every record queued so far is acknowledged, at most flush_timeout_ms.
#[no_mangle]
pub extern "C" fn zerobus_stream_flush(stream: *const zerobus_stream, err: *mut *mut zerobus_error) -> bool {
    block_on_stream(stream, err, |s| async move { s.flush().await })
}

/// Flushes, half-closes, waits for the server, stops callbacks. Idempotent (a second call
/// returns the first one's result). Blocks at most flush_timeout_ms + recovery_timeout_ms +
/// callback_max_wait_time_ms. After it returns no callback runs.
#[no_mangle]
pub extern "C" fn zerobus_stream_close(stream: *const zerobus_stream, err: *mut *mut zerobus_error) -> bool {
    block_on_stream(stream, err, |s| async move { s.close().await })
}

/// Whether the stream no longer accepts records (closed or failed). False for NULL.
#[no_mangle]
pub extern "C" fn zerobus_stream_is_closed(stream: *const zerobus_stream) -> bool {
    // SAFETY: per the header contract.
    unsafe { stream_ref(stream) }.map(|s| s.is_closed()).unwrap_or(false)
}

/// Every unacknowledged call as a batch of records, in offset order (after a terminal failure:
/// what to re-ingest on a new stream). Free with `zerobus_batches_free`. NULL on error.
#[no_mangle]
pub extern "C" fn zerobus_stream_get_unacked_batches(
    stream: *const zerobus_stream,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_batches {
    guard(err, || {
        // SAFETY: per the header contract.
        let s = unsafe { stream_ref(stream) }?;
        Ok(Box::into_raw(Box::new(zerobus_batches { batches: s.get_unacked_batches() })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Every unacknowledged record in order, as ONE batch holding all of them.
/// Free with `zerobus_batches_free`. NULL on error.
#[no_mangle]
pub extern "C" fn zerobus_stream_get_unacked_records(
    stream: *const zerobus_stream,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_batches {
    guard(err, || {
        // SAFETY: per the header contract.
        let s = unsafe { stream_ref(stream) }?;
        Ok(Box::into_raw(Box::new(zerobus_batches { batches: vec![s.get_unacked_records()] })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Fills `*out` with the stream's counters. Never blocks.
#[no_mangle]
pub extern "C" fn zerobus_stream_metrics(
    stream: *const zerobus_stream,
    out: *mut zerobus_metrics,
    err: *mut *mut zerobus_error,
) -> bool {
    guard(err, || {
        // SAFETY: per the header contract.
        let s = unsafe { stream_ref(stream) }?;
        if out.is_null() {
            return Err(null("out"));
        }
        let m = s.metrics();
        let value = zerobus_metrics {
            inflight_requests: m.inflight_requests,
            inflight_records: m.inflight_records,
            inflight_bytes: m.inflight_bytes,
            last_acked_offset: m.last_acked_offset.unwrap_or(-1),
            records_sent: m.records_sent,
            records_resent: m.records_resent,
            recoveries: m.recoveries,
            token_fetches: m.token_fetches,
        };
        // SAFETY: non-null and writable per the contract.
        unsafe { *out = value };
        Ok(())
    })
    .is_some()
}

/// Frees a stream. NULL is a no-op. Call `zerobus_stream_close` first: freeing an open stream
/// stops it at once and abandons unacknowledged records.
#[no_mangle]
pub extern "C" fn zerobus_stream_free(stream: *mut zerobus_stream) {
    if !stream.is_null() {
        // SAFETY: came from Box::into_raw; freed once. Dropping inside the runtime lets the
        // stream's background tasks be cancelled cleanly.
        let boxed = unsafe { Box::from_raw(stream) };
        let _guard = runtime().enter();
        drop(boxed);
    }
}

/// Encodes JSON objects as proto records of one message type (PROTO streams).
pub struct zerobus_json_encoder {
    inner: JsonToProto,
}

/// An encoder for the message described by `descriptor` (a serialized DescriptorProto,
/// `len` bytes, copied). NULL on error.
#[no_mangle]
pub extern "C" fn zerobus_json_encoder_new(
    descriptor: *const u8,
    len: usize,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_json_encoder {
    guard(err, || {
        // SAFETY: `descriptor` points to `len` readable bytes for this call.
        let bytes = unsafe { arg_bytes(descriptor, len, "descriptor") }?;
        let d = prost_types::DescriptorProto::decode(bytes).map_err(|e| {
            ZerobusError::new(
                ErrorCode::InvalidArgument,
                format!("descriptor is not a serialized DescriptorProto: {e}"),
            )
        })?;
        let inner = JsonToProto::new(&d)
            .map_err(|e| ZerobusError::new(ErrorCode::InvalidArgument, format!("descriptor: {e}")))?;
        Ok(Box::into_raw(Box::new(zerobus_json_encoder { inner })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Encodes one JSON object (`json_len` bytes of UTF-8, copied) to proto bytes in a new buffer
/// (free with `zerobus_buffer_free`). The error names the field when a value does not fit.
#[no_mangle]
pub extern "C" fn zerobus_json_encoder_encode(
    encoder: *const zerobus_json_encoder,
    json: *const c_char,
    json_len: usize,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_buffer {
    guard(err, || {
        // SAFETY: NULL or a live encoder.
        let enc = unsafe { encoder.as_ref() }.ok_or_else(|| null("encoder"))?;
        // SAFETY: `json` points to `json_len` readable bytes for this call.
        let bytes = unsafe { arg_bytes(json.cast(), json_len, "json") }?;
        let text = std::str::from_utf8(bytes)
            .map_err(|e| ZerobusError::new(ErrorCode::InvalidRecord, format!("JSON is not UTF-8: {e}")))?;
        let data =
            enc.inner.encode(text).map_err(|e| ZerobusError::new(ErrorCode::InvalidRecord, e.to_string()))?;
        Ok(Box::into_raw(Box::new(zerobus_buffer { data })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Frees an encoder. NULL is a no-op.
#[no_mangle]
pub extern "C" fn zerobus_json_encoder_free(encoder: *mut zerobus_json_encoder) {
    if !encoder.is_null() {
        // SAFETY: came from Box::into_raw; freed once.
        drop(unsafe { Box::from_raw(encoder) });
    }
}
