//! The C ABI of the Zerobus Ingest SDK: marshalling only. Every behaviour (retries, timers,
//! buffers, encoding) lives in `zerobus-core`; this crate turns C arguments into core calls,
//! core results into C values, and guarantees that no panic crosses the boundary.
//!
//! The header `include/zerobus.h` is generated from this crate by cbindgen (`make header`).
#![allow(non_camel_case_types)]
// Exported functions are `extern "C"` entry points: C callers cannot see an `unsafe` marker, so
// each pointer's contract is written in the header instead, and every dereference below is
// checked for NULL and carries a SAFETY comment.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![warn(missing_docs)]

mod callbacks;
mod error;
mod memory;
mod options;
mod sdk;
mod stream;

pub use callbacks::*;
pub use error::*;
pub use memory::*;
pub use options::*;
pub use sdk::*;
pub use stream::*;

use std::ffi::{c_char, CStr};
use std::sync::OnceLock;

use zerobus_core::{ZerobusError, ZerobusResult};

/// The runtime every stream of the process runs on. Created on first use; lives until exit.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("zerobus-worker")
            .enable_all()
            .build()
            .expect("the tokio runtime must start")
    })
}

/// Runs `f`, turning an error or a panic into a `zerobus_error` stored through `err`.
/// Returns `None` on failure.
pub(crate) fn guard<T>(err: *mut *mut zerobus_error, f: impl FnOnce() -> ZerobusResult<T>) -> Option<T> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(ZerobusError::new(zerobus_core::ErrorCode::Internal, format!("panic inside libzerobus: {what}")))
    });
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            error::store(err, e);
            None
        }
    }
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
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(param));
    }
    // SAFETY: non-null and the caller promises `len` readable bytes for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The library version, a static NUL-terminated string (never freed).
#[no_mangle]
pub extern "C" fn zerobus_version() -> *const c_char {
    static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}
