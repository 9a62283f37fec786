//! The per-record ingest calls as plain N-API functions.
//!
//! A `#[napi]` method pays, on every call, for finding its native object behind `this` (a private
//! property lookup and a type-tag check), for napi-rs's borrow bookkeeping (a heap-allocated scope
//! per call) and, for a `String` argument, for two UTF-8 conversions and a zeroed allocation; an
//! array of strings adds an allocation per element. At one record per call that is most of the
//! binding's cost. So the ingest calls are plain functions created once per stream: the stream
//! travels as the function's `data` pointer, and every record is converted to UTF-8 once,
//! straight into a reused per-thread buffer that the core copies from.
//!
//! Each function returns the offset (a number), `null` for an empty batch, `-1` (try forms) when
//! the in-flight bounds are reached, `-2` (`texts`) when the batch must be packed in JavaScript
//! instead, or a `NativePending` holding the call's place in line.
//!
//! Text goes to the core as JSON text (`RecordRef::Json`, or a contiguous batch marked as text),
//! never as bytes: on a JSON stream it is checked and sent as is, on a PROTO stream opened from
//! its table the core encodes it by the table's schema, and on any other PROTO stream it is the
//! core's record-type mismatch.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;
use zerobus_core::{ErrorCode, Queued, RecordRef, RecordType, ZerobusError, ZerobusResult, ZerobusStream};

use crate::{drop_quietly, panic_error, to_js_error, trip, NativePending, QUEUE_FULL};

/// Returned by `texts` for a batch that is not all text, or on a PROTO stream: `index.js` then
/// packs it record by record.
const PER_RECORD: i64 = -2;

/// First size of the scratch buffer; it grows to the largest record or text batch seen.
const FIRST_SCRATCH: usize = 64 << 10;

/// The scratch buffer is kept between calls up to this size.
const KEEP_SCRATCH: usize = 16 << 20;

