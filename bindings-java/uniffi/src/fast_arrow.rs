//! The Arrow ingest call's fast path: `NativeIngest.arrowQueueColumns` and
//! `arrowQueueColumnsNoCopy`, plain JNI entry points like the record calls of `fast.rs` (which
//! says why uniffi is too slow for an ingest call), for Kotlin's `ArrowStream.ingestBatch` and
//! `ingestBatchTransfer(VectorSchemaRoot)`.
//!
//! A batch crosses as its column buffers' addresses and lengths (`zerobus_core::arrow_columns`
//! lays them out). `arrowQueueColumns`: the core reads the buffers in place, checks the batch
//! and encodes it to IPC before the call returns, and keeps nothing of them.
//! `arrowQueueColumnsNoCopy`: the core sends the buffers as they are and keeps them until the
//! rows are acked, then closes the Kotlin holder that owns them (`jni_upcall.rs`). The answers (offset, `PENDING`, `FAILED`)
//! and handles are `fast.rs`'s: a `PENDING` call is awaited with `pendingAwait`, a `FAILED` one's
//! error taken with `take_error`.
//!
//! **Memory contract with the Kotlin layer** (`ArrowCData.kt`, the only caller): `buf` is the
//! address of a `Scratch` buffer laid out as an 8-byte result slot, then `nodes_len` little-endian
//! `u64`s (two per node: length, null count), then `buffers_len` `u64` addresses and
//! `buffers_len` `u64` lengths, then `schema_len` bytes of the batch's schema as IPC; untouched
//! by anyone else until the call returns. Each non-zero length is that many readable bytes at its
//! address, in an `ArrowBuf` Kotlin keeps alive and unwritten until the call returns (no-copy:
//! until the holder is closed).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use zerobus_core::{BufferOwner, ErrorCode, ZerobusArrowStream, ZerobusError};

use crate::fast::{reply_guarded, JClass, JniEnv, NO_BUFFER, SLOT};
use crate::handles::{self, Table};
use crate::FfiError;

/// The core Arrow streams of the fast path, one reference each, owned by the Kotlin `ArrowStream`
/// that asked for it (`FfiArrowStream::fast_handle`) until it passes the handle to `arrowRelease`.
static ARROW_STREAMS: Table<Arc<ZerobusArrowStream>> = Table::new(handles::ARROW_STREAM, "Arrow stream");

/// A fast-path handle for `stream`: one more reference, released with `NativeIngest.arrowRelease`.
pub(crate) fn arrow_stream_handle(stream: &Arc<ZerobusArrowStream>) -> Result<i64, FfiError> {
    // Handles have the sign bit clear, so the cast keeps the value.
    Ok(ARROW_STREAMS.insert(stream.clone())? as i64)
}

/// `NativeIngest.arrowQueueColumns(stream, buf, nodesLen, buffersLen, schemaLen)`: one batch as
/// its column buffers, laid out in `buf` as the module documentation says, under one offset.
/// Returns its offset, `PENDING` or `FAILED` (handle in the slot); `NO_BUFFER` if `buf` is 0. A
/// released or forged `stream` handle, negative sizes or a buffer of non-zero length at address 0
/// are `FAILED` with an `INVALID_ARGUMENT` error; buffers that do not make the schema's columns
/// are `INVALID_RECORD` naming the table and column. Nothing is queued on a failure.
///
/// # Safety
/// Unsafe for `buf` and the addresses in it: a non-zero `buf` is laid out as the module
/// documentation says, writable for its first 8 bytes, and every address with a non-zero length
/// points to that many readable bytes; none of it changes until this returns. `stream` may be
/// any value.
#[no_mangle]
pub unsafe extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_arrowQueueColumns(
    _env: JniEnv,
    _class: JClass,
    stream: i64,
    buf: i64,
    nodes_len: i32,
    buffers_len: i32,
    schema_len: i32,
) -> i64 {
    // SAFETY: this function's contract is `queue_columns_at`'s with no owner.
    unsafe { queue_columns_at(stream, buf, nodes_len, buffers_len, schema_len, None) }
}

/// `NativeIngest.arrowQueueColumnsNoCopy(stream, buf, nodesLen, buffersLen, schemaLen, holder)`:
/// [`arrowQueueColumns`](Java_com_databricks_zerobus_kotlin_NativeIngest_arrowQueueColumns)
/// without the copy. The buffers belong to `holder`, an `AutoCloseable` (Kotlin's transferred
/// vectors), which this library closes exactly once, whatever the outcome: once the core is done
/// with the buffers (after the batch's rows are acknowledged, on a core thread; or before this
/// returns when the call fails or the batch has to be copied anyway). The answers are
/// `arrowQueueColumns`'.
///
/// # Safety
/// As `arrowQueueColumns`, except that the buffers stay readable and unwritten until `holder` is
/// closed, not only until this returns; `env` is the calling thread's `JNIEnv` and `holder` a
/// valid, non-null local reference to an `AutoCloseable`.
#[no_mangle]
pub unsafe extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_arrowQueueColumnsNoCopy(
    env: *mut jni_sys::JNIEnv,
    _class: JClass,
    stream: i64,
    buf: i64,
    nodes_len: i32,
    buffers_len: i32,
    schema_len: i32,
    holder: jni_sys::jobject,
) -> i64 {
    // First, so that every outcome below closes the holder exactly once (when the last clone
    // of the owner goes). If no holder can be made it was closed already: copy instead.
    // SAFETY: `env` and `holder` per this function's contract.
    let owner = catch_unwind(|| unsafe { crate::jni_upcall::JavaHolder::new(env, holder) }).ok().flatten();
    let owner = owner.map(|h| Arc::new(h) as Arc<dyn BufferOwner>);
    // SAFETY: this function's contract is `queue_columns_at`'s with an owner of the buffers.
    unsafe { queue_columns_at(stream, buf, nodes_len, buffers_len, schema_len, owner) }
}

