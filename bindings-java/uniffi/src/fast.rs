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
//! follow call order); its `PendingIngest` goes back to Kotlin as a handle, and Kotlin's coroutine
//! suspends on it through `pendingAwait`: a core task waits for room and resumes the coroutine
//! with one JNI upcall (`jni_upcall.rs`), where a uniffi `suspend` function cost several JNA
//! crossings per poll (about a sixth of the Arrow path's time when every call waits for room).
//! Errors go back as a handle that [`take_error`] turns into the usual `FfiError`.
//!
//! **Handles.** The stream references, waiting calls and errors Kotlin holds are handles into
//! the tables of `handles.rs` (slot index + generation), never pointers: a released, stale,
//! reused or forged handle is a clean `INVALID_ARGUMENT` error. So every function here that takes
//! only handles is safe. `queueOne` / `queueBatch` also take `buf`, the address of native memory
//! the call is laid out in, and stay `unsafe` for that reason alone (below).
//!
//! **Memory contract with the Kotlin layer** (the only caller of `queueOne` / `queueBatch`, in
//! `NativeIngest.kt` / `ZerobusStream.kt`): `buf` is the address of native memory Kotlin owns
//! (a direct `ByteBuffer` or a JNA `Memory`, from `Scratch`), at least 8 bytes of result slot
//! followed by the call: for one record its bytes; for a batch `count` little-endian `u32`
//! lengths, then the records. Kotlin sizes the buffer from the same numbers it passes, keeps it
//! valid and untouched by other threads until the call returns (one buffer per thread, no
//! suspension in between); the core copies what it keeps before returning.
//!
//! **Panics.** Every entry point runs its body under `catch_unwind`: a panic becomes an
//! `INTERNAL` error (the JNI functions answer `FAILED` with error handle 0, which [`take_error`]
//! reports as `INTERNAL`; `pendingFree` / `release` then do nothing), and never unwinds into the
//! JVM.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use zerobus_core::{
    ErrorCode, PendingIngest, Queued, RecordRef, RecordType, ZerobusError, ZerobusResult, ZerobusStream,
};

use crate::handles::{self, Table};
use crate::{guard, internal, native_batch, FfiError};

/// Return values below 0 (an offset is never negative).
const PENDING: i64 = -1;
pub(crate) const FAILED: i64 = -2;
const EMPTY: i64 = -3;
/// `buf` was null: nothing was read or written.
pub(crate) const NO_BUFFER: i64 = -4;
/// `pendingAwait` could not reference its waiter, which will never be completed.
const NO_WAITER: i64 = -5;

/// Mode bit: fail with `QUEUE_FULL` instead of answering `PENDING` when the bounds are reached.
const MODE_TRY: i32 = 1;
/// Mode bit: the bytes are JSON text (Kotlin's `String` overloads), else bytes read as the
/// stream's record type; the core rejects text on a PROTO stream (`INVALID_RECORD`).
const MODE_TEXT: i32 = 2;

/// Bytes at the start of `buf` where a `PENDING` or `FAILED` handle is written.
pub(crate) const SLOT: usize = 8;

pub(crate) type JniEnv = *mut c_void;
pub(crate) type JClass = *mut c_void;

/// The core streams of the fast path, one reference each, owned by the Kotlin `ZerobusStream`
/// that asked for it (`FfiStream::fast_handle`) until it passes the handle to `release`.
static STREAMS: Table<Arc<ZerobusStream>> = Table::new(handles::STREAM, "stream");
/// Calls waiting for room, owned by Kotlin between a `PENDING` answer and `pendingFree` (or
/// `pendingAwait`, which takes the call out).
static WAITING: Table<PendingIngest> = Table::new(handles::PENDING, "pending call");
/// The waits for room `pendingAwait` started, by cancel handle, until they end or are cancelled
/// (dropping the sender cancels the wait).
static WAITS: Table<tokio::sync::oneshot::Sender<()>> = Table::new(handles::WAIT, "pending wait");
/// Errors of `FAILED` answers, until [`take_error`] takes them.
static ERRORS: Table<FfiError> = Table::new(handles::ERROR, "error");

