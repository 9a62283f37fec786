//! C function pointers standing in for the core's callback traits.

use std::ffi::{c_char, c_void, CString};

use zerobus_core::{AckCallback, ErrorCode, HeadersProvider, ZerobusError, ZerobusResult};

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
/// Returns 0 on success; any other value fails the connection attempt (retried as UNAVAILABLE).
pub type zerobus_headers_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, headers: *mut zerobus_headers) -> i32>;

/// User data shared with library threads.
struct UserData {
    ptr: *mut c_void,
    release: zerobus_release_fn,
}

// SAFETY: the header documents that callbacks run on library threads, so the caller provides
// user data that may be used from any thread.
unsafe impl Send for UserData {}
// SAFETY: as above; the library never dereferences the pointer itself.
unsafe impl Sync for UserData {}

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

/// Headers being collected from a headers provider; only valid inside the provider call.
pub struct zerobus_headers {
    entries: Vec<(String, String)>,
    bad: Option<String>,
}

/// Adds one header. `name` and `value` are copied. Valid only on the `headers` passed to a
/// `zerobus_headers_fn` during that call. Invalid UTF-8 or NULL fails the connection attempt.
#[no_mangle]
pub extern "C" fn zerobus_headers_add(
    headers: *mut zerobus_headers,
    name: *const c_char,
    value: *const c_char,
) {
    if headers.is_null() {
        return;
    }
    // SAFETY: the library passed this pointer to the provider and it is alive during the call.
    let headers = unsafe { &mut *headers };
    // SAFETY: the caller passes NUL-terminated strings valid for this call.
    match unsafe { (crate::arg_str(name, "name"), crate::arg_str(value, "value")) } {
        (Ok(n), Ok(v)) => headers.entries.push((n.to_owned(), v.to_owned())),
        (Err(e), _) | (_, Err(e)) => headers.bad = Some(e.message().to_owned()),
    }
}

pub(crate) struct CHeadersProvider {
    f: unsafe extern "C" fn(*mut c_void, *mut zerobus_headers) -> i32,
    data: UserData,
}

impl CHeadersProvider {
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
        let mut headers = zerobus_headers { entries: Vec::new(), bad: None };
        // SAFETY: the caller's provider, given its own user data and a headers object alive for the call.
        let rc = unsafe { (self.f)(self.data.ptr, &mut headers) };
        if let Some(bad) = headers.bad {
            return Err(ZerobusError::new(ErrorCode::InvalidArgument, format!("headers provider: {bad}")));
        }
        if rc != 0 {
            return Err(ZerobusError::new(
                ErrorCode::Unavailable,
                format!("headers provider returned {rc}; the connection attempt will be retried"),
            ));
        }
        Ok(headers.entries)
    }
}
