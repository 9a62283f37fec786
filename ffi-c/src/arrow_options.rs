//! Arrow stream options: an opaque object with one setter per option of core's
//! `ArrowStreamConfigurationOptions`, like `zerobus_stream_options` (every value, zero included,
//! can be expressed, and new options never change a struct layout). Ranges are checked by core
//! when a stream is created with them.

use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex};

use zerobus_core::{ArrowStreamConfigurationOptions, IpcCompression};

use crate::callbacks::{zerobus_ack_error_fn, zerobus_ack_fn, zerobus_release_fn, CAckCallback};
use crate::error::zerobus_error;
use crate::handles::{self, Table};
use crate::{arg_str, guard, quietly};

/// Options for new Arrow streams, starting at the SDK defaults. Reusable for several streams.
/// Owned by the caller until `zerobus_arrow_stream_options_free`. Values are checked against
/// their ranges when a stream is created with them (the error names the option and its range).
pub struct zerobus_arrow_stream_options {
    inner: Mutex<ArrowStreamConfigurationOptions>,
}

static ARROW_OPTIONS: Table<zerobus_arrow_stream_options> = Table::new(handles::ARROW_OPTIONS);

/// The options behind `options` (NULL: the defaults).
pub(crate) fn resolve(
    options: *const zerobus_arrow_stream_options,
) -> zerobus_core::ZerobusResult<ArrowStreamConfigurationOptions> {
    if options.is_null() {
        return Ok(ArrowStreamConfigurationOptions::default());
    }
    let o = ARROW_OPTIONS.get(options, "options")?;
    let inner = o.inner.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(inner)
}

/// New Arrow stream options with every default (PROTOCOL.md §9: at most 1,000 unacknowledged
/// calls and 64 MiB, connection_timeout_ms 30,000, ipc_compression "none", no callbacks; the
/// recovery options as record streams'). Free with `zerobus_arrow_stream_options_free`. NULL
/// only if the library cannot hold another handle.
#[no_mangle]
pub extern "C" fn zerobus_arrow_stream_options_new() -> *mut zerobus_arrow_stream_options {
    crate::catch(|| {
        ARROW_OPTIONS.insert(zerobus_arrow_stream_options {
            inner: Mutex::new(ArrowStreamConfigurationOptions::default()),
        })
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Frees Arrow stream options. NULL, or options already freed, is a no-op. Streams created with
/// them are unaffected.
#[no_mangle]
pub extern "C" fn zerobus_arrow_stream_options_free(options: *mut zerobus_arrow_stream_options) {
    quietly(|| drop(ARROW_OPTIONS.remove(options)));
}

/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
unsafe fn set(
    options: *mut zerobus_arrow_stream_options,
    err: *mut *mut zerobus_error,
    f: impl FnOnce(&mut ArrowStreamConfigurationOptions) -> zerobus_core::ZerobusResult<()>,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        guard(err, || {
            let options = ARROW_OPTIONS.get(options, "options")?;
            let mut inner = options.inner.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut inner)
        })
    }
    .is_some()
}

// One plain function per option (not a macro): cbindgen does not expand macros, and a setter it
// cannot see is missing from zerobus.h.
/// Bound on unacknowledged ingest calls (a batch, or an IPC stream, each; default 1,000).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_max_inflight_batches(
    options: *mut zerobus_arrow_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.max_inflight_batches = value as usize;
            Ok(())
        })
    }
}

/// Bound on unacknowledged encoded IPC bytes (default 64 MiB). A call larger than the bound
/// still goes alone.
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_max_inflight_bytes(
    options: *mut zerobus_arrow_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.max_inflight_bytes = value as usize;
            Ok(())
        })
    }
}

/// Reconnect and resend from the first unacknowledged row after retryable failures (default
/// true).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_recovery(
    options: *mut zerobus_arrow_stream_options,
    value: bool,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.recovery = value;
            Ok(())
        })
    }
}