/// A fast-path handle for `stream`: one more reference, released with `NativeIngest.release`.
pub(crate) fn stream_handle(stream: &Arc<ZerobusStream>) -> Result<i64, FfiError> {
    // Handles have the sign bit clear, so the cast keeps the value.
    Ok(STREAMS.insert(stream.clone())? as i64)
}

/// Writes `handle` to the result slot and returns `code`.
///
/// # Safety
/// `buf` points to at least [`SLOT`] writable bytes.
unsafe fn answer(buf: *mut u8, code: i64, handle: u64) -> i64 {
    // SAFETY: the caller guarantees `SLOT` writable bytes at `buf`; Kotlin does not promise 8-byte
    // alignment, so the write is unaligned. Little-endian, as Kotlin reads it.
    unsafe { std::ptr::write_unaligned(buf as *mut [u8; SLOT], handle.to_le_bytes()) };
    code
}

/// Turns what the core did into the return protocol: an offset, or a handle in the slot.
///
/// # Safety
/// As [`answer`].
unsafe fn reply(buf: *mut u8, result: std::thread::Result<ZerobusResult<Queued>>) -> i64 {
    let err = match result {
        Ok(Ok(Queued::Offset(Some(offset)))) => return offset,
        Ok(Ok(Queued::Offset(None))) => return EMPTY,
        Ok(Ok(Queued::Waiting(p))) => match WAITING.insert(p) {
            // SAFETY: forwarded from the caller.
            Ok(handle) => return unsafe { answer(buf, PENDING, handle) },
            // The call was dropped (its place given up): report why.
            Err(e) => FfiError::from(e),
        },
        Ok(Err(e)) => FfiError::from(e),
        Err(_) => internal("the SDK panicked; this is a bug, please report it"),
    };
    // 0 if even the error cannot get a handle: take_error reports that as INTERNAL.
    let handle = ERRORS.insert(err).unwrap_or(0);
    // SAFETY: forwarded from the caller.
    unsafe { answer(buf, FAILED, handle) }
}

/// [`reply`], with a panic inside it contained too: `FAILED` with error handle 0.
///
/// # Safety
/// As [`answer`].
pub(crate) unsafe fn reply_guarded(buf: *mut u8, result: std::thread::Result<ZerobusResult<Queued>>) -> i64 {
    // SAFETY: forwarded from the caller.
    match catch_unwind(AssertUnwindSafe(|| unsafe { reply(buf, result) })) {
        Ok(code) => code,
        // SAFETY: forwarded from the caller; writing the slot cannot panic.
        Err(_) => unsafe { answer(buf, FAILED, 0) },
    }
}

/// `NativeIngest.queueOne(stream, buf, len, mode)`: one record of `len` bytes at `buf + 8`
/// (`mode`: [`MODE_TRY`], [`MODE_TEXT`]). Returns its offset, `PENDING` or `FAILED` (handle in
/// the slot); `NO_BUFFER` if `buf` is 0. A released or forged `stream` handle is `FAILED` with
/// an `INVALID_ARGUMENT` error.
///
/// # Safety
/// Unsafe for `buf` only: a non-zero `buf` points to `8 + len` bytes laid out as the module
/// documentation says, writable for the first 8, not changed by anyone else until this returns.
/// `stream` may be any value.
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
    if buf.is_null() {
        return NO_BUFFER;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        let s = STREAMS.get(stream as u64)?;
        // SAFETY: the caller's contract: `len` readable bytes after the slot that nobody changes
        // until this call returns (a negative `len` reads nothing).
        let bytes = unsafe { std::slice::from_raw_parts(buf.add(SLOT), len.max(0) as usize) };
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
    unsafe { reply_guarded(buf, result) }
}

