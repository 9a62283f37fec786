//! Stream options: an opaque object with one setter per option, so every value (zero included)
//! can be expressed and new options never change a struct layout.

use std::ffi::c_void;
use std::sync::{Arc, Mutex};

use zerobus_core::{RecordType, StreamConfigurationOptions};

use crate::callbacks::{zerobus_ack_error_fn, zerobus_ack_fn, zerobus_release_fn, CAckCallback};
use crate::error::zerobus_error;
use crate::handles::{self, Table};
use crate::{guard, quietly};

/// Record encoding; the values equal the wire enum.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum zerobus_record_type {
    /// Protocol buffer records described by the descriptor given at stream creation.
    ZEROBUS_RECORD_TYPE_PROTO = 1,
    /// JSON object records, as UTF-8 text.
    ZEROBUS_RECORD_TYPE_JSON = 2,
}

/// Options for new streams, starting at the SDK defaults. Reusable for several streams. Owned by
/// the caller until `zerobus_stream_options_free`. Values are checked against their ranges when a
/// stream is created with them (the error names the option and its range).
pub struct zerobus_stream_options {
    inner: Mutex<StreamConfigurationOptions>,
}

static OPTIONS: Table<zerobus_stream_options> = Table::new(handles::OPTIONS);

/// The options behind `options` (NULL: the defaults).
pub(crate) fn resolve(
    options: *const zerobus_stream_options,
) -> zerobus_core::ZerobusResult<StreamConfigurationOptions> {
    if options.is_null() {
        return Ok(StreamConfigurationOptions::default());
    }
    let o = OPTIONS.get(options, "options")?;
    let inner = o.inner.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(inner)
}

/// New options with every default (PROTOCOL.md §6 names; in-flight bound 50,000 calls / 64 MiB).
/// Free with `zerobus_stream_options_free`. NULL only if the library cannot hold another handle.
#[no_mangle]
pub extern "C" fn zerobus_stream_options_new() -> *mut zerobus_stream_options {
    crate::catch(|| {
        OPTIONS.insert(zerobus_stream_options { inner: Mutex::new(StreamConfigurationOptions::default()) })
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Frees options. NULL, or options already freed, is a no-op. Streams created with them are
/// unaffected.
#[no_mangle]
pub extern "C" fn zerobus_stream_options_free(options: *mut zerobus_stream_options) {
    quietly(|| drop(OPTIONS.remove(options)));
}

/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
unsafe fn set(
    options: *mut zerobus_stream_options,
    err: *mut *mut zerobus_error,
    f: impl FnOnce(&mut StreamConfigurationOptions),
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        guard(err, || {
            let options = OPTIONS.get(options, "options")?;
            f(&mut options.inner.lock().unwrap_or_else(|e| e.into_inner()));
            Ok(())
        })
    }
    .is_some()
}

// One plain function per option (not a macro): cbindgen does not expand macros, and a setter it
// cannot see is missing from zerobus.h.
/// Bound on unacknowledged calls (default 50,000). 0 means one call at a time.
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_max_inflight_requests(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.max_inflight_requests = value as usize) }
}

/// Bound on unacknowledged record bytes (default 64 MiB). A call larger than the bound still goes alone.
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_max_inflight_bytes(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.max_inflight_bytes = value as usize) }
}

/// Reconnect and resend after retryable failures (default true).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_recovery(
    options: *mut zerobus_stream_options,
    value: bool,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.recovery = value) }
}

/// Bound on each connection attempt, ms (default 15,000).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_recovery_timeout_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.recovery_timeout_ms = value) }
}

/// Wait before the second connection attempt in a row, ms (default 2,000; the first attempt after
/// a connection that delivered acks goes at once); later waits double up to
/// recovery_backoff_max_ms.
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_recovery_backoff_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.recovery_backoff_ms = value) }
}

/// Cap on the exponential wait between connection attempts, ms (default 30,000): the waits go
/// recovery_backoff_ms, twice that, … up to this, each plus up to a quarter at random.
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_recovery_backoff_max_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.recovery_backoff_max_ms = value) }
}

/// Connection attempts in a row without an ack before the stream fails (default 4).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_recovery_retries(
    options: *mut zerobus_stream_options,
    value: u32,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.recovery_retries = value) }
}

/// Reconnect when records wait this long with nothing from the server, ms (default 60,000; 0 = never).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_server_lack_of_ack_timeout_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.server_lack_of_ack_timeout_ms = value) }
}

/// Bound on flush, wait-for-offset and close's flush, ms (default 300,000).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_flush_timeout_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.flush_timeout_ms = value) }
}

/// After a server close signal, wait at most this long for acks before reconnecting, ms
/// (default: the server's announced duration; 0 = reconnect at once).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_stream_paused_max_wait_time_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.stream_paused_max_wait_time_ms = Some(value)) }
}

/// How long close waits for running ack callbacks, ms (default 5,000).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_callback_max_wait_time_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, |o| o.callback_max_wait_time_ms = Some(value)) }
}

/// Record type: `ZEROBUS_RECORD_TYPE_JSON` or `ZEROBUS_RECORD_TYPE_PROTO` (default PROTO).
/// Any other value is an INVALID_ARGUMENT error.
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_record_type(
    options: *mut zerobus_stream_options,
    record_type: i32,
    err: *mut *mut zerobus_error,
) -> bool {
    let kind = match record_type {
        1 => Some(RecordType::Proto),
        2 => Some(RecordType::Json),
        _ => None,
    };
    // SAFETY: `err` per this function's contract.
    unsafe {
        match kind {
            Some(kind) => set(options, err, |o| o.record_type = kind),
            None => guard(err, || {
                Err::<(), _>(zerobus_core::ZerobusError::new(
                    zerobus_core::ErrorCode::InvalidArgument,
                    format!("record type {record_type} is neither ZEROBUS_RECORD_TYPE_PROTO (1) nor ZEROBUS_RECORD_TYPE_JSON (2)"),
                ))
            })
            .is_some(),
        }
    }
}

/// Ack and error callbacks for streams created with these options: `on_ack(user_data, offset)`
/// once per acknowledged offset and `on_error(user_data, offset, message)` once per offset that
/// failed for good, in offset order, on a library thread, never after `zerobus_stream_close`
/// returns. Either may be NULL. `release(user_data)` (may be NULL) runs once when neither these
/// options nor any stream created from them needs `user_data` any more.
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_options_set_ack_callback(
    options: *mut zerobus_stream_options,
    on_ack: zerobus_ack_fn,
    on_error: zerobus_ack_error_fn,
    user_data: *mut c_void,
    release: zerobus_release_fn,
    err: *mut *mut zerobus_error,
) -> bool {
    // If `options` is not live the closure is dropped unused, and with it the callback, which
    // hands `user_data` back through `release`: it is never leaked.
    let callback = Arc::new(CAckCallback::new(on_ack, on_error, user_data, release));
    // SAFETY: `err` per this function's contract.
    unsafe { set(options, err, move |o| o.ack_callback = Some(callback)) }
}
