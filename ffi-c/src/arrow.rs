//! Arrow streams (Flight `DoPut`, PROTOCOL.md §9): creation, ingest from Arrow IPC bytes and from
//! the Arrow C Data Interface, wait, flush, close, metrics, unacked rows as IPC, free.
//!
//! Two ways in, both one call per batch:
//! - `zerobus_arrow_stream_ingest_ipc`: an IPC *stream* (schema message, then record batches),
//!   copied once into a `Bytes`; core checks its schema and passes its batches through (only
//!   compressing uncompressed bodies when the stream's `ipc_compression` asks for it).
//! - `zerobus_arrow_stream_ingest_arrow`: a struct array (`struct ArrowArray` + `struct
//!   ArrowSchema`) imported without copying (`arrow_array::ffi::from_ffi`); core encodes it to IPC
//!   at admission, after which nothing refers to the caller's memory, so both release callbacks
//!   have run by the time the call returns.
//! - `zerobus_arrow_stream_ingest_columns` (`arrow_columns.rs`): a batch's column buffers, read
//!   in place for the call.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use arrow_array::ffi::from_ffi;
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_data::ffi::FFI_ArrowArray;
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::DataType;
use bytes::Bytes;
use zerobus_core::{
    ArrowTableProperties, ErrorCode, Queued, ZerobusArrowStream, ZerobusError, ZerobusResult,
};

use crate::arrow_options::zerobus_arrow_stream_options;
use crate::callbacks::{zerobus_headers_fn, zerobus_release_fn, CHeadersProvider};
use crate::error::zerobus_error;
use crate::handles::{self, Table};
use crate::memory::{zerobus_buffer, BUFFERS};
use crate::sdk::{zerobus_sdk, SDKS};
use crate::stream::{metrics_of, zerobus_metrics};
use crate::{arg_bytes, arg_nonempty_bytes, arg_str, guard, null, quietly, runtime, write_out};

/// An open Arrow stream into one table. Thread-safe: any number of threads may ingest at once.
/// Owned by the caller until `zerobus_arrow_stream_free`; close it with
/// `zerobus_arrow_stream_close` first.
pub struct zerobus_arrow_stream {
    inner: Option<ZerobusArrowStream>,
}

impl zerobus_arrow_stream {
    pub(crate) fn core(&self) -> &ZerobusArrowStream {
        self.inner.as_ref().expect("a stream is taken only when it is dropped")
    }
}

impl Drop for zerobus_arrow_stream {
    fn drop(&mut self) {
        // As zerobus_stream: the last reference may go on any thread; dropping inside the runtime
        // lets the stream's background tasks be cancelled cleanly.
        let _entered = runtime().enter();
        drop(self.inner.take());
    }
}

static ARROW_STREAMS: Table<zerobus_arrow_stream> = Table::new(handles::ARROW_STREAM);

/// The stream behind a handle, held for the duration of one call.
pub(crate) fn stream(handle: *const zerobus_arrow_stream) -> ZerobusResult<Arc<zerobus_arrow_stream>> {
    ARROW_STREAMS.get(handle, "stream")
}

/// The table and options shared by both creation calls: `schema_ipc` NULL or length 0 means the
/// schema comes from the table.
///
/// # Safety
/// `table_name` is NULL or a NUL-terminated string, and `schema_ipc` points to `schema_len`
/// readable bytes (any pointer when 0), both valid for the call.
unsafe fn table_and_options(
    table_name: *const c_char,
    schema_ipc: *const u8,
    schema_len: usize,
    options: *const zerobus_arrow_stream_options,
) -> ZerobusResult<(ArrowTableProperties, zerobus_core::ArrowStreamConfigurationOptions)> {
    // SAFETY: per this function's contract.
    let table = unsafe { arg_str(table_name, "table_name") }?;
    // SAFETY: per this function's contract.
    let bytes = unsafe { arg_bytes(schema_ipc, schema_len, "schema_ipc") }?;
    let options = crate::arrow_options::resolve(options)?;
    let schema = if bytes.is_empty() { None } else { Some(zerobus_core::schema_from_ipc(bytes)?) };
    Ok((ArrowTableProperties { table_name: table.to_owned(), schema }, options))
}