/// `NativeIngest.queueBatch(stream, buf, count, dataLen, mode)`: a batch under one offset
/// (`mode`: [`MODE_TRY`], [`MODE_TEXT`]: the records are JSON text; without it they are read as
/// the stream's record type), `count` lengths at `buf + 8` and then `dataLen` bytes of records.
/// Returns its offset, `EMPTY` (no records: nothing queued), `PENDING` or `FAILED`; `NO_BUFFER`
/// if `buf` is 0.
///
/// # Safety
/// Unsafe for `buf` only: a non-zero `buf` points to `8 + 4 * count + dataLen` bytes laid out as
/// the module documentation says, writable for the first 8, not changed by anyone else until this
/// returns. `stream` may be any value; negative sizes are refused before `buf` is read.
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
    if buf.is_null() {
        return NO_BUFFER;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        if count < 0 || data_len < 0 {
            return Err(ZerobusError::new(ErrorCode::InvalidArgument, "negative batch size"));
        }
        let s = STREAMS.get(stream as u64)?;
        // SAFETY: the caller's contract: `4 * count + data_len` readable bytes after the slot,
        // unchanged until this call returns (the slices do not outlive it).
        let (data, lengths) = unsafe { native_batch(buf.add(SLOT), count as usize, data_len as usize) }?;
        match (mode & MODE_TEXT != 0, mode & MODE_TRY != 0) {
            (false, false) => s.queue_records_contiguous(data, &lengths),
            (false, true) => s.try_ingest_records_contiguous_offset(data, &lengths).map(Queued::Offset),
            (true, false) => s.queue_records_contiguous_as(RecordType::Json, data, &lengths),
            (true, true) => {
                s.try_ingest_records_contiguous_as(RecordType::Json, data, &lengths).map(Queued::Offset)
            }
        }
    }));
    // SAFETY: `buf` holds the slot (the caller's contract).
    unsafe { reply_guarded(buf, result) }
}

/// `NativeIngest.pendingFree(handle)`: drops a `PENDING` handle. If `pendingAwait` did not take
/// the call out (never called, or cancelled before its first poll), dropping it gives its place
/// in line up, so a cancelled coroutine never stalls the calls behind it. A handle already taken
/// or freed, or one this library never issued, is ignored; so is a contained panic.
#[no_mangle]
pub extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_pendingFree(
    _env: JniEnv,
    _class: JClass,
    handle: i64,
) {
    let _ = catch_unwind(|| drop(WAITING.remove(handle as u64)));
}

/// `NativeIngest.release(stream)`: gives back a handle from `FfiStream::fast_handle`. Later calls
/// with it fail `INVALID_ARGUMENT`; a call running meanwhile holds its own reference and finishes
/// first. A handle already released, or never issued, is ignored; so is a contained panic.
#[no_mangle]
pub extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_release(
    _env: JniEnv,
    _class: JClass,
    stream: i64,
) {
    let _ = catch_unwind(|| drop(STREAMS.remove(stream as u64)));
}

