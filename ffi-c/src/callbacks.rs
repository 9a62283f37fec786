//! C function pointers standing in for the core's callback traits.

use std::ffi::{c_char, c_void, CString};
use std::sync::Mutex;

use zerobus_core::{AckCallback, ErrorCode, HeadersProvider, ZerobusError, ZerobusResult};

use crate::handles::{self, Table};

/// Called once per acknowledged offset, in order, on a library thread.
pub type zerobus_ack_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, offset: i64)>;
/// Called once per offset that failed for good, in order, on a library thread. `message` is
/// valid only during the call.
pub type zerobus_ack_error_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, offset: i64, message: *const c_char)>;
/// Called once when the library no longer needs `user_data` (after the last stream and options
/// using it are freed), so the caller can release it.
pub type zerobus_release_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;
/// Fills `headers` with the call metadata for the next connection, with `zerobus_headers_add`.
/// Returns `ZEROBUS_OK` (0) on success, or the `zerobus_code` of the failure, which decides what
/// the stream does (e.g. `ZEROBUS_ERROR_UNAVAILABLE` is retried within the recovery budget,
/// `ZEROBUS_ERROR_UNAUTHENTICATED` is final); `zerobus_headers_set_error` adds a message. A value
/// outside the list counts as `ZEROBUS_ERROR_UNAVAILABLE`. `headers` is valid only during the call.
pub type zerobus_headers_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, headers: *mut zerobus_headers) -> i32>;

/// User data shared with library threads, released (if `release` is set) when dropped.
pub(crate) struct UserData {
    ptr: *mut c_void,
    release: zerobus_release_fn,
}

// SAFETY: the header documents that callbacks run on library threads, so the caller provides
// user data that may be used from any thread.
unsafe impl Send for UserData {}
// SAFETY: as above; the library never dereferences the pointer itself.
unsafe impl Sync for UserData {}

impl UserData {
    pub(crate) fn new(ptr: *mut c_void, release: zerobus_release_fn) -> Self {
        Self { ptr, release }
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: the caller's release function, called exactly once with its own pointer.
            unsafe { release(self.ptr) };
        }
    }
}

pub(crate) struct CAckCallback {
    on_ack: zerobus_ack_fn,
    on_error: zerobus_ack_error_fn,
    data: UserData,
}

impl CAckCallback {
    pub fn new(
        on_ack: zerobus_ack_fn,
        on_error: zerobus_ack_error_fn,
        user_data: *mut c_void,
        release: zerobus_release_fn,
    ) -> Self {
        CAckCallback { on_ack, on_error, data: UserData { ptr: user_data, release } }
    }
}

impl AckCallback for CAckCallback {
    fn on_ack(&self, offset: i64) {
        if let Some(f) = self.on_ack {
            // SAFETY: a C function pointer the caller registered for exactly this signature.
            unsafe { f(self.data.ptr, offset) };
        }
    }

    fn on_error(&self, offset: i64, message: &str) {
        if let Some(f) = self.on_error {
            let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
            // SAFETY: as above; `message` outlives the call.
            unsafe { f(self.data.ptr, offset, message.as_ptr()) };
        }
    }
}

/// Headers being collected from a headers provider: a handle valid only during that provider
/// call (the library frees it when the call returns).
pub struct zerobus_headers {
    collected: Mutex<Collected>,
}

#[derive(Default)]
struct Collected {
    entries: Vec<(String, String)>,
    bad: Option<String>,
    message: Option<String>,
}

static HEADERS: Table<zerobus_headers> = Table::new(handles::HEADERS);

fn edit(headers: *mut zerobus_headers, f: impl FnOnce(&mut Collected)) {
    crate::quietly(|| {
        if let Ok(h) = HEADERS.get(headers, "headers") {
            f(&mut h.collected.lock().unwrap_or_else(|e| e.into_inner()));
        }
    });
}