/// Opens an Arrow stream (Arrow Flight `DoPut`) on `table_name` authenticated with OAuth client
/// credentials.
///
/// `table_name`, `client_id` and `client_secret` are NUL-terminated UTF-8 strings, copied (the
/// secret never appears in errors or logs). `schema_ipc` / `schema_len`: the batches' schema as an
/// Arrow IPC stream holding the schema message (batches after it are ignored), read during the
/// call; NULL or length 0 means "from the table": the library reads the table's schema from
/// Unity Catalog with the stream's credentials and maps it to Arrow as PROTOCOL.md §9 says
/// (STRING → LargeUtf8, INT → Int32, TIMESTAMP → Timestamp(µs, "UTC"), …). `options` may be NULL
/// for the defaults; it is read, not kept. Blocks until the server sent its ready signal (at most
/// recovery_timeout_ms per attempt, with backoff between attempts). Returns a new stream the
/// caller closes with `zerobus_arrow_stream_close` and frees with `zerobus_arrow_stream_free`, or
/// NULL on error: ZEROBUS_ERROR_INVALID_ARGUMENT for a schema that is not IPC or that the server
/// refuses (the message names the column), ZEROBUS_ERROR_NOT_FOUND for a table Unity Catalog does
/// not know (from the table).
///
/// # Safety
/// The strings are NULL or NUL-terminated and valid for the call; `schema_ipc` points to
/// `schema_len` readable bytes (any pointer when 0); `err` is NULL or a writable
/// `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_create_arrow_stream(
    sdk: *const zerobus_sdk,
    table_name: *const c_char,
    schema_ipc: *const u8,
    schema_len: usize,
    client_id: *const c_char,
    client_secret: *const c_char,
    options: *const zerobus_arrow_stream_options,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_arrow_stream {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let sdk = SDKS.get(sdk, "sdk")?;
            let (table, options) = table_and_options(table_name, schema_ipc, schema_len, options)?;
            let (id, secret) = (arg_str(client_id, "client_id")?, arg_str(client_secret, "client_secret")?);
            let stream = runtime().block_on(sdk.inner.create_arrow_stream(table, id, secret, options))?;
            ARROW_STREAMS.insert(zerobus_arrow_stream { inner: Some(stream) })
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// Opens an Arrow stream whose call metadata comes from `provider(user_data, headers)`, exactly as
/// `zerobus_sdk_create_stream_with_headers_provider` (called on a library thread before every
/// connection attempt; it must add `authorization` and `x-databricks-zerobus-table-name`).
/// `user_data` is owned by the caller; the library only passes it back, and calls
/// `release(user_data)` (may be NULL) once when the stream no longer needs it, including when
/// this call fails. From the table (no schema) the schema is read with the `authorization` header
/// the provider adds. Other arguments as `zerobus_sdk_create_arrow_stream`. NULL on error.
///
/// # Safety
/// As `zerobus_sdk_create_arrow_stream`; `provider` and `release`, when set, are functions of the
/// documented signatures, safe to call from any thread with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_create_arrow_stream_with_headers_provider(
    sdk: *const zerobus_sdk,
    table_name: *const c_char,
    schema_ipc: *const u8,
    schema_len: usize,
    provider: zerobus_headers_fn,
    user_data: *mut c_void,
    release: zerobus_release_fn,
    options: *const zerobus_arrow_stream_options,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_arrow_stream {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            // First, so that every failure below hands user_data back through release.
            let provider = CHeadersProvider::from_c(provider, user_data, release)?;
            let sdk = SDKS.get(sdk, "sdk")?;
            let (table, options) = table_and_options(table_name, schema_ipc, schema_len, options)?;
            let stream = runtime()
                .block_on(sdk.inner.create_arrow_stream_with_headers_provider(table, provider, options))?;
            ARROW_STREAMS.insert(zerobus_arrow_stream { inner: Some(stream) })
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// Returns a queued call's offset, entering the runtime only when the call has to wait for room.
pub(crate) fn settle(queued: Queued) -> ZerobusResult<i64> {
    match queued {
        Queued::Offset(Some(offset)) => Ok(offset),
        Queued::Offset(None) => Err(ZerobusError::new(
            ErrorCode::Internal,
            "an Arrow call was queued without an offset; please report it".to_owned(),
        )),
        Queued::Waiting(pending) => runtime().block_on(pending.wait()),
    }
}

/// Queues an Arrow IPC *stream* (a schema message, then one or more record batches; `len` bytes,
/// copied once) as ONE call under ONE offset, stored in `*offset` (may be NULL). The batches are
/// sent as they are, without re-encoding, except that a batch written uncompressed is compressed
/// when the stream's ipc_compression is set (a batch already compressed keeps its codec).
/// The schema must be the stream's (same columns, in order, same types; a NOT NULL column may be
/// declared nullable if it holds no nulls): otherwise the call fails with
/// ZEROBUS_ERROR_INVALID_RECORD naming the column (`table main.default.cars: column seats:
/// expected Int32, got Int64`), nothing is queued, and the stream carries on. Blocks only while
/// the in-flight bounds are reached (until acks make room or the stream fails). Returns false on
/// error.
///
/// # Safety
/// `ipc` points to `len` readable bytes for the call (any pointer when 0); `offset` is NULL or
/// points to a writable `int64_t`; `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_ingest_ipc(
    stream: *const zerobus_arrow_stream,
    ipc: *const u8,
    len: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let s = self::stream(stream)?;
            let bytes = ipc_arg(ipc, len)?;
            // The one copy: core keeps these bytes until the call is acknowledged.
            let bytes = Bytes::copy_from_slice(bytes);
            settle(s.core().queue_ipc_batch(&bytes)?)
        })
        .map(|o| write_out(offset, o))
    }
    .is_some()
}