/// `NativeIngest.pendingAwait(handle, waiter)`: waits for room for a call the fast path answered
/// `PENDING` for, on a core task, without blocking the caller, then resumes the Kotlin
/// `PendingWaiter` from a core thread with `complete(offset, 0)` or `complete(FAILED, error
/// handle)` (the error goes to [`take_error`]). Takes the call out of `handle` (a later
/// `pendingFree` of it does nothing) and returns a cancel handle for `pendingCancel`, which gives
/// the call's place in line up if it is still waiting. A stale or forged `handle` completes the
/// waiter with an `INVALID_ARGUMENT` error before this returns `FAILED`; `NO_WAITER` if `waiter`
/// cannot be referenced (then it is never completed). One upcall per wait, where uniffi's
/// `suspend` functions cost several JNA crossings per poll.
///
/// # Safety
/// `env` is the calling thread's `JNIEnv` and `waiter` a valid, non-null local reference to a
/// `PendingWaiter`.
#[no_mangle]
pub unsafe extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_pendingAwait(
    env: *mut jni_sys::JNIEnv,
    _class: JClass,
    handle: i64,
    waiter: jni_sys::jobject,
) -> i64 {
    // SAFETY: `env` and `waiter` per this function's contract.
    let Ok(Some(mut waiter)) = catch_unwind(|| unsafe { crate::jni_upcall::PendingWaiter::new(env, waiter) })
    else {
        return NO_WAITER;
    };
    let started = catch_unwind(AssertUnwindSafe(|| -> Result<i64, FfiError> {
        let pending = WAITING.remove(handle as u64)?;
        let (cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
        let cancel = WAITS.insert(cancel_tx)?;
        let mut waiter = std::mem::take(&mut waiter);
        crate::runtime().spawn(async move {
            let result = tokio::select! {
                biased;
                r = pending.wait() => r,
                // pendingCancel dropped the sender: dropping `pending` gives its place up, and
                // the waiter (whose coroutine is cancelled) is completed with nothing to say.
                _ = cancel_rx => return,
            };
            drop(WAITS.remove(cancel));
            match result {
                Ok(offset) => waiter.complete(offset, 0),
                Err(e) => waiter.complete(FAILED, ERRORS.insert(FfiError::from(e)).unwrap_or(0) as i64),
            }
        });
        // Handles have the sign bit clear, so the cast keeps the value.
        Ok(cancel as i64)
    }));
    match started {
        Ok(Ok(cancel)) => cancel,
        Ok(Err(e)) => {
            waiter.complete(FAILED, ERRORS.insert(e).unwrap_or(0) as i64);
            FAILED
        }
        // The waiter, if still here, completes as it drops (FAILED, error 0: INTERNAL).
        Err(_) => FAILED,
    }
}

/// `NativeIngest.pendingCancel(cancel)`: gives up a wait `pendingAwait` started, if it still
/// waits (its call leaves the line and is never queued). A finished, cancelled or unknown wait is
/// ignored; so is a contained panic.
#[no_mangle]
pub extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_pendingCancel(
    _env: JniEnv,
    _class: JClass,
    cancel: i64,
) {
    let _ = catch_unwind(|| drop(WAITS.remove(cancel as u64)));
}

/// The error of a `FAILED` answer; takes it out of its handle. Always returns `Err`: that error,
/// `INTERNAL` for handle 0 (the call could not hand out an error), `INVALID_ARGUMENT` for a
/// handle already taken or never issued.
#[uniffi::export]
pub fn take_error(handle: u64) -> Result<(), FfiError> {
    guard(|| {
        if handle == 0 {
            return Err(internal(
                "the native call failed without an error (a contained panic, or too many live handles); \
                 this is a bug, please report it",
            ));
        }
        Err(ERRORS.remove(handle)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: FfiError) -> String {
        let FfiError::Failed { code, .. } = e;
        code
    }

    #[test]
    fn stale_and_forged_handles_are_clean_errors() {
        for forged in [0u64, 1, 0x1234, u64::MAX, u64::from(handles::STREAM) << 56 | 5] {
            let e = take_error(forged).unwrap_err();
            let expected = if forged == 0 { "INTERNAL" } else { "INVALID_ARGUMENT" };
            assert_eq!(code(e), expected, "{forged:#x}");
        }
        let h = ERRORS.insert(internal("boom")).unwrap();
        assert!(matches!(take_error(h), Err(FfiError::Failed { ref detail, .. }) if detail == "boom"));
        assert_eq!(code(take_error(h).unwrap_err()), "INVALID_ARGUMENT", "taken twice");
        // Safe JNI functions ignore what they cannot find.
        Java_com_databricks_zerobus_kotlin_NativeIngest_pendingFree(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            42,
        );
        Java_com_databricks_zerobus_kotlin_NativeIngest_release(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            -1,
        );
    }

    #[test]
    fn queue_with_a_forged_stream_fails_into_the_slot() {
        let mut buf = [0u8; SLOT + 2];
        buf[SLOT..].copy_from_slice(b"{}");
        // SAFETY: `buf` holds the slot and the 2 record bytes and outlives the call.
        let rc = unsafe {
            Java_com_databricks_zerobus_kotlin_NativeIngest_queueOne(
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0x7777,
                buf.as_mut_ptr() as usize as i64,
                2,
                MODE_TEXT,
            )
        };
        assert_eq!(rc, FAILED);
        let handle = u64::from_le_bytes(buf[..SLOT].try_into().unwrap());
        assert_eq!(code(take_error(handle).unwrap_err()), "INVALID_ARGUMENT");
        // SAFETY: a null buffer is refused before anything is read or written.
        let rc = unsafe {
            Java_com_databricks_zerobus_kotlin_NativeIngest_queueBatch(
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0x7777,
                0,
                1,
                2,
                0,
            )
        };
        assert_eq!(rc, NO_BUFFER);
    }
}
