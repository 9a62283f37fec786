//! The C ABI of the Zerobus Ingest SDK: marshalling only. Every behaviour (retries, timers,
//! buffers, encoding) lives in `zerobus-core`; this crate turns C arguments into core calls,
//! core results into C values, and guarantees that no panic crosses the boundary.
//!
//! Objects handed to C live in handle tables (`handles`): a handle is never dereferenced, so a
//! freed, reused or forged handle is an error, not undefined behaviour. Functions that read or
//! write through other caller pointers (strings, buffers, out-parameters) are `unsafe extern "C"`
//! and say in `# Safety` what the caller must guarantee; the header repeats it per parameter.
//!
//! The header `include/zerobus.h` is generated from this crate by cbindgen (`make header`).
#![allow(non_camel_case_types)]
#![warn(missing_docs)]

mod arrow;
mod arrow_columns;
mod arrow_nocopy;
mod arrow_options;
mod callbacks;
mod encoder;
mod error;
mod handles;
mod ingest;
mod memory;
mod options;
mod sdk;
mod stream;
mod table_schema;

pub use arrow::*;
pub use arrow_columns::*;
pub use arrow_nocopy::*;
pub use arrow_options::*;
pub use callbacks::*;
pub use encoder::*;
pub use error::*;
pub use ingest::*;
pub use memory::*;
pub use options::*;
pub use sdk::*;
pub use stream::*;
pub use table_schema::*;

use std::ffi::{c_char, CStr};
use std::sync::OnceLock;

use zerobus_core::{ZerobusError, ZerobusResult};

/// The runtime every stream of the process runs on. Created on first use; lives until exit.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("zerobus-worker")
            .on_thread_start(block_sigpipe)
            .enable_all()
            .build()
            .expect("the tokio runtime must start")
    })
}

/// A write to a socket the peer closed raises SIGPIPE on the writing thread, and its default
/// action ends the process. A Rust binary ignores it, but a C, Go or Java host may not, so the
/// library's threads block it: their writes then fail with EPIPE, which the transport handles as
/// a lost connection. The host's own threads and handlers are left alone.
fn block_sigpipe() {
    #[cfg(unix)]
    // SAFETY: sigemptyset/sigaddset initialise a local set; pthread_sigmask changes only the
    // mask of the calling thread, a library thread that runs no host code.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Runs `f` and turns a panic into an `INTERNAL` error, so no panic unwinds into C.
pub(crate) fn catch<T>(f: impl FnOnce() -> ZerobusResult<T>) -> ZerobusResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(ZerobusError::new(
            zerobus_core::ErrorCode::Internal,
            format!("panic inside libzerobus: {what}; please report it"),
        ))
    })
}

/// Runs `f`, turning an error or a panic into a `zerobus_error` stored through `err`.
/// Returns `None` on failure.
///
/// # Safety
/// `err` is NULL or points to a writable `zerobus_error *` slot.
pub(crate) unsafe fn guard<T>(
    err: *mut *mut error::zerobus_error,
    f: impl FnOnce() -> ZerobusResult<T>,
) -> Option<T> {
    match catch(f) {
        Ok(v) => Some(v),
        Err(e) => {
            // SAFETY: per this function's contract.
            unsafe { error::store(err, e) };
            None
        }
    }
}

/// Runs `f` with no way to report an error (the `*_free` functions and accessors): a panic is
/// contained and dropped.
pub(crate) fn quietly(f: impl FnOnce()) {
    let _ = catch(|| {
        f();
        Ok(())
    });
}

/// A null-pointer error naming the parameter.
pub(crate) fn null(param: &str) -> ZerobusError {
    ZerobusError::new(zerobus_core::ErrorCode::InvalidArgument, format!("null pointer passed for `{param}`"))
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string valid for the duration of the call.
pub(crate) unsafe fn arg_str<'a>(ptr: *const c_char, param: &str) -> ZerobusResult<&'a str> {
    if ptr.is_null() {
        return Err(null(param));
    }
    // SAFETY: non-null, and the caller promises a NUL-terminated string alive for this call.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|_| {
        ZerobusError::new(zerobus_core::ErrorCode::InvalidArgument, format!("`{param}` is not valid UTF-8"))
    })
}

/// Borrows a byte buffer argument; `len == 0` accepts any pointer, including NULL.
///
/// # Safety
/// If `len > 0`, `ptr` points to `len` readable bytes valid for the duration of the call.
pub(crate) unsafe fn arg_bytes<'a>(ptr: *const u8, len: usize, param: &str) -> ZerobusResult<&'a [u8]> {
    // SAFETY: this function's contract is `arg_slice`'s.
    unsafe { arg_slice(ptr, len, param) }
}

/// Borrows an array argument of `len` elements; `len == 0` accepts any pointer, including NULL.
///
/// # Safety
/// If `len > 0`, `ptr` points to `len` readable, initialised `T`s valid for the duration of the call.
pub(crate) unsafe fn arg_slice<'a, T>(ptr: *const T, len: usize, param: &str) -> ZerobusResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(param));
    }
    // SAFETY: non-null and the caller promises `len` readable elements for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// [`arg_bytes`] that must not be empty: an empty buffer fails with `code` and `message`.
///
/// # Safety
/// As [`arg_bytes`].
pub(crate) unsafe fn arg_nonempty_bytes<'a>(
    ptr: *const u8,
    len: usize,
    param: &str,
    code: zerobus_core::ErrorCode,
    message: &str,
) -> ZerobusResult<&'a [u8]> {
    // SAFETY: this function's contract is `arg_bytes`'s.
    let bytes = unsafe { arg_bytes(ptr, len, param) }?;
    if bytes.is_empty() {
        return Err(ZerobusError::new(code, message.to_owned()));
    }
    Ok(bytes)
}

/// Writes `value` through an optional output pointer.
///
/// # Safety
/// `out` is NULL or points to writable memory for a `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: per this function's contract.
        unsafe { out.write(value) };
    }
}

/// The library version: a static NUL-terminated string owned by the library, valid for the
/// life of the process. Never free it.
#[no_mangle]
pub extern "C" fn zerobus_version() -> *const c_char {
    static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}
