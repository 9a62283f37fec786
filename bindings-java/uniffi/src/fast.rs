//! The ingest calls' fast path: plain JNI entry points of the Kotlin class
//! `com.databricks.zerobus.kotlin.NativeIngest`, exported from the same library as the uniffi
//! scaffolding.
//!
//! Why not uniffi: uniffi 0.29's Kotlin bindings reach Rust through JNA's interface mapping (a few
//! microseconds per crossing), lower a `ByteArray` into a freshly allocated `RustBuffer` (another
//! crossing), and run an `async` method as a Rust future polled from Kotlin with several more
//! crossings and a suspension. A single-record call costing ten crossings is slower than the core
//! by two orders of magnitude. These functions take only primitives, so a call is one JNI
//! crossing (tens of nanoseconds) and needs no `JNIEnv`.
//!
//! Each call queues at once through the core's `queue_record` / `queue_records_contiguous`.
//! When the in-flight bounds are reached the call has still taken its place in line (offsets
//! follow call order); its `PendingIngest` goes back to Kotlin as a handle, and Kotlin awaits it
//! with the uniffi `suspend` function [`wait_pending`]: the slow path costs what it did before,
//! and only when the caller has to wait anyway. Errors go back the same way, as a handle that
//! [`take_error`] turns into the usual `FfiError`.
//!
//! Memory contract with the Kotlin layer: `buf` is the address of native memory Kotlin owns
//! (a direct `ByteBuffer` or a JNA `Memory`), at least 8 bytes of result slot followed by the call:
//! for one record its bytes; for a batch `count` little-endian `u32` lengths, then the records.
//! Kotlin keeps it valid and untouched by other threads until the call returns; the core copies
//! what it keeps before returning.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use zerobus_core::{ErrorCode, PendingIngest, Queued, RecordRef, ZerobusError, ZerobusStream};

use crate::{internal, native_batch, FfiError, InRuntime};

/// Return values below 0 (an offset is never negative).
const PENDING: i64 = -1;
const FAILED: i64 = -2;
const EMPTY: i64 = -3;

/// Mode bit: fail with `QUEUE_FULL` instead of answering `PENDING` when the bounds are reached.
const MODE_TRY: i32 = 1;
/// Mode bit (single records): the bytes are JSON text (Kotlin's `String` overloads), else an
/// encoded proto message; the core rejects the kind that does not match the stream.
const MODE_TEXT: i32 = 2;

/// Bytes at the start of `buf` where a `PENDING` or `FAILED` handle is written.
const SLOT: usize = 8;

type JniEnv = *mut c_void;
type JClass = *mut c_void;

/// A call waiting for room, owned by Kotlin between `queue*` and `pendingFree`. The `Mutex`
/// lets [`wait_pending`] take the call out while `pendingFree` stays the one owner of the box.
pub(crate) struct PendingSlot(Mutex<Option<PendingIngest>>);

/// An `Arc<ZerobusStream>` for the fast path, owned by the Kotlin `ZerobusStream` that asked for
/// it (`FfiStream::fast_handle`) until it passes it to `release`.
pub(crate) fn stream_handle(stream: &Arc<ZerobusStream>) -> i64 {
    Arc::into_raw(stream.clone()) as usize as i64
}

fn to_handle<T>(value: T) -> u64 {
    Box::into_raw(Box::new(value)) as usize as u64
}

/// Writes a handle to the result slot and returns `code`.
///
/// # Safety
/// `buf` points to at least [`SLOT`] writable bytes.
unsafe fn answer<T>(buf: *mut u8, code: i64, value: T) -> i64 {
    // SAFETY: the caller guarantees `SLOT` writable bytes at `buf`; Kotlin does not promise 8-byte
    // alignment, so the write is unaligned. Little-endian, as Kotlin reads it.
    unsafe { std::ptr::write_unaligned(buf as *mut [u8; SLOT], to_handle(value).to_le_bytes()) };
    code
}

/// Turns what the core did into the return protocol: an offset, or a handle in the slot.
///
/// # Safety
/// As [`answer`].
unsafe fn reply(
    buf: *mut u8,
    result: Result<Result<Queued, ZerobusError>, Box<dyn std::any::Any + Send>>,
) -> i64 {
    let err = match result {
        Ok(Ok(Queued::Offset(Some(offset)))) => return offset,
        Ok(Ok(Queued::Offset(None))) => return EMPTY,
        Ok(Ok(Queued::Waiting(p))) => {
            // SAFETY: forwarded from the caller.
            return unsafe { answer(buf, PENDING, PendingSlot(Mutex::new(Some(p)))) };
        }
        Ok(Err(e)) => FfiError::from(e),
        Err(_) => internal("the SDK panicked; this is a bug, please report it"),
    };
    // SAFETY: forwarded from the caller.
    unsafe { answer(buf, FAILED, err) }
}

/// Borrows the stream behind a handle from [`stream_handle`].
///
/// # Safety
/// `stream` came from [`stream_handle`] and has not been passed to `release`.
unsafe fn stream_ref<'a>(stream: i64) -> &'a ZerobusStream {
    // SAFETY: the caller guarantees the `Arc` is still owned by the Kotlin stream, so the
    // pointee lives at least as long as this call.
    unsafe { &*(stream as usize as *const ZerobusStream) }
}