/// Adds one header. `name` and `value` are NUL-terminated UTF-8 strings, copied. Valid only on
/// the `headers` passed to a `zerobus_headers_fn`, during that call (later calls do nothing).
/// NULL or invalid UTF-8 fails the connection attempt with ZEROBUS_ERROR_INVALID_ARGUMENT.
///
/// # Safety
/// `name` and `value` are NULL or point to NUL-terminated strings valid for the call.
#[no_mangle]
pub unsafe extern "C" fn zerobus_headers_add(
    headers: *mut zerobus_headers,
    name: *const c_char,
    value: *const c_char,
) {
    // SAFETY: the caller passes NUL-terminated strings valid for this call.
    let parsed = unsafe { (crate::arg_str(name, "name"), crate::arg_str(value, "value")) };
    edit(headers, |c| match parsed {
        (Ok(n), Ok(v)) => c.entries.push((n.to_owned(), v.to_owned())),
        (Err(e), _) | (_, Err(e)) => c.bad = Some(e.message().to_owned()),
    });
}

/// Sets the message of the failure a headers provider is about to return (copied; a
/// NUL-terminated UTF-8 string). Valid only during the provider call, like `zerobus_headers_add`.
///
/// # Safety
/// `message` is NULL or points to a NUL-terminated string valid for the call.
#[no_mangle]
pub unsafe extern "C" fn zerobus_headers_set_error(headers: *mut zerobus_headers, message: *const c_char) {
    // SAFETY: the caller passes a NUL-terminated string valid for this call.
    let message = unsafe { crate::arg_str(message, "message") }.map(str::to_owned).ok();
    edit(headers, |c| c.message = message);
}

pub(crate) struct CHeadersProvider {
    f: unsafe extern "C" fn(*mut c_void, *mut zerobus_headers) -> i32,
    data: UserData,
}

impl CHeadersProvider {
    /// The provider a C caller passed (`provider`, `user_data`, `release`). A NULL `provider`
    /// is an error, and `user_data` is then handed back to `release` at once, since nothing
    /// will hold it.
    ///
    /// # Safety
    /// `release`, if given, may be called with `user_data`, per the header's contract.
    pub unsafe fn from_c(
        provider: zerobus_headers_fn,
        user_data: *mut c_void,
        release: zerobus_release_fn,
    ) -> ZerobusResult<std::sync::Arc<CHeadersProvider>> {
        let Some(provider) = provider else {
            if let Some(release) = release {
                // SAFETY: per this function's contract; user_data goes back to its owner once.
                unsafe { release(user_data) };
            }
            return Err(crate::null("provider"));
        };
        Ok(std::sync::Arc::new(CHeadersProvider::new(provider, user_data, release)))
    }

    pub fn new(
        f: unsafe extern "C" fn(*mut c_void, *mut zerobus_headers) -> i32,
        user_data: *mut c_void,
        release: zerobus_release_fn,
    ) -> Self {
        CHeadersProvider { f, data: UserData { ptr: user_data, release } }
    }
}

impl HeadersProvider for CHeadersProvider {
    fn get_headers(&self) -> ZerobusResult<Vec<(String, String)>> {
        let handle: *mut zerobus_headers =
            HEADERS.insert(zerobus_headers { collected: Mutex::new(Collected::default()) })?;
        // SAFETY: the caller's provider, given its own user data and a headers handle that is
        // live for the call.
        let rc = unsafe { (self.f)(self.data.ptr, handle) };
        let collected = HEADERS
            .remove(handle)
            .map(|h| std::mem::take(&mut *h.collected.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default();
        if let Some(bad) = collected.bad {
            return Err(ZerobusError::new(ErrorCode::InvalidArgument, format!("zerobus_headers_add: {bad}")));
        }
        if rc == 0 {
            return Ok(collected.entries);
        }
        let code = crate::error::code_from(rc).unwrap_or(ErrorCode::Unavailable);
        let message = collected.message.unwrap_or_else(|| format!("the provider returned {rc}"));
        Err(ZerobusError::new(code, message))
    }
}
