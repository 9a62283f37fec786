//! Ingest calls: one record or one batch per call (a batch is one contiguous buffer plus lengths,
//! so it crosses the boundary once), blocking for room, non-blocking (`try_`), or without the
//! offset (`_nowait`).
//!
//! Records come in two kinds. The `zerobus_stream_ingest_record*` calls take bytes and read them
//! as the stream's record type (JSON text on a JSON stream, an encoded proto message on a PROTO
//! stream). The `zerobus_stream_ingest_json_record*` calls take JSON text and hand it to core as
//! text (`RecordRef::Json`, or a contiguous batch marked as text): core encodes it by the table's
//! schema on a PROTO stream created from its table, and fails it `ZEROBUS_ERROR_INVALID_RECORD`
//! on any other PROTO stream, on that call only. Bindings whose callers hand over strings (Go
//! `string`, Java `String`) use them, so text never goes out as proto bytes. This crate decides
//! nothing about kinds itself.

use zerobus_core::{ErrorCode, Queued, RecordRef, RecordType, ZerobusError, ZerobusResult, ZerobusStream};

use crate::error::zerobus_error;
use crate::stream::{stream, zerobus_stream};
use crate::{arg_bytes, guard, null, runtime, write_out};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Wait for room in the in-flight bounds.
    Block,
    /// Fail with QUEUE_FULL instead of waiting.
    Try,
}

/// What the caller handed over.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Bytes, read as the stream's record type.
    Typed,
    /// JSON text.
    Json,
}

fn record<'a>(stream: &ZerobusStream, bytes: &'a [u8], kind: Kind) -> ZerobusResult<RecordRef<'a>> {
    let text = |bytes: &'a [u8]| {
        std::str::from_utf8(bytes).map(RecordRef::Json).map_err(|e| {
            ZerobusError::new(
                ErrorCode::InvalidRecord,
                format!("JSON record is not UTF-8 text: {e}; pass UTF-8"),
            )
        })
    };
    match (kind, stream.record_type()) {
        (Kind::Json, _) | (Kind::Typed, RecordType::Json) => text(bytes),
        (Kind::Typed, RecordType::Proto) => Ok(RecordRef::Proto(bytes)),
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

/// Shared body of the single-record entry points.
///
/// # Safety
/// `data` points to `len` readable bytes (any pointer when 0); `offset` is NULL or writable;
/// `err` is NULL or a writable `zerobus_error *` slot.
unsafe fn one(
    handle: *const zerobus_stream,
    data: *const u8,
    len: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
    mode: Mode,
    kind: Kind,
) -> bool {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let s = stream(handle)?;
            let bytes = arg_bytes(data, len, if kind == Kind::Json { "json" } else { "data" })?;
            let rec = record(s.core(), bytes, kind)?;
            match mode {
                Mode::Try => s.core().try_ingest_record_offset(rec),
                Mode::Block => settle(s.core().queue_record(rec)?).map(|o| o.unwrap_or(-1)),
            }
        })
        .map(|o| write_out(offset, o))
    }
    .is_some()
}

/// Shared body of the batch entry points; an empty batch stores offset -1.
///
/// # Safety
/// `data` has `data_len` readable bytes and `lengths` has `count` readable entries (any pointer
/// when the length is 0); `offset` is NULL or writable; `err` is NULL or a writable slot.
#[allow(clippy::too_many_arguments)]
unsafe fn many(
    handle: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
    mode: Mode,
    kind: Kind,
) -> bool {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let s = stream(handle)?;
            let data = arg_bytes(data, data_len, "data")?;
            let lengths = if count == 0 {
                &[][..]
            } else if lengths.is_null() {
                return Err(null("lengths"));
            } else {
                std::slice::from_raw_parts(lengths, count)
            };
            let as_kind = match kind {
                Kind::Json => RecordType::Json,
                Kind::Typed => s.core().record_type(),
            };
            match mode {
                Mode::Try => s.core().try_ingest_records_contiguous_as(as_kind, data, lengths),
                Mode::Block => settle(s.core().queue_records_contiguous_as(as_kind, data, lengths)?),
            }
        })
        .map(|o| write_out(offset, o.unwrap_or(-1)))
    }
    .is_some()
}

/// Queues one record (`len` bytes, copied; read as the stream's record type: JSON text or an
/// encoded proto message) and stores its offset in `*offset` (may be NULL). Blocks only while the
/// in-flight bounds are reached (until acks make room or the stream fails). Returns false on
/// error.
///
/// # Safety
/// `data` points to `len` readable bytes for the call (any pointer when 0); `offset` is NULL or
/// points to a writable `int64_t`; `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_ingest_record(
    stream: *const zerobus_stream,
    data: *const u8,
    len: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe { one(stream, data, len, offset, err, Mode::Block, Kind::Typed) }
}

/// Like `zerobus_stream_ingest_record` but never blocks: fails with ZEROBUS_ERROR_QUEUE_FULL
/// (nothing queued) when the in-flight bounds are reached.
///
/// # Safety
/// As `zerobus_stream_ingest_record`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_try_ingest_record(
    stream: *const zerobus_stream,
    data: *const u8,
    len: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe { one(stream, data, len, offset, err, Mode::Try, Kind::Typed) }
}