/// `NativeIngest.queueOne(stream, buf, len, mode)`: one record of `len` bytes at `buf + 8`
/// (`mode`: [`MODE_TRY`], [`MODE_TEXT`]).
/// Returns its offset, `PENDING` or `FAILED` (handle in the slot).
///
/// # Safety
/// `stream` is a live handle from `FfiStream::fast_handle`; `buf` points to `8 + len` bytes as
/// described in the module documentation.
#[no_mangle]
pub unsafe extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_queueOne(
    _env: JniEnv,
    _class: JClass,
    stream: i64,
    buf: i64,
    len: i32,
    mode: i32,
) -> i64 {
    let buf = buf as usize as *mut u8;
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's contract: a live stream handle, and `len` readable bytes after the
        // slot that nobody changes until this call returns.
        let (s, bytes) =
            unsafe { (stream_ref(stream), std::slice::from_raw_parts(buf.add(SLOT), len.max(0) as usize)) };
        let record = if mode & MODE_TEXT != 0 {
            // Kotlin encoded a `String`, so this holds unless the caller broke the contract.
            RecordRef::Json(std::str::from_utf8(bytes).map_err(|e| {
                ZerobusError::new(ErrorCode::InvalidRecord, format!("the record is not UTF-8: {e}"))
            })?)
        } else {
            RecordRef::Proto(bytes)
        };
        if mode & MODE_TRY == 0 {
            s.queue_record(record)
        } else {
            s.try_ingest_record_offset(record).map(|o| Queued::Offset(Some(o)))
        }
    }));
    // SAFETY: `buf` holds the slot (the caller's contract).
    unsafe { reply(buf, result) }
}

/// `NativeIngest.queueBatch(stream, buf, count, dataLen, mode)`: a batch under one offset (`mode`:
/// [`MODE_TRY`]; the stream's record type says how to read the records),
/// `count` lengths at `buf + 8` and then `dataLen` bytes of records. Returns its offset,
/// `EMPTY` (no records: nothing queued), `PENDING` or `FAILED`.
///
/// # Safety
/// `stream` is a live handle from `FfiStream::fast_handle`; `buf` points to
/// `8 + 4 * count + dataLen` bytes as described in the module documentation.
#[no_mangle]
pub unsafe extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_queueBatch(
    _env: JniEnv,
    _class: JClass,
    stream: i64,
    buf: i64,
    count: i32,
    data_len: i64,
    mode: i32,
) -> i64 {
    let buf = buf as usize as *mut u8;
    let result = catch_unwind(AssertUnwindSafe(|| {
        if count < 0 || data_len < 0 {
            return Err(ZerobusError::new(ErrorCode::InvalidArgument, "negative batch size"));
        }
        // SAFETY: the caller's contract (a live stream handle).
        let s = unsafe { stream_ref(stream) };
        // SAFETY: the caller's contract: `4 * count + data_len` readable bytes after the slot.
        let (data, lengths) = unsafe { native_batch(buf.add(SLOT), count as usize, data_len as usize) }?;
        if mode & MODE_TRY == 0 {
            s.queue_records_contiguous(data, &lengths)
        } else {
            s.try_ingest_records_contiguous_offset(data, &lengths).map(Queued::Offset)
        }
    }));
    // SAFETY: `buf` holds the slot (the caller's contract).
    unsafe { reply(buf, result) }
}

/// `NativeIngest.pendingFree(handle)`: drops a `PENDING` handle. If [`wait_pending`] did not take
/// the call out (never called, or cancelled before its first poll), dropping it gives its place
/// in line up, so a cancelled coroutine never stalls the calls behind it.
///
/// # Safety
/// `handle` came from a `PENDING` answer and is freed once.
#[no_mangle]
pub unsafe extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_pendingFree(
    _env: JniEnv,
    _class: JClass,
    handle: i64,
) {
    // SAFETY: the caller's contract: a box from `to_handle`, freed once. Dropping a
    // `PendingIngest` does not panic (it takes a lock and notifies).
    drop(unsafe { Box::from_raw(handle as usize as *mut PendingSlot) });
}

/// `NativeIngest.release(stream)`: gives back a handle from `FfiStream::fast_handle`.
///
/// # Safety
/// `stream` came from `fast_handle`, is released once, and no call using it is running or
/// will start.
#[no_mangle]
pub unsafe extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_release(
    _env: JniEnv,
    _class: JClass,
    stream: i64,
) {
    // SAFETY: the caller's contract: one `Arc::into_raw` reference, given back once.
    drop(unsafe { Arc::from_raw(stream as usize as *const ZerobusStream) });
}

/// Waits for room for a call the fast path answered `PENDING` for, queues it and returns its
/// offset. Kotlin frees the handle (`pendingFree`) after this returns, whether it succeeded,
/// failed or was cancelled.
#[uniffi::export]
pub async fn wait_pending(handle: u64) -> Result<i64, FfiError> {
    let pending = {
        // SAFETY: Kotlin keeps the slot alive until this call has returned, and uniffi polls
        // this future only from within the call; the slot is read here, at the first poll, and
        // not after.
        let slot = unsafe { &*(handle as usize as *const PendingSlot) };
        slot.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    };
    let pending = pending.ok_or_else(|| internal("this call was already waited for"))?;
    InRuntime(async move { Ok(pending.wait().await?) }).await
}

/// The error of a `FAILED` answer; frees the handle. Always returns `Err`.
#[uniffi::export]
pub fn take_error(handle: u64) -> Result<(), FfiError> {
    // SAFETY: Kotlin passes each `FAILED` handle here exactly once, right after the answer.
    let e = unsafe { Box::from_raw(handle as usize as *mut FfiError) };
    Err(*e)
}