/// The `ipc` argument of both IPC ingest calls: non-NULL and not empty.
///
/// # Safety
/// `ipc` points to `len` readable bytes for as long as the slice is used (any pointer when 0).
pub(crate) unsafe fn ipc_arg<'a>(ipc: *const u8, len: usize) -> ZerobusResult<&'a [u8]> {
    // SAFETY: per this function's contract.
    unsafe {
        arg_nonempty_bytes(
            ipc,
            len,
            "ipc",
            ErrorCode::InvalidRecord,
            "the IPC stream is empty (0 bytes); pass an Arrow IPC stream: a schema message, then record batches",
        )
    }
}

/// Takes the caller's C Data structs, leaving them marked released (`release` set to NULL) as
/// the C Data Interface's move semantics say. NULL pointers give `None`.
///
/// # Safety
/// Each pointer is NULL or points to a struct the caller hands over.
pub(crate) unsafe fn take(
    array: *mut FFI_ArrowArray,
    schema: *mut FFI_ArrowSchema,
) -> (Option<FFI_ArrowArray>, Option<FFI_ArrowSchema>) {
    // SAFETY: per this function's contract; from_raw moves the struct out and leaves an empty,
    // released one in its place, so the caller's copy is never released twice.
    unsafe {
        (
            (!array.is_null()).then(|| FFI_ArrowArray::from_raw(array)),
            (!schema.is_null()).then(|| FFI_ArrowSchema::from_raw(schema)),
        )
    }
}

/// One record batch from a struct array and its schema, imported without copying: the batch's
/// buffers point into the caller's memory and keep `array` alive until the batch is dropped.
pub(crate) fn import(array: FFI_ArrowArray, schema: &FFI_ArrowSchema) -> ZerobusResult<RecordBatch> {
    let bad = |what: String| ZerobusError::new(ErrorCode::InvalidRecord, what);
    if array.is_released() {
        return Err(bad(
            "`array` was already released (its release callback is NULL); pass a live ArrowArray".into(),
        ));
    }
    if schema.release.is_none() {
        return Err(bad(
            "`schema` was already released (its release callback is NULL); pass a live ArrowSchema".into(),
        ));
    }
    // SAFETY: both structs are live (checked above) and, per the header, follow the C Data
    // Interface; the imported data is checked in full below before anything reads its values.
    let data = unsafe { from_ffi(array, schema) }.map_err(|e| {
        bad(format!("the Arrow C Data structs cannot be imported ({e}); pass a struct array and its schema"))
    })?;
    if !matches!(data.data_type(), DataType::Struct(_)) {
        return Err(bad(format!(
            "the array is a {} array; pass a struct array (format \"+s\"), one child per column, as a record batch exports",
            data.data_type()
        )));
    }
    // The producer is outside the library: check offsets, lengths and UTF-8 so that a malformed
    // array is an error here, not a read out of bounds in the encoder.
    data.validate_full().map_err(|e| bad(format!("the Arrow array is malformed ({e}); fix the producer")))?;
    let array = StructArray::from(data);
    if array.null_count() > 0 {
        return Err(bad(format!(
            "the struct array has {} null rows at the top level; a batch's rows cannot be null (put the nulls in its columns)",
            array.null_count()
        )));
    }
    Ok(RecordBatch::from(array))
}

