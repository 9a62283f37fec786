//! Memory the library hands out: unacked records and encoded buffers, each a handle with its own
//! free.

use bytes::Bytes;

use crate::handles::{self, Table};
use crate::{quietly, write_out};

/// Records grouped as they were ingested: batch `i` holds the records of one ingest call. Owned
/// by the caller until `zerobus_batches_free`.
pub struct zerobus_batches {
    pub(crate) batches: Vec<Vec<Bytes>>,
}

pub(crate) static BATCHES: Table<zerobus_batches> = Table::new(handles::BATCHES);

/// Number of batches (ingest calls); 0 for NULL or a handle that is not live.
#[no_mangle]
pub extern "C" fn zerobus_batches_count(batches: *const zerobus_batches) -> usize {
    BATCHES.get(batches, "batches").map_or(0, |b| b.batches.len())
}

/// Number of records in batch `batch` (0 if out of range, NULL or not live).
#[no_mangle]
pub extern "C" fn zerobus_batches_batch_len(batches: *const zerobus_batches, batch: usize) -> usize {
    BATCHES.get(batches, "batches").ok().and_then(|b| b.batches.get(batch).map(Vec::len)).unwrap_or(0)
}

/// Points `*data` / `*len` at record `index` of batch `batch`. The bytes are owned by `batches`
/// and valid until it is freed. Returns false (and leaves the outputs alone) when out of range,
/// when `batches` is not live, or when an output pointer is NULL.
///
/// # Safety
/// `data` and `len` are NULL or point to writable memory for their types.
#[no_mangle]
pub unsafe extern "C" fn zerobus_batches_record(
    batches: *const zerobus_batches,
    batch: usize,
    index: usize,
    data: *mut *const u8,
    len: *mut usize,
) -> bool {
    if data.is_null() || len.is_null() {
        return false;
    }
    let Ok(b) = BATCHES.get(batches, "batches") else { return false };
    let Some(record) = b.batches.get(batch).and_then(|b| b.get(index)) else { return false };
    // The bytes live in the table entry until zerobus_batches_free, so the pointer stays valid
    // after `b` (one reference) is dropped here.
    // SAFETY: both output pointers are non-null and writable per the contract.
    unsafe {
        write_out(data, record.as_ptr());
        write_out(len, record.len());
    }
    true
}

/// Frees a batches object and the record bytes it owns. NULL, or one already freed, is a no-op.
#[no_mangle]
pub extern "C" fn zerobus_batches_free(batches: *mut zerobus_batches) {
    quietly(|| drop(BATCHES.remove(batches)));
}

/// A byte buffer the library allocated, owned by the caller until `zerobus_buffer_free`.
pub struct zerobus_buffer {
    pub(crate) data: Vec<u8>,
}

pub(crate) static BUFFERS: Table<zerobus_buffer> = Table::new(handles::BUFFER);

/// The buffer's bytes, owned by `buffer` and valid until it is freed (NULL for NULL or a handle
/// that is not live).
#[no_mangle]
pub extern "C" fn zerobus_buffer_data(buffer: *const zerobus_buffer) -> *const u8 {
    // The bytes live in the table entry until zerobus_buffer_free.
    BUFFERS.get(buffer, "buffer").map_or(std::ptr::null(), |b| b.data.as_ptr())
}

/// The buffer's length in bytes (0 for NULL or a handle that is not live).
#[no_mangle]
pub extern "C" fn zerobus_buffer_len(buffer: *const zerobus_buffer) -> usize {
    BUFFERS.get(buffer, "buffer").map_or(0, |b| b.data.len())
}

/// Frees a buffer. NULL, or a buffer already freed, is a no-op.
#[no_mangle]
pub extern "C" fn zerobus_buffer_free(buffer: *mut zerobus_buffer) {
    quietly(|| drop(BUFFERS.remove(buffer)));
}
