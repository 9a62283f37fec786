//! Streams after creation: wait, flush, close, unacked records, metrics, free. Ingest calls are
//! in `ingest.rs`.

use std::ffi::c_char;
use std::sync::Arc;

use zerobus_core::{ZerobusResult, ZerobusStream};

use crate::error::zerobus_error;
use crate::handles::{self, Table};
use crate::memory::{zerobus_batches, BATCHES};
use crate::{guard, null, quietly, runtime, write_out};

/// An open stream into one table. Thread-safe: any number of threads may ingest at once. Owned
/// by the caller until `zerobus_stream_free`; close it with `zerobus_stream_close` first.
pub struct zerobus_stream {
    inner: Option<ZerobusStream>,
}

impl zerobus_stream {
    pub(crate) fn new(inner: ZerobusStream) -> zerobus_stream {
        zerobus_stream { inner: Some(inner) }
    }

    pub(crate) fn core(&self) -> &ZerobusStream {
        self.inner.as_ref().expect("a stream is taken only when it is dropped")
    }
}

impl Drop for zerobus_stream {
    fn drop(&mut self) {
        // The last reference may go on any thread (a call that raced a free); dropping inside the
        // runtime lets the stream's background tasks be cancelled cleanly.
        let _entered = runtime().enter();
        drop(self.inner.take());
    }
}

pub(crate) static STREAMS: Table<zerobus_stream> = Table::new(handles::STREAM);

/// The stream behind a handle, held for the duration of one call.
pub(crate) fn stream(handle: *const zerobus_stream) -> ZerobusResult<Arc<zerobus_stream>> {
    STREAMS.get(handle, "stream")
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

/// Core's counters as the C struct (record and Arrow streams alike).
pub(crate) fn metrics_of(m: &zerobus_core::StreamMetrics) -> zerobus_metrics {
    zerobus_metrics {
        inflight_requests: m.inflight_requests,
        inflight_records: m.inflight_records,
        inflight_bytes: m.inflight_bytes,
        last_acked_offset: m.last_acked_offset.unwrap_or(-1),
        records_sent: m.records_sent,
        records_resent: m.records_resent,
        recoveries: m.recoveries,
        token_fetches: m.token_fetches,
    }
}

/// Runs one of the stream's blocking operations on the library runtime.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
unsafe fn block_on_stream<F: std::future::Future<Output = ZerobusResult<()>>>(
    handle: *const zerobus_stream,
    err: *mut *mut zerobus_error,
    op: impl FnOnce(Arc<zerobus_stream>) -> F,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { guard(err, || runtime().block_on(op(stream(handle)?))) }.is_some()
}

/// Blocks until `offset` is acknowledged (true), the stream fails, or flush_timeout_ms passes.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_wait_for_offset(
    stream: *const zerobus_stream,
    offset: i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { block_on_stream(stream, err, |s| async move { s.core().wait_for_offset(offset).await }) }
}

/// Blocks until every record queued so far is acknowledged, at most flush_timeout_ms.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_flush(
    stream: *const zerobus_stream,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { block_on_stream(stream, err, |s| async move { s.core().flush().await }) }
}

/// Flushes, half-closes, waits for the server, stops callbacks. Idempotent (a second call
/// returns the first one's result). Blocks at most flush_timeout_ms + recovery_timeout_ms +
/// callback_max_wait_time_ms. After it returns no callback runs.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_close(
    stream: *const zerobus_stream,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { block_on_stream(stream, err, |s| async move { s.core().close().await }) }
}

/// Whether the stream no longer accepts records (closed or failed). False for NULL or a handle
/// that is not live.
#[no_mangle]
pub extern "C" fn zerobus_stream_is_closed(stream: *const zerobus_stream) -> bool {
    crate::catch(|| self::stream(stream).map(|s| s.core().is_closed())).unwrap_or(false)
}

/// The server's id for the stream's current connection (it changes when the stream reconnects),
/// copied into the caller's `buf` like `snprintf`: at most `cap - 1` bytes of the id and a NUL
/// (nothing is written when `cap` is 0, and `buf` may then be NULL). Returns the id's full length
/// in bytes, without the NUL: a result `>= cap` means `buf` was too small (call again with
/// `cap` = result + 1). Returns 0, writing nothing, for NULL or a handle that is not a live
/// stream. Never blocks.
///
/// # Safety
/// `buf` is NULL (with `cap` 0) or points to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_id(
    stream: *const zerobus_stream,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    crate::catch(|| {
        let id = self::stream(stream)?.core().stream_id();
        if cap > 0 && !buf.is_null() {
            let n = id.len().min(cap - 1);
            // SAFETY: `buf` has `cap` writable bytes per the contract; n + 1 <= cap.
            unsafe {
                std::ptr::copy_nonoverlapping(id.as_ptr(), buf.cast::<u8>(), n);
                buf.add(n).write(0);
            }
        }
        Ok(id.len())
    })
    .unwrap_or(0)
}

/// Every unacknowledged call as a batch of records, in offset order (after a terminal failure:
/// what to re-ingest on a new stream). Returns a new object the caller frees with
/// `zerobus_batches_free`, or NULL on error.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_get_unacked_batches(
    stream: *const zerobus_stream,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_batches {
    // SAFETY: `err` per this function's contract.
    unsafe {
        guard(err, || {
            let batches = self::stream(stream)?.core().get_unacked_batches();
            BATCHES.insert(zerobus_batches { batches })
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// Every unacknowledged record in order, as ONE batch holding all of them. Returns a new object
/// the caller frees with `zerobus_batches_free`, or NULL on error.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_get_unacked_records(
    stream: *const zerobus_stream,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_batches {
    // SAFETY: `err` per this function's contract.
    unsafe {
        guard(err, || {
            let records = self::stream(stream)?.core().get_unacked_records();
            BATCHES.insert(zerobus_batches { batches: vec![records] })
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// Fills `*out` (caller-owned) with the stream's counters. Never blocks.
///
/// # Safety
/// `out` is NULL or points to a writable `zerobus_metrics`; `err` is NULL or a writable
/// `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_metrics(
    stream: *const zerobus_stream,
    out: *mut zerobus_metrics,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `out` and `err` per this function's contract.
    unsafe {
        guard(err, || {
            let m = self::stream(stream)?.core().metrics();
            if out.is_null() {
                return Err(null("out"));
            }
            write_out(out, metrics_of(&m));
            Ok(())
        })
    }
    .is_some()
}

/// Frees a stream. NULL, or a stream already freed, is a no-op. Call `zerobus_stream_close`
/// first: freeing an open stream stops it and abandons unacknowledged records. A call on the
/// stream still running in another thread finishes first; later calls with the handle fail with
/// ZEROBUS_ERROR_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn zerobus_stream_free(stream: *mut zerobus_stream) {
    quietly(|| drop(STREAMS.remove(stream)));
}