/// Queues one record batch given through the Arrow C Data Interface as ONE call under ONE
/// offset, stored in `*offset` (may be NULL). `array` is a struct array (format "+s", one child
/// per column, no null rows at the top level; what a record batch exports, e.g. pyarrow's
/// `RecordBatch._export_to_c` or arrow-go's `cdata.ExportArrowRecordBatch`) and `schema` its
/// schema. The columns must be the stream's (as for `zerobus_arrow_stream_ingest_ipc`), else
/// ZEROBUS_ERROR_INVALID_RECORD naming the column, nothing queued, and the stream carries on.
///
/// Ownership: the library takes both structs the moment it is called, whatever the outcome
/// (success, any error, a NULL or dead stream handle): it moves them out of `*array` and
/// `*schema`, leaving both marked released (their `release` set to NULL), so the caller must NOT
/// call their release callbacks, after success or failure alike; the caller still owns the
/// memory of the two structs themselves (they may live on its stack). The batch is imported
/// without copying: the library reads the caller's buffers in place and encodes them to Arrow IPC
/// once, at admission, before any wait for room. Each release callback (`array->release`,
/// `schema->release`) is then called exactly once, on the calling thread, before this call
/// returns — so the caller's buffers may be reused or freed as soon as it returns, and nothing of
/// them is kept for resends (those come from the encoded copy). A struct already released (NULL
/// `release`) is ZEROBUS_ERROR_INVALID_RECORD and is not released again. The array is validated
/// in full (offsets, lengths, UTF-8) before it is encoded. Blocks only while the in-flight bounds
/// are reached. Returns false on error.
///
/// # Safety
/// `array` and `schema` are NULL or point to writable `struct ArrowArray` / `struct ArrowSchema`
/// that follow the Arrow C Data Interface, whose release callbacks may be called from this
/// thread; `offset` is NULL or points to a writable `int64_t`; `err` is NULL or a writable
/// `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_ingest_arrow(
    stream: *const zerobus_arrow_stream,
    array: *mut FFI_ArrowArray,
    schema: *mut FFI_ArrowSchema,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: per this function's contract, which is `ingest_c_data`'s.
    unsafe { ingest_c_data(stream, array, schema, offset, err, Keep::Copy) }
}

/// Whether an imported C Data batch is copied at admission or its buffers kept until acked.
#[derive(Clone, Copy)]
pub(crate) enum Keep {
    Copy,
    Share,
}

/// `zerobus_arrow_stream_ingest_arrow` and its `_nocopy` form: with `Copy` the batch is encoded
/// at admission and released before this returns; with `Share` its buffers are sent as they are
/// and `array` is released when the queued call lets go of them.
///
/// # Safety
/// As `zerobus_arrow_stream_ingest_arrow`; with `Share`, `array`'s release callback may be
/// called from any thread.
pub(crate) unsafe fn ingest_c_data(
    stream: *const zerobus_arrow_stream,
    array: *mut FFI_ArrowArray,
    schema: *mut FFI_ArrowSchema,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
    keep: Keep,
) -> bool {
    // Ownership first, before anything can fail: every outcome then releases both exactly once
    // (when the owned values are dropped, at the latest as this function returns, or, shared,
    // when the queued call drops its last buffer).
    // SAFETY: per this function's contract.
    let (array, schema) = unsafe { take(array, schema) };
    // SAFETY: `offset` and `err` per this function's contract.
    unsafe {
        guard(err, move || {
            let s = self::stream(stream)?;
            let array = array.ok_or_else(|| null("array"))?;
            let schema = schema.ok_or_else(|| null("schema"))?;
            let batch = import(array, &schema)?;
            drop(schema);
            let queued = match keep {
                Keep::Copy => s.core().queue_batch_copied(&batch),
                Keep::Share => s.core().queue_batch(&batch),
            };
            // Core has encoded the batch (or refused it, or holds its buffers): this reference
            // goes now, before waiting for room.
            drop(batch);
            settle(queued?)
        })
        .map(|o| write_out(offset, o))
    }
    .is_some()
}

