//! Stream options: an opaque object with one setter per option, so every value (zero included)
//! can be expressed and new options never change a struct layout.

use std::ffi::c_void;
use std::sync::Arc;

use zerobus_core::{RecordType, StreamConfigurationOptions};

use crate::callbacks::{zerobus_ack_error_fn, zerobus_ack_fn, zerobus_release_fn, CAckCallback};
use crate::error::zerobus_error;
use crate::{guard, null};

/// Record encoding; the values equal the wire enum.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum zerobus_record_type {
    /// Protocol buffer records described by the descriptor given at stream creation.
    ZEROBUS_RECORD_TYPE_PROTO = 1,
    /// JSON object records, as UTF-8 text.
    ZEROBUS_RECORD_TYPE_JSON = 2,
}

/// Options for new streams, starting at the SDK defaults. Reusable for several streams.
pub struct zerobus_stream_options {
    pub(crate) inner: StreamConfigurationOptions,
}

/// New options with every default (PROTOCOL.md §6 names; in-flight bound 50,000 calls / 64 MiB).
/// Free with `zerobus_stream_options_free`.
#[no_mangle]
pub extern "C" fn zerobus_stream_options_new() -> *mut zerobus_stream_options {
    Box::into_raw(Box::new(zerobus_stream_options { inner: StreamConfigurationOptions::default() }))
}

/// Frees options. NULL is a no-op. Streams created with them are unaffected.
#[no_mangle]
pub extern "C" fn zerobus_stream_options_free(options: *mut zerobus_stream_options) {
    if !options.is_null() {
        // SAFETY: came from Box::into_raw in zerobus_stream_options_new; freed once.
        drop(unsafe { Box::from_raw(options) });
    }
}

fn set(
    options: *mut zerobus_stream_options,
    err: *mut *mut zerobus_error,
    f: impl FnOnce(&mut StreamConfigurationOptions),
) -> bool {
    guard(err, || {
        // SAFETY: NULL or a live pointer from zerobus_stream_options_new, not raced by a free.
        let options = unsafe { options.as_mut() }.ok_or_else(|| null("options"))?;
        f(&mut options.inner);
        Ok(())
    })
    .is_some()
}

// One plain function per option (not a macro): cbindgen does not expand macros, and a setter it
// cannot see is missing from zerobus.h.
/// Bound on unacknowledged calls (default 50,000). 0 means one call at a time.
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_max_inflight_requests(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    set(options, err, |o| o.max_inflight_requests = value as usize)
}

/// Bound on unacknowledged record bytes (default 64 MiB). A call larger than the bound still goes alone.
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_max_inflight_bytes(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    set(options, err, |o| o.max_inflight_bytes = value as usize)
}

/// Reconnect and resend after retryable failures (default true).
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_recovery(
    options: *mut zerobus_stream_options,
    value: bool,
    err: *mut *mut zerobus_error,
) -> bool {
    set(options, err, |o| o.recovery = value)
}

/// Bound on each connection attempt, ms (default 15,000).
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_recovery_timeout_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    set(options, err, |o| o.recovery_timeout_ms = value)
}

/// Pause between connection attempts, ms (default 2,000).
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_recovery_backoff_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    set(options, err, |o| o.recovery_backoff_ms = value)
}

/// Connection attempts in a row without an ack before the stream fails (default 4).
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_recovery_retries(
    options: *mut zerobus_stream_options,
    value: u32,
    err: *mut *mut zerobus_error,
) -> bool {
    set(options, err, |o| o.recovery_retries = value)
}

/// Reconnect when records wait this long with nothing from the server, ms (default 60,000; 0 = never).
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_server_lack_of_ack_timeout_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    set(options, err, |o| o.server_lack_of_ack_timeout_ms = value)
}

/// Bound on flush, wait-for-offset and close's flush, ms (default 300,000).
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_flush_timeout_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    set(options, err, |o| o.flush_timeout_ms = value)
}

/// After a server close signal, wait at most this long for acks before reconnecting, ms
/// (default: the server's announced duration; 0 = reconnect at once).
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_stream_paused_max_wait_time_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    set(options, err, |o| o.stream_paused_max_wait_time_ms = Some(value))
}

/// How long close waits for running ack callbacks, ms (default 5,000).
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_callback_max_wait_time_ms(
    options: *mut zerobus_stream_options,
    value: u64,
    err: *mut *mut zerobus_error,
) -> bool {
    set(options, err, |o| o.callback_max_wait_time_ms = Some(value))
}

/// Record type: `ZEROBUS_RECORD_TYPE_JSON` or `ZEROBUS_RECORD_TYPE_PROTO` (default PROTO).
/// Any other value is an INVALID_ARGUMENT error.
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_record_type(
    options: *mut zerobus_stream_options,
    record_type: i32,
    err: *mut *mut zerobus_error,
) -> bool {
    let kind = match record_type {
        1 => Some(RecordType::Proto),
        2 => Some(RecordType::Json),
        _ => None,
    };
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

/// Ack and error callbacks for streams created with these options: `on_ack(user_data, offset)`
/// once per acknowledged offset and `on_error(user_data, offset, message)` once per offset that
/// failed for good, in offset order, on a library thread, never after `zerobus_stream_close`
/// returns. Either may be NULL. `release(user_data)` (may be NULL) runs once when neither these
/// options nor any stream created from them needs `user_data` any more.
#[no_mangle]
pub extern "C" fn zerobus_stream_options_set_ack_callback(
    options: *mut zerobus_stream_options,
    on_ack: zerobus_ack_fn,
    on_error: zerobus_ack_error_fn,
    user_data: *mut c_void,
    release: zerobus_release_fn,
    err: *mut *mut zerobus_error,
) -> bool {
    if options.is_null() {
        // Nothing will hold user_data: hand it back now so it is not leaked.
        drop(CAckCallback::new(on_ack, on_error, user_data, release));
    }
    set(options, err, |o| {
        o.ack_callback = Some(Arc::new(CAckCallback::new(on_ack, on_error, user_data, release)))
    })
}