/// Queues one record without returning its offset ("fire and forget"): it is queued before this
/// returns and accounted exactly like `zerobus_stream_ingest_record` (its failure reaches the
/// error callback, flush and close). Blocks only while the in-flight bounds are reached.
///
/// # Safety
/// As `zerobus_stream_ingest_record`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_ingest_record_nowait(
    stream: *const zerobus_stream,
    data: *const u8,
    len: usize,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe { one(stream, data, len, std::ptr::null_mut(), err, Mode::Block, Kind::Typed) }
}

/// Queues a batch in ONE call under ONE offset: record `i` is the next `lengths[i]` bytes of
/// `data` (`data_len` bytes in all; the lengths must add up to it), read as the stream's record
/// type. Everything is copied once. Stores the offset in `*offset` (may be NULL), or -1 for an
/// empty batch (nothing is sent). Blocks only while the in-flight bounds are reached. Returns
/// false on error; a bad record fails the whole call and the message names its index.
///
/// # Safety
/// `data` points to `data_len` readable bytes and `lengths` to `count` readable `size_t`, for
/// the call (any pointer when the length is 0); `offset` is NULL or a writable `int64_t`; `err`
/// is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_ingest_records(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe { many(stream, data, data_len, lengths, count, offset, err, Mode::Block, Kind::Typed) }
}

/// Like `zerobus_stream_ingest_records` but never blocks: ZEROBUS_ERROR_QUEUE_FULL instead.
///
/// # Safety
/// As `zerobus_stream_ingest_records`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_try_ingest_records(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe { many(stream, data, data_len, lengths, count, offset, err, Mode::Try, Kind::Typed) }
}

/// `zerobus_stream_ingest_records` without the offset, accounted the same way.
///
/// # Safety
/// As `zerobus_stream_ingest_records`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_ingest_records_nowait(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe {
        many(stream, data, data_len, lengths, count, std::ptr::null_mut(), err, Mode::Block, Kind::Typed)
    }
}

/// Queues one JSON record (`len` bytes of UTF-8 text, copied) and stores its offset in `*offset`
/// (may be NULL). On a PROTO stream created from its table (no descriptor given) the library
/// encodes the text by the table's columns; a record that does not fit fails
/// ZEROBUS_ERROR_INVALID_RECORD naming the column (`table t: loc.lat: expected DOUBLE, got string
/// "north"`) and queues nothing. On a PROTO stream given a descriptor it fails
/// ZEROBUS_ERROR_INVALID_RECORD and queues nothing (encode it first, e.g. with
/// `zerobus_json_encoder_encode`). Either way the stream carries on. Otherwise as
/// `zerobus_stream_ingest_record`.
///
/// # Safety
/// `json` points to `len` readable bytes for the call (any pointer when 0); `offset` is NULL or a
/// writable `int64_t`; `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_ingest_json_record(
    stream: *const zerobus_stream,
    json: *const u8,
    len: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe { one(stream, json, len, offset, err, Mode::Block, Kind::Json) }
}

/// Like `zerobus_stream_ingest_json_record` but never blocks: ZEROBUS_ERROR_QUEUE_FULL instead.
///
/// # Safety
/// As `zerobus_stream_ingest_json_record`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_try_ingest_json_record(
    stream: *const zerobus_stream,
    json: *const u8,
    len: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe { one(stream, json, len, offset, err, Mode::Try, Kind::Json) }
}

/// `zerobus_stream_ingest_json_record` without the offset, accounted the same way.
///
/// # Safety
/// As `zerobus_stream_ingest_json_record`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_ingest_json_record_nowait(
    stream: *const zerobus_stream,
    json: *const u8,
    len: usize,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe { one(stream, json, len, std::ptr::null_mut(), err, Mode::Block, Kind::Json) }
}

/// A batch of JSON records in ONE call under ONE offset, laid out as for
/// `zerobus_stream_ingest_records` (each record UTF-8 text). On a PROTO stream created from its
/// table the library encodes every record by the table's columns before queuing any; a record
/// that does not fit fails the whole call with ZEROBUS_ERROR_INVALID_RECORD naming its index and
/// the column (`record 1 of the batch: table t: loc.lat: expected DOUBLE, got string "north"`).
/// On a PROTO stream given a descriptor it fails ZEROBUS_ERROR_INVALID_RECORD naming record 0.
/// Nothing of a failed call is queued. Otherwise as `zerobus_stream_ingest_records`.
///
/// # Safety
/// As `zerobus_stream_ingest_records`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_ingest_json_records(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe { many(stream, data, data_len, lengths, count, offset, err, Mode::Block, Kind::Json) }
}

/// Like `zerobus_stream_ingest_json_records` but never blocks: ZEROBUS_ERROR_QUEUE_FULL instead.
///
/// # Safety
/// As `zerobus_stream_ingest_records`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_try_ingest_json_records(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe { many(stream, data, data_len, lengths, count, offset, err, Mode::Try, Kind::Json) }
}

/// `zerobus_stream_ingest_json_records` without the offset, accounted the same way.
///
/// # Safety
/// As `zerobus_stream_ingest_records`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_ingest_json_records_nowait(
    stream: *const zerobus_stream,
    data: *const u8,
    data_len: usize,
    lengths: *const usize,
    count: usize,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: forwarded under this function's contract.
    unsafe {
        many(stream, data, data_len, lengths, count, std::ptr::null_mut(), err, Mode::Block, Kind::Json)
    }
}
