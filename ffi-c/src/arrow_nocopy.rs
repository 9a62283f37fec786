//! The `_nocopy` forms of the Arrow ingest calls: the caller's memory is sent as it is and kept
//! until the library is done with it, which it learns from a release callback, instead of being
//! copied at admission. For callers that can promise not to write or free the memory until then
//! (a C program's own malloc'd IPC buffer, Go memory pinned until the callback, Arrow Java
//! buffers transferred out of the user's root).
//!
//! The release callback runs exactly once, whatever the outcome: on the calling thread before the
//! call returns when the call fails or the data has to be copied anyway (compression, layouts the
//! in-place writer does not cover), otherwise on a library thread once every row of the call is
//! acknowledged, or once the stream is freed and its unacked calls with it.

use std::ffi::c_void;
use std::sync::Arc;

use arrow_data::ffi::FFI_ArrowArray;
use arrow_schema::ffi::FFI_ArrowSchema;
use bytes::Bytes;

use crate::arrow::{ingest_c_data, ipc_arg, settle, stream, zerobus_arrow_stream, Keep};
use crate::arrow_columns::column_slices;
use crate::callbacks::{zerobus_release_fn, UserData};
use crate::error::zerobus_error;
use crate::{guard, write_out};

/// The caller's IPC bytes as a `Bytes` owner: released (through `UserData`) when the last slice
/// of them is dropped.
struct HeldIpc {
    ptr: *const u8,
    len: usize,
    _release: UserData,
}

// SAFETY: the bytes are only read, and the caller promised (per the functions below) that no one
// writes or frees them until the release callback, which may run on any thread.
unsafe impl Send for HeldIpc {}
// SAFETY: as above: shared reads of unchanging memory.
unsafe impl Sync for HeldIpc {}

impl AsRef<[u8]> for HeldIpc {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` readable bytes that stay valid and unwritten until the
        // release callback, which runs only when this owner is dropped.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// `zerobus_arrow_stream_ingest_ipc` without the copy: the library keeps `ipc` (`len` bytes) and
/// sends the batches out of it, and calls `release(release_data)` exactly once when it is done
/// with the bytes, whatever the outcome: on the calling thread before this returns if the call
/// fails or the stream's ipc_compression re-encodes the bytes; otherwise on a library thread once
/// every row of the call is acknowledged, or once the stream is freed with the call unacked
/// (after a terminal failure its unacked rows are kept for `zerobus_arrow_stream_get_unacked_ipc`
/// until then). Until then the caller must neither write nor free them. `release` may be NULL
/// when the bytes outlive the stream (a static buffer, a mapping the caller unmaps after freeing
/// the stream). Everything else is as for `zerobus_arrow_stream_ingest_ipc`. Returns false on error (`release` has then run).
///
/// # Safety
/// `ipc` points to `len` readable bytes that stay valid and unwritten until `release` is called
/// (until the stream is freed if `release` is NULL); `release` is NULL or a function that may be
/// called from any thread with `release_data`; `offset` is NULL or points to a writable
/// `int64_t`; `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_ingest_ipc_nocopy(
    stream: *const zerobus_arrow_stream,
    ipc: *const u8,
    len: usize,
    release: zerobus_release_fn,
    release_data: *mut c_void,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // Owned first, so that every outcome releases exactly once (at the latest as this returns).
    let owner = UserData::new(release_data, release);
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, move || {
            let s = self::stream(stream)?;
            let bytes = ipc_arg(ipc, len)?;
            let bytes = Bytes::from_owner(HeldIpc { ptr: bytes.as_ptr(), len: bytes.len(), _release: owner });
            settle(s.core().queue_ipc_batch(&bytes)?)
        })
        .map(|o| write_out(offset, o))
    }
    .is_some()
}

/// `zerobus_arrow_stream_ingest_columns` without the copy: the buffers are sent as they are and
/// kept until the library is done with them, when it calls `release(release_data)` exactly once
/// (when, as for `zerobus_arrow_stream_ingest_ipc_nocopy`; also before this returns if a layout
/// the library does not send in place, such as a sliced column, is copied). Until then the
/// caller must neither write nor free any of the buffers. `release` may be NULL when the buffers outlive the stream. Everything
/// else is as for `zerobus_arrow_stream_ingest_columns`. Returns false on error (`release` has
/// then run).
///
/// # Safety
/// As `zerobus_arrow_stream_ingest_columns`, except that each `buffers[i]` stays readable and
/// unwritten until `release` is called (until the stream is freed if `release` is NULL), not
/// only for the call; `release` is NULL or a function that may be called from any thread with
/// `release_data`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_ingest_columns_nocopy(
    stream: *const zerobus_arrow_stream,
    schema_ipc: *const u8,
    schema_len: usize,
    nodes: *const u64,
    nodes_len: usize,
    buffers: *const *const u8,
    buffer_lens: *const usize,
    buffers_len: usize,
    release: zerobus_release_fn,
    release_data: *mut c_void,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    let owner = Arc::new(UserData::new(release_data, release));
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, move || {
            let s = self::stream(stream)?;
            let (schema, nodes, slices) =
                column_slices(schema_ipc, schema_len, nodes, nodes_len, buffers, buffer_lens, buffers_len)?;
            // The buffers stay valid and unwritten until `owner`'s last clone goes (this
            // function's contract), which is what `queue_columns_held` asks.
            settle(s.core().queue_columns_held(schema, nodes, &slices, owner)?)
        })
        .map(|o| write_out(offset, o))
    }
    .is_some()
}

/// `zerobus_arrow_stream_ingest_arrow` without the copy: the batch's buffers are sent as they are
/// and `array` is kept until the library is done with them; then its release callback is called,
/// exactly once (when, as for `zerobus_arrow_stream_ingest_ipc_nocopy`, and before this returns
/// if the batch has to be copied: sliced or dictionary columns, compression); `schema`'s is called
/// before this returns. Until then the caller must not write the array's buffers.
/// Everything else, ownership of the two structs included, is as for
/// `zerobus_arrow_stream_ingest_arrow`. Returns false on error (both have then been released).
///
/// # Safety
/// As `zerobus_arrow_stream_ingest_arrow`, and `array`'s release callback may be called from any
/// thread.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_ingest_arrow_nocopy(
    stream: *const zerobus_arrow_stream,
    array: *mut FFI_ArrowArray,
    schema: *mut FFI_ArrowSchema,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: per this function's contract, which is `ingest_c_data`'s with shared buffers.
    unsafe { ingest_c_data(stream, array, schema, offset, err, Keep::Share) }
}
