//! `zerobus_arrow_stream_ingest_columns`: record batches given as their column buffers, read in
//! place for the one call (`zerobus_core::arrow_columns` says how they are laid out). For
//! callers whose Arrow library has no cheap C Data export: Java's JNI shim walks a
//! `VectorSchemaRoot`'s `ArrowBuf`s into three arrays and makes this one call.

use zerobus_core::{ErrorCode, ZerobusError, ZerobusResult};

use crate::arrow::{settle, stream, zerobus_arrow_stream};
use crate::error::zerobus_error;
use crate::{arg_bytes, arg_nonempty_bytes, arg_slice, guard, write_out};

/// Queues one or more record batches given as their column buffers as ONE call under ONE offset,
/// stored in `*offset` (may be NULL).
///
/// - `schema_ipc` / `schema_len`: an Arrow IPC stream holding the batches' schema message (what
///   an IPC writer writes before the first batch). Decoded once per distinct schema in a row.
/// - `nodes` / `nodes_len`: two numbers per node, its length and its null count. Per batch, a
///   root node whose length is the batch's row count, then each column's node followed by its
///   children's (depth first, in schema order).
/// - `buffers` / `buffer_lens` / `buffers_len`: three buffers per node, in the nodes' order: its
///   validity bitmap, its offsets and its values (length 0, and any pointer, when the node's type
///   has no such buffer; the validity bitmap is not read when the null count is 0).
///
/// Ownership: everything stays the caller's. The library reads the buffers in place for this
/// call only: it validates them in full (lengths, offsets, UTF-8) and encodes them to Arrow IPC
/// at admission, before any wait for room, and keeps nothing of them; they may change or be
/// freed as soon as the call returns. Buffers that do not make the schema's columns (or a
/// schema that is not the stream's) fail with ZEROBUS_ERROR_INVALID_RECORD naming the table and
/// the column; nothing is queued and the stream carries on. Layouts other than primitive,
/// boolean, (large) binary and string, decimal, fixed-size binary, (large) list, map and struct
/// fail the same way: pass such batches as IPC or through the C Data Interface. Blocks only while
/// the in-flight bounds are reached. Returns false on error.
///
/// # Safety
/// `schema_ipc` points to `schema_len` readable bytes; `nodes` to `nodes_len` readable
/// `uint64_t`s; `buffers` and `buffer_lens` to `buffers_len` entries each, and each
/// `buffers[i]` to `buffer_lens[i]` readable bytes that no one writes during the call (any
/// pointer when its length is 0); pointers to arrays may be anything when their length is 0.
/// `offset` is NULL or points to a writable `int64_t`; `err` is NULL or a writable
/// `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_arrow_stream_ingest_columns(
    stream: *const zerobus_arrow_stream,
    schema_ipc: *const u8,
    schema_len: usize,
    nodes: *const u64,
    nodes_len: usize,
    buffers: *const *const u8,
    buffer_lens: *const usize,
    buffers_len: usize,
    offset: *mut i64,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let s = self::stream(stream)?;
            let (schema, nodes, slices) =
                column_slices(schema_ipc, schema_len, nodes, nodes_len, buffers, buffer_lens, buffers_len)?;
            settle(s.core().queue_columns(schema, nodes, &slices)?)
        })
        .map(|o| write_out(offset, o))
    }
    .is_some()
}

/// The schema, nodes and buffers of an `ingest_columns` call, checked for NULLs.
///
/// # Safety
/// The pointers as `zerobus_arrow_stream_ingest_columns` says; the slices live as long as the
/// caller promises the memory does.
#[allow(clippy::type_complexity)]
pub(crate) unsafe fn column_slices<'a>(
    schema_ipc: *const u8,
    schema_len: usize,
    nodes: *const u64,
    nodes_len: usize,
    buffers: *const *const u8,
    buffer_lens: *const usize,
    buffers_len: usize,
) -> ZerobusResult<(&'a [u8], &'a [u64], Vec<&'a [u8]>)> {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        let schema = arg_nonempty_bytes(
            schema_ipc,
            schema_len,
            "schema_ipc",
            ErrorCode::InvalidArgument,
            "`schema_ipc` is empty; pass the IPC stream of the batches' schema",
        )?;
        let nodes = arg_slice(nodes, nodes_len, "nodes")?;
        let lens = arg_slice(buffer_lens, buffers_len, "buffer_lens")?;
        let ptrs = arg_slice(buffers, buffers_len, "buffers")?;
        let slices = ptrs
            .iter()
            .zip(lens)
            .enumerate()
            .map(|(i, (&p, &len))| {
                arg_bytes(p, len, "buffers[i]").map_err(|_| {
                    ZerobusError::new(
                        ErrorCode::InvalidArgument,
                        format!("null pointer passed for `buffers[{i}]`, whose length is {len}; pass 0 for a buffer the node does not have"),
                    )
                })
            })
            .collect::<ZerobusResult<Vec<&[u8]>>>()?;
        Ok((schema, nodes, slices))
    }
}