/// Runs one of the stream's blocking operations on the library runtime.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
unsafe fn block_on_stream<F: std::future::Future<Output = ZerobusResult<()>>>(
    handle: *const zerobus_arrow_stream,
    err: *mut *mut zerobus_error,
    op: impl FnOnce(Arc<zerobus_arrow_stream>) -> F,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { guard(err, || runtime().block_on(op(stream(handle)?))) }.is_some()
}

/// Blocks until `offset` is acknowledged (every row of its call durable: true), the stream
/// fails, or flush_timeout_ms passes.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_wait_for_offset(
    stream: *const zerobus_arrow_stream,
    offset: i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { block_on_stream(stream, err, |s| async move { s.core().wait_for_offset(offset).await }) }
}

/// Blocks until every batch queued so far is acknowledged, at most flush_timeout_ms.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_flush(
    stream: *const zerobus_arrow_stream,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { block_on_stream(stream, err, |s| async move { s.core().flush().await }) }
}

/// Flushes, ends the `DoPut` call, waits for the server, stops callbacks. Idempotent (a second
/// call returns the first one's result). Blocks at most flush_timeout_ms + recovery_timeout_ms +
/// callback_max_wait_time_ms. After it returns no callback runs.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_close(
    stream: *const zerobus_arrow_stream,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe { block_on_stream(stream, err, |s| async move { s.core().close().await }) }
}

/// Whether the stream no longer accepts batches (closed or failed). False for NULL or a handle
/// that is not live.
#[no_mangle]
pub extern "C" fn zerobus_arrow_stream_is_closed(stream: *const zerobus_arrow_stream) -> bool {
    crate::catch(|| self::stream(stream).map(|s| s.core().is_closed())).unwrap_or(false)
}

/// Fills `*out` (caller-owned) with the stream's counters; `inflight_records` and
/// `records_sent` / `records_resent` count rows, `inflight_requests` ingest calls. Never blocks.
///
/// # Safety
/// `out` is NULL or points to a writable `zerobus_metrics`; `err` is NULL or a writable
/// `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_metrics(
    stream: *const zerobus_arrow_stream,
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

/// Every unacknowledged row, in offset order, as ONE Arrow IPC stream: the stream's schema
/// message, then one record batch per physical batch, the first starting at the first
/// unacknowledged row (a batch acked in part comes back without its acked rows), uncompressed.
/// After a terminal failure: what to ingest on a new stream (`zerobus_arrow_stream_ingest_ipc`
/// takes it as it is). With nothing unacked, a stream holding only the schema. Returns a new
/// buffer the caller frees with `zerobus_buffer_free`, or NULL on error.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_get_unacked_ipc(
    stream: *const zerobus_arrow_stream,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_buffer {
    // SAFETY: `err` per this function's contract.
    unsafe {
        guard(err, || {
            let data = self::stream(stream)?.core().get_unacked_ipc()?;
            BUFFERS.insert(zerobus_buffer { data })
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// Frees an Arrow stream. NULL, or a stream already freed, is a no-op. Call
/// `zerobus_arrow_stream_close` first: freeing an open stream stops it and abandons
/// unacknowledged batches. A call on the stream still running in another thread finishes first;
/// later calls with the handle fail with ZEROBUS_ERROR_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn zerobus_arrow_stream_free(stream: *mut zerobus_arrow_stream) {
    quietly(|| drop(ARROW_STREAMS.remove(stream)));
}