/// Bound on each connection attempt, ms (default 15,000).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_recovery_timeout_ms(
    options: *mut zerobus_arrow_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.recovery_timeout_ms = value;
            Ok(())
        })
    }
}

/// Wait before the second connection attempt in a row, ms (default 2,000); later waits double up
/// to recovery_backoff_max_ms.
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_recovery_backoff_ms(
    options: *mut zerobus_arrow_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.recovery_backoff_ms = value;
            Ok(())
        })
    }
}

/// Cap on the exponential wait between connection attempts, ms (default 30,000).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_recovery_backoff_max_ms(
    options: *mut zerobus_arrow_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.recovery_backoff_max_ms = value;
            Ok(())
        })
    }
}

/// Connection attempts in a row without an ack before the stream fails (default 4).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_recovery_retries(
    options: *mut zerobus_arrow_stream_options,
    value: u32,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.recovery_retries = value;
            Ok(())
        })
    }
}

/// Reconnect when batches wait this long with nothing from the server, ms (default 60,000; 0 =
/// never).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_server_lack_of_ack_timeout_ms(
    options: *mut zerobus_arrow_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.server_lack_of_ack_timeout_ms = value;
            Ok(())
        })
    }
}

/// Bound on flush, wait-for-offset and close's flush, ms (default 300,000).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_flush_timeout_ms(
    options: *mut zerobus_arrow_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.flush_timeout_ms = value;
            Ok(())
        })
    }
}

/// Bound on waiting for the server's ready signal on each connection, ms (default 30,000;
/// within recovery_timeout_ms).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_connection_timeout_ms(
    options: *mut zerobus_arrow_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.connection_timeout_ms = value;
            Ok(())
        })
    }
}

/// Body compression of the IPC batches sent: "none" (the default), "lz4_frame" or "zstd", any
/// case; a NUL-terminated string, read during the call. Batches from
/// `zerobus_arrow_stream_ingest_arrow` are encoded with it; batches of an IPC stream given to
/// `zerobus_arrow_stream_ingest_ipc` that were written uncompressed are compressed with it, and
/// those already compressed keep their codec. Any other name
/// is a ZEROBUS_ERROR_INVALID_ARGUMENT error that lists the names, and leaves the option as it
/// was.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string valid for the call; `err` is NULL or points to a
/// writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_ipc_compression(
    options: *mut zerobus_arrow_stream_options,
    name: *const c_char,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `name` and `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.ipc_compression = arg_str(name, "name")?.parse::<IpcCompression>()?;
            Ok(())
        })
    }
}

/// After a server close signal, wait at most this long for acks before reconnecting, ms
/// (default: the server's announced duration; 0 = reconnect at once).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_stream_paused_max_wait_time_ms(
    options: *mut zerobus_arrow_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.stream_paused_max_wait_time_ms = Some(value);
            Ok(())
        })
    }
}

/// How long close waits for running ack callbacks, ms (default 5,000).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_callback_max_wait_time_ms(
    options: *mut zerobus_arrow_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        set(options, err, |o| {
            o.callback_max_wait_time_ms = Some(value);
            Ok(())
        })
    }
}

/// Ack and error callbacks for Arrow streams created with these options, exactly as
/// `zerobus_stream_options_set_ack_callback`: `on_ack(user_data, offset)` once per acknowledged
/// offset (one offset per ingest call, acknowledged when every row of the call is durable) and
/// `on_error(user_data, offset, message)` once per offset that failed for good, in offset order,
/// on a library thread, never after `zerobus_arrow_stream_close` returns. Either may be NULL.
/// `release(user_data)` (may be NULL) runs once when neither these options nor any stream created
/// from them needs `user_data` any more (also when this call fails).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot; the callbacks, when set, are
/// functions of the documented signatures, safe to call from any thread with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_options_set_ack_callback(
    options: *mut zerobus_arrow_stream_options,
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
    unsafe {
        set(options, err, move |o| {
            o.ack_callback = Some(callback);
            Ok(())
        })
    }
}