thread_local! {
    /// Where records are converted to UTF-8 before the core copies them into its encoded call.
    /// One per JavaScript thread; never held across a call into JavaScript.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// How an ingest call treats full in-flight bounds.
const QUEUE: u8 = 0;
const TRY: u8 = 1;

/// Creates `{ one, texts, tryOne, tryTexts }` for `stream`. Each function holds a strong
/// reference to the stream, released when the function is garbage collected.
///
/// # Safety
/// `env` is the current callback's environment, on the JavaScript thread.
pub(crate) unsafe fn calls(env: sys::napi_env, stream: &Arc<ZerobusStream>) -> napi::Result<sys::napi_value> {
    let mut object = ptr::null_mut();
    // SAFETY: `env` is valid for this callback (caller's contract); `object` is a valid out slot.
    check(unsafe { sys::napi_create_object(env, &mut object) })?;
    let functions: [(&CStr, sys::napi_callback); 4] = [
        (c"one", Some(one::<QUEUE>)),
        (c"texts", Some(texts::<QUEUE>)),
        (c"tryOne", Some(one::<TRY>)),
        (c"tryTexts", Some(texts::<TRY>)),
    ];
    for (name, callback) in functions {
        // SAFETY: as above; `bound` is given this callback's env.
        let f = unsafe { bound(env, name, callback, stream) }?;
        // SAFETY: `object` and `f` are live values of this callback's scope; `name` is NUL-terminated.
        check(unsafe { sys::napi_set_named_property(env, object, name.as_ptr(), f) })?;
    }
    Ok(object)
}

/// A function whose `data` is `Arc::into_raw(stream)`, released by a finalizer.
///
/// # Safety
/// `env` is the current callback's environment, on the JavaScript thread.
unsafe fn bound(
    env: sys::napi_env,
    name: &CStr,
    callback: sys::napi_callback,
    stream: &Arc<ZerobusStream>,
) -> napi::Result<sys::napi_value> {
    let data = Arc::into_raw(stream.clone()) as *mut c_void;
    let mut f = ptr::null_mut();
    // SAFETY: valid env (caller's contract), NUL-terminated name, out slot on the stack.
    let status = unsafe {
        sys::napi_create_function(env, name.as_ptr(), name.to_bytes().len() as isize, callback, data, &mut f)
    };
    let status = if status == sys::Status::napi_ok {
        // SAFETY: `f` was just created; `release` takes back exactly the reference made above.
        unsafe { sys::napi_add_finalizer(env, f, data, Some(release), ptr::null_mut(), ptr::null_mut()) }
    } else {
        status
    };
    if status != sys::Status::napi_ok {
        // SAFETY: no finalizer owns `data`: take the reference back. If the function exists it is
        // never handed to JavaScript, so nothing calls it with the dangling pointer.
        drop(unsafe { Arc::from_raw(data as *const ZerobusStream) });
        return Err(napi::Error::new(napi::Status::GenericFailure, "could not create the ingest functions"));
    }
    Ok(f)
}

/// The finalizer of a bound function: gives back its reference to the stream. Dropping the last
/// one drops the stream, inside `catch_unwind` (a finalizer has nowhere to report a panic, and it
/// must not unwind into Node).
unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Arc::into_raw` of `bound` (nothing else is ever registered with this
    // finalizer), and N-API runs a finalizer once, so this takes back exactly that reference.
    let stream = unsafe { Arc::from_raw(data as *const ZerobusStream) };
    drop_quietly(stream);
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(napi::Status::from(status), "N-API call failed"))
    }
}

/// Arguments and the bound stream of a call.
///
/// # Safety
/// `env` and `info` are the current callback's. The returned stream borrows the function's
/// strong reference, which lives as long as the function, hence through this call.
unsafe fn args<'a, const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> napi::Result<(&'a ZerobusStream, [sys::napi_value; N])> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let mut data = ptr::null_mut();
    // SAFETY: `argv` has room for `argc` values; the other out slots are valid.
    check(unsafe {
        sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data)
    })?;
    if argc < N || data.is_null() {
        return Err(invalid("missing arguments"));
    }
    // SAFETY: `data` is the function's own data pointer, set by `bound` to an `Arc::into_raw` of
    // the stream (JavaScript cannot replace it: it is not `this` nor an argument). That reference
    // is released only by the function's finalizer, which cannot run while the function is being
    // called, so the stream outlives this call.
    Ok((unsafe { &*(data as *const ZerobusStream) }, argv))
}

fn invalid(message: &str) -> napi::Error {
    to_js_error(ZerobusError::new(ErrorCode::InvalidArgument, message))
}

/// Runs a callback body: its value, or `undefined` after throwing its error (a panic included,
/// which must not unwind into Node).
///
/// # Safety
/// `env` is the current callback's environment.
unsafe fn run(env: sys::napi_env, body: impl FnOnce() -> napi::Result<sys::napi_value>) -> sys::napi_value {
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| Err(panic_error(payload)));
    match result {
        Ok(v) => v,
        Err(e) => {
            // Throwing creates JavaScript values; keep a panic there from unwinding into Node too
            // (then nothing is thrown and the call returns `undefined`).
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: `env` is the current callback's (the caller's contract), and this runs
                // on its thread before the callback returns.
                unsafe { napi::JsError::from(e).throw_into(env) }
            }));
            ptr::null_mut()
        }
    }
}

/// The JavaScript value of an ingest outcome.
///
/// # Safety
/// `env` is the current callback's environment, on the JavaScript thread.
unsafe fn outcome(env: sys::napi_env, r: ZerobusResult<Queued>) -> napi::Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    match r {
        // SAFETY (all three): valid env, out slot on the stack.
        Ok(Queued::Offset(Some(offset))) => check(unsafe { sys::napi_create_int64(env, offset, &mut v) })?,
        Ok(Queued::Offset(None)) => check(unsafe { sys::napi_get_null(env, &mut v) })?,
        Ok(Queued::Waiting(p)) => {
            // SAFETY: valid env on the JavaScript thread; the class is registered at load time.
            v = unsafe { NativePending::to_napi_value(env, NativePending { inner: Mutex::new(Some(p)) }) }?
        }
        Err(e) if e.code() == ErrorCode::QueueFull => {
            check(unsafe { sys::napi_create_int64(env, QUEUE_FULL, &mut v) })?
        }
        Err(e) => return Err(to_js_error(e)),
    }
    Ok(v)
}

fn ingest(stream: &ZerobusStream, mode: u8, record: RecordRef<'_>) -> ZerobusResult<Queued> {
    if mode == TRY {
        stream.try_ingest_record_offset(record).map(|o| Queued::Offset(Some(o)))
    } else {
        stream.queue_record(record)
    }
}

/// Appends the UTF-8 form of `value` to `buf`: `Ok(false)` (nothing appended) when it is not a
/// string. One conversion when the spare capacity holds it, which it does once `buf` has grown
/// to the largest size seen.
///
/// # Safety
/// `env` is the current callback's environment and `value` a live value of it.
unsafe fn append_utf8(env: sys::napi_env, value: sys::napi_value, buf: &mut Vec<u8>) -> napi::Result<bool> {
    let mut written = 0usize;
    let room = buf.capacity() - buf.len();
    if room > 1 {
        // SAFETY: N-API writes at most `room` bytes, into the spare capacity (the pointer is
        // within the allocation, `room` bytes from its end).
        let status = unsafe {
            sys::napi_get_value_string_utf8(
                env,
                value,
                buf.as_mut_ptr().add(buf.len()) as *mut c_char,
                room,
                &mut written,
            )
        };
        if status == sys::Status::napi_string_expected {
            return Ok(false);
        }
        check(status)?;
        if written + 1 < room {
            // SAFETY: the string fitted (it left the terminator's byte and more unused), and
            // N-API initialised the `written` bytes it reports.
            unsafe { buf.set_len(buf.len() + written) };
            return Ok(true);
        }
    }
    // It may not have fitted: ask for its length, make room, convert again.
    let mut needed = 0usize;
    // SAFETY: a length query writes nothing but `needed`.
    let status = unsafe { sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut needed) };
    if status == sys::Status::napi_string_expected {
        return Ok(false);
    }
    check(status)?;
    buf.reserve(needed + 1);
    // SAFETY: as above, with room for all of it.
    check(unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr().add(buf.len()) as *mut c_char,
            needed + 1,
            &mut written,
        )
    })?;
    // SAFETY: N-API initialised the `written` bytes it reports.
    unsafe { buf.set_len(buf.len() + written) };
    Ok(true)
}

/// Runs `f` with this thread's scratch buffer, empty, and trims the buffer afterwards. A call
/// made while the buffer is in use (reading a batch element can run a JavaScript getter, which
/// may call an ingest function again) gets a buffer of its own instead.
fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            if buf.capacity() == 0 {
                buf.reserve(FIRST_SCRATCH);
            }
            let result = f(&mut buf);
            if buf.capacity() > KEEP_SCRATCH {
                *buf = Vec::new();
            }
            result
        }
        Err(_) => f(&mut Vec::with_capacity(FIRST_SCRATCH)),
    })
}

/// `one(record)`: `record` is a string (JSON text) or a Buffer (proto bytes).
unsafe extern "C" fn one<const MODE: u8>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: N-API calls this with its own live `env` and `info`, on the JavaScript thread.
    unsafe { run(env, || one_body::<MODE>(env, info)) }
}

/// # Safety
/// `env` and `info` are the current callback's.
unsafe fn one_body<const MODE: u8>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> napi::Result<sys::napi_value> {
    // SAFETY: the caller's contract.
    let (stream, [record]) = unsafe { args::<1>(env, info) }?;
    trip("fast.one");
    let text = with_scratch(|buf| -> napi::Result<Option<napi::Result<sys::napi_value>>> {
        // SAFETY: `record` is an argument of this callback, `env` its environment.
        if !unsafe { append_utf8(env, record, buf) }? {
            return Ok(None);
        }
        let text = std::str::from_utf8(buf).map_err(|_| invalid("record is not UTF-8"))?;
        // SAFETY: `env` is this callback's.
        Ok(Some(unsafe { outcome(env, ingest(stream, MODE, RecordRef::Json(text))) }))
    })?;
    if let Some(result) = text {
        return result;
    }
    let (mut data, mut len) = (ptr::null_mut(), 0usize);
    // SAFETY: valid env and argument, out slots on the stack.
    check(unsafe { sys::napi_get_buffer_info(env, record, &mut data, &mut len) })
        .map_err(|_| invalid("a record is a string or a Buffer"))?;
    let bytes = if len == 0 {
        &[][..]
    } else {
        // SAFETY: N-API gives the Buffer's `len` bytes, which stay put during this synchronous
        // call (nothing here runs JavaScript); the core copies them before returning.
        unsafe { std::slice::from_raw_parts(data as *const u8, len) }
    };
    // SAFETY: `env` is this callback's.
    unsafe { outcome(env, ingest(stream, MODE, RecordRef::Proto(bytes))) }
}

/// # Safety
/// `env` is the current callback's environment.
unsafe fn per_record(env: sys::napi_env) -> napi::Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: valid env (caller's), out slot on the stack.
    check(unsafe { sys::napi_create_int64(env, PER_RECORD, &mut v) }).map(|()| v)
}

/// Array elements read per handle scope, so a huge batch does not pile up handles.
const SCOPE_ELEMENTS: u32 = 1024;

/// `texts(records)`: a batch that is all JSON text, converted straight into one contiguous
/// buffer (each record once, no intermediate string) and handed to the core in one call.
unsafe extern "C" fn texts<const MODE: u8>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: N-API calls this with its own live `env` and `info`, on the JavaScript thread.
    unsafe { run(env, || texts_body::<MODE>(env, info)) }
}

/// # Safety
/// `env` and `info` are the current callback's.
unsafe fn texts_body<const MODE: u8>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> napi::Result<sys::napi_value> {
    // SAFETY: the caller's contract.
    let (stream, [records]) = unsafe { args::<1>(env, info) }?;
    trip("fast.texts");
    if !matches!(stream.record_type(), RecordType::Json) && stream.table_schema().is_none() {
        // Text on a PROTO stream with a descriptor is a mistake the per-record path reports; a
        // PROTO stream opened from its table takes text (the core encodes it by the schema).
        // SAFETY: `env` is this callback's.
        return unsafe { per_record(env) };
    }
    let mut count = 0u32;
    // SAFETY: valid env and argument, out slot on the stack.
    check(unsafe { sys::napi_get_array_length(env, records, &mut count) })
        .map_err(|_| invalid("a batch is an array"))?;
    with_scratch(|buf| {
        let mut lengths = Vec::with_capacity(count as usize);
        let mut i = 0;
        while i < count {
            let mut scope = ptr::null_mut();
            // SAFETY: valid env; the scope is closed below, before the next one opens.
            check(unsafe { sys::napi_open_handle_scope(env, &mut scope) })?;
            let end = count.min(i + SCOPE_ELEMENTS);
            let read = (|| -> napi::Result<bool> {
                for k in i..end {
                    let mut element = ptr::null_mut();
                    // SAFETY: valid env and argument, out slot on the stack.
                    check(unsafe { sys::napi_get_element(env, records, k, &mut element) })?;
                    let before = buf.len();
                    // SAFETY: `element` is live in the open scope, `env` is this callback's.
                    if !unsafe { append_utf8(env, element, buf) }? {
                        return Ok(false);
                    }
                    lengths.push(buf.len() - before);
                }
                Ok(true)
            })();
            // SAFETY: the scope opened above, still the innermost one.
            check(unsafe { sys::napi_close_handle_scope(env, scope) })?;
            if !read? {
                // SAFETY: `env` is this callback's.
                return unsafe { per_record(env) };
            }
            i = end;
        }
        let queued = if MODE == TRY {
            stream.try_ingest_records_contiguous_as(RecordType::Json, buf, &lengths).map(Queued::Offset)
        } else {
            stream.queue_records_contiguous_as(RecordType::Json, buf, &lengths)
        };
        // SAFETY: `env` is this callback's.
        unsafe { outcome(env, queued) }
    })
}