/// The body of both column calls: with `owner`, the core keeps the buffers until `owner`'s last
/// clone goes (`queue_columns_held`); without, it copies them before returning.
///
/// # Safety
/// As `arrowQueueColumns`; with `owner`, the buffers stay valid and unwritten until it is dropped.
unsafe fn queue_columns_at(
    stream: i64,
    buf: i64,
    nodes_len: i32,
    buffers_len: i32,
    schema_len: i32,
    owner: Option<Arc<dyn BufferOwner>>,
) -> i64 {
    let buf = buf as usize as *mut u8;
    if buf.is_null() {
        return NO_BUFFER;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        let invalid = |m: &str| ZerobusError::new(ErrorCode::InvalidArgument, m.to_owned());
        let (Ok(nodes_len), Ok(buffers_len), Ok(schema_len)) =
            (usize::try_from(nodes_len), usize::try_from(buffers_len), usize::try_from(schema_len))
        else {
            return Err(invalid("negative batch layout size"));
        };
        let s = ARROW_STREAMS.get(stream as u64)?;
        let words = nodes_len + 2 * buffers_len;
        // SAFETY: the caller's contract: `8 * words + schema_len` readable bytes after the slot,
        // unchanged until this call returns (the slices do not outlive it).
        let (layout, schema) = unsafe {
            (
                std::slice::from_raw_parts(buf.add(SLOT), 8 * words),
                std::slice::from_raw_parts(buf.add(SLOT + 8 * words), schema_len),
            )
        };
        // Kotlin does not promise 8-byte alignment: read the numbers byte-wise.
        let word = |i: usize| u64::from_le_bytes(layout[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        let nodes: Vec<u64> = (0..nodes_len).map(word).collect();
        let buffers = (0..buffers_len)
            .map(|i| {
                let (address, len) = (word(nodes_len + i), word(nodes_len + buffers_len + i));
                let len = usize::try_from(len).map_err(|_| invalid("a buffer length overflows"))?;
                if len == 0 {
                    return Ok(&[][..]);
                }
                if address == 0 {
                    return Err(invalid("a buffer of non-zero length has address 0"));
                }
                // SAFETY: the caller's contract: a live ArrowBuf's memory of at least `len`
                // bytes, unwritten until this call returns; the slice goes before it does.
                Ok(unsafe { std::slice::from_raw_parts(address as usize as *const u8, len) })
            })
            .collect::<Result<Vec<&[u8]>, ZerobusError>>()?;
        match owner {
            // SAFETY: the caller's contract: the buffers outlive `owner`.
            Some(owner) => unsafe { s.queue_columns_held(schema, &nodes, &buffers, owner) },
            None => s.queue_columns(schema, &nodes, &buffers),
        }
    }));
    // SAFETY: `buf` holds the slot (the caller's contract).
    unsafe { reply_guarded(buf, result) }
}

/// `NativeIngest.arrowRelease(stream)`: gives back a handle from `FfiArrowStream::fast_handle`.
/// Later calls with it fail `INVALID_ARGUMENT`; a call running meanwhile holds its own reference
/// and finishes first. A handle already released, or never issued, is ignored; so is a contained
/// panic.
#[no_mangle]
pub extern "system" fn Java_com_databricks_zerobus_kotlin_NativeIngest_arrowRelease(
    _env: JniEnv,
    _class: JClass,
    stream: i64,
) {
    let _ = catch_unwind(|| drop(ARROW_STREAMS.remove(stream as u64)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::take_error;

    fn queue(stream: i64, buf: &mut [u8], nodes: i32, buffers: i32, schema: i32) -> i64 {
        // SAFETY: `buf` is a live, writable buffer whose slot the call may write; the cases below
        // fail before reading past it (forged handle, negative sizes).
        unsafe {
            Java_com_databricks_zerobus_kotlin_NativeIngest_arrowQueueColumns(
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                stream,
                buf.as_mut_ptr() as usize as i64,
                nodes,
                buffers,
                schema,
            )
        }
    }

    fn error_of(buf: &[u8]) -> String {
        let handle = u64::from_le_bytes(buf[..SLOT].try_into().unwrap());
        let FfiError::Failed { code, detail, .. } = take_error(handle).unwrap_err();
        format!("{code}: {detail}")
    }

    #[test]
    fn forged_handles_and_bad_sizes_fail_cleanly() {
        let mut buf = [0u8; SLOT];
        // SAFETY: a null `buf` is refused before anything is read.
        let none = unsafe {
            Java_com_databricks_zerobus_kotlin_NativeIngest_arrowQueueColumns(
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                1,
                0,
                0,
                0,
                0,
            )
        };
        assert_eq!(none, NO_BUFFER);
        for forged in [0i64, 1, 0x1234, i64::from(handles::STREAM) << 56 | 1] {
            assert_eq!(queue(forged, &mut buf, 0, 0, 0), crate::fast::FAILED);
            let e = error_of(&buf);
            assert!(e.starts_with("INVALID_ARGUMENT"), "{forged:#x}: {e}");
        }
        assert_eq!(queue(1, &mut buf, -1, 0, 0), crate::fast::FAILED);
        assert!(error_of(&buf).contains("negative batch layout size"));
        // Released handles are ignored, also twice.
        Java_com_databricks_zerobus_kotlin_NativeIngest_arrowRelease(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            7,
        );
    }
}
