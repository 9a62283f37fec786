//! Errors across the C ABI: an opaque object with accessors, freed by `zerobus_error_free`.

use std::ffi::{c_char, CString};

use zerobus_core::{ErrorCode, ZerobusError};

use crate::handles::{self, Table};
use crate::quietly;

/// Error codes; the same closed list, with the same names, in every language binding.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum zerobus_code {
    /// No error.
    ZEROBUS_OK = 0,
    /// The call is wrong (bad table name, option, URL, record type, NULL pointer). Fix the call.
    ZEROBUS_ERROR_INVALID_ARGUMENT = 1,
    /// A record does not fit the stream (malformed JSON, wrong kind). Fix or drop the record.
    ZEROBUS_ERROR_INVALID_RECORD = 2,
    /// One call carries more than 10,420,224 bytes of records. Split it; nothing was sent.
    ZEROBUS_ERROR_RECORD_TOO_LARGE = 3,
    /// The non-blocking call found the in-flight bound reached. Retry later; nothing was queued.
    ZEROBUS_ERROR_QUEUE_FULL = 4,
    /// The stream was closed. Create a new stream.
    ZEROBUS_ERROR_STREAM_CLOSED = 5,
    /// A flush, wait or connect did not finish in time. Records stay queued; retrying is safe.
    ZEROBUS_ERROR_TIMEOUT = 6,
    /// Credentials rejected. Fix them; not retryable.
    ZEROBUS_ERROR_UNAUTHENTICATED = 7,
    /// Missing privileges on the table. Not retryable.
    ZEROBUS_ERROR_PERMISSION_DENIED = 8,
    /// The table does not exist. Not retryable.
    ZEROBUS_ERROR_NOT_FOUND = 9,
    /// Server or network unavailable after retries. Retryable: re-ingest the unacked batches.
    ZEROBUS_ERROR_UNAVAILABLE = 10,
    /// Another gRPC status from the server; see zerobus_error_grpc_status.
    ZEROBUS_ERROR_SERVER_ERROR = 11,
    /// The server broke the protocol. Not retryable; report it.
    ZEROBUS_ERROR_PROTOCOL_ERROR = 12,
    /// The token endpoint failed (5xx, unreachable). Retryable.
    ZEROBUS_ERROR_TOKEN_ENDPOINT_ERROR = 13,
    /// A bug or a contained panic inside the library. Report it.
    ZEROBUS_ERROR_INTERNAL = 14,
}

pub(crate) fn code_of(code: ErrorCode) -> zerobus_code {
    use zerobus_code::*;
    match code {
        ErrorCode::InvalidArgument => ZEROBUS_ERROR_INVALID_ARGUMENT,
        ErrorCode::InvalidRecord => ZEROBUS_ERROR_INVALID_RECORD,
        ErrorCode::RecordTooLarge => ZEROBUS_ERROR_RECORD_TOO_LARGE,
        ErrorCode::QueueFull => ZEROBUS_ERROR_QUEUE_FULL,
        ErrorCode::StreamClosed => ZEROBUS_ERROR_STREAM_CLOSED,
        ErrorCode::Timeout => ZEROBUS_ERROR_TIMEOUT,
        ErrorCode::Unauthenticated => ZEROBUS_ERROR_UNAUTHENTICATED,
        ErrorCode::PermissionDenied => ZEROBUS_ERROR_PERMISSION_DENIED,
        ErrorCode::NotFound => ZEROBUS_ERROR_NOT_FOUND,
        ErrorCode::Unavailable => ZEROBUS_ERROR_UNAVAILABLE,
        ErrorCode::ServerError => ZEROBUS_ERROR_SERVER_ERROR,
        ErrorCode::ProtocolError => ZEROBUS_ERROR_PROTOCOL_ERROR,
        ErrorCode::TokenEndpointError => ZEROBUS_ERROR_TOKEN_ENDPOINT_ERROR,
        _ => ZEROBUS_ERROR_INTERNAL,
    }
}

/// An error: code, optional gRPC status, retryable flag and message. Owned by the caller from
/// the moment a call stores it in `*err`, until `zerobus_error_free`.
pub struct zerobus_error {
    inner: ZerobusError,
    message: CString,
    code_name: CString,
}

static ERRORS: Table<zerobus_error> = Table::new(handles::ERROR);

/// Stores `e` as a new error handle in `*err` (nothing when `err` is NULL).
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
pub(crate) unsafe fn store(err: *mut *mut zerobus_error, e: ZerobusError) {
    if err.is_null() {
        return;
    }
    let message = CString::new(e.message().replace('\0', " ")).unwrap_or_default();
    let code_name = CString::new(e.code().as_str()).unwrap_or_default();
    let handle =
        ERRORS.insert(zerobus_error { inner: e, message, code_name }).unwrap_or(std::ptr::null_mut());
    // SAFETY: `err` is non-null and writable per the contract.
    unsafe { err.write(handle) };
}

fn with<T>(err: *const zerobus_error, default: T, f: impl FnOnce(&zerobus_error) -> T) -> T {
    match ERRORS.get(err, "err") {
        Ok(e) => f(&e),
        Err(_) => default,
    }
}

/// The error's code (a `zerobus_code`); ZEROBUS_ERROR_INVALID_ARGUMENT for NULL or a handle that
/// is not a live error.
#[no_mangle]
pub extern "C" fn zerobus_error_code(err: *const zerobus_error) -> i32 {
    with(err, zerobus_code::ZEROBUS_ERROR_INVALID_ARGUMENT as i32, |e| code_of(e.inner.code()) as i32)
}

/// The code's stable name, e.g. "UNAVAILABLE": a string owned by `err`, valid until `err` is
/// freed; a static "" for NULL or a handle that is not a live error.
#[no_mangle]
pub extern "C" fn zerobus_error_code_name(err: *const zerobus_error) -> *const c_char {
    // The CString lives in the table entry until zerobus_error_free: the pointer stays valid.
    with(err, c"".as_ptr(), |e| e.code_name.as_ptr())
}

/// The gRPC status code the server answered with, or -1 when the error did not come from the
/// server (a lost connection, a local check) or `err` is not a live error.
#[no_mangle]
pub extern "C" fn zerobus_error_grpc_status(err: *const zerobus_error) -> i32 {
    with(err, -1, |e| e.inner.grpc_status().unwrap_or(-1))
}

/// Whether retrying (on a new stream with the unacked records) may succeed.
#[no_mangle]
pub extern "C" fn zerobus_error_is_retryable(err: *const zerobus_error) -> bool {
    with(err, false, |e| e.inner.is_retryable())
}

/// The message, which says what went wrong and what to do: a string owned by `err`, valid until
/// `err` is freed; a static "" for NULL or a handle that is not a live error. Never holds
/// secrets or tokens.
#[no_mangle]
pub extern "C" fn zerobus_error_message(err: *const zerobus_error) -> *const c_char {
    with(err, c"".as_ptr(), |e| e.message.as_ptr())
}

/// Frees an error and the strings it owns. NULL, or an error already freed, is a no-op.
#[no_mangle]
pub extern "C" fn zerobus_error_free(err: *mut zerobus_error) {
    quietly(|| drop(ERRORS.remove(err)));
}

/// The core code for a `zerobus_code` value a caller returned (a headers provider's result);
/// `None` for `ZEROBUS_OK` or a value outside the list.
pub(crate) fn code_from(value: i32) -> Option<ErrorCode> {
    ErrorCode::ALL.into_iter().find(|c| code_of(*c) as i32 == value)
}
