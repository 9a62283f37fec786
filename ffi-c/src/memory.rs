//! Memory the library hands out: unacked records and encoded buffers, each with its own free.

use bytes::Bytes;

/// Records grouped as they were ingested: batch `i` holds the records of one ingest call.
pub struct zerobus_batches {
    pub(crate) batches: Vec<Vec<Bytes>>,
}

/// Number of batches (ingest calls).
#[no_mangle]
pub extern "C" fn zerobus_batches_count(batches: *const zerobus_batches) -> usize {
    // SAFETY: NULL or a pointer from this library, alive until zerobus_batches_free.
    unsafe { batches.as_ref() }.map_or(0, |b| b.batches.len())
}

/// Number of records in batch `batch` (0 if out of range or NULL).
#[no_mangle]
pub extern "C" fn zerobus_batches_batch_len(batches: *const zerobus_batches, batch: usize) -> usize {
    // SAFETY: as above.
    unsafe { batches.as_ref() }.and_then(|b| b.batches.get(batch)).map_or(0, Vec::len)
}

/// Points `*data` / `*len` at record `index` of batch `batch`. The bytes are owned by `batches`
/// and valid until it is freed. Returns false (and leaves the outputs alone) when out of range or
/// any pointer is NULL.
#[no_mangle]
pub extern "C" fn zerobus_batches_record(
    batches: *const zerobus_batches,
    batch: usize,
    index: usize,
    data: *mut *const u8,
    len: *mut usize,
) -> bool {
    if data.is_null() || len.is_null() {
        return false;
    }
    // SAFETY: as above.
    let Some(record) =
        unsafe { batches.as_ref() }.and_then(|b| b.batches.get(batch)).and_then(|b| b.get(index))
    else {
        return false;
    };
    // SAFETY: both output pointers are non-null and writable per the contract.
    unsafe {
        *data = record.as_ptr();
        *len = record.len();
    }
    true
}

/// Frees a batches object. NULL is a no-op.
#[no_mangle]
pub extern "C" fn zerobus_batches_free(batches: *mut zerobus_batches) {
    if !batches.is_null() {
        // SAFETY: came from Box::into_raw in this library; freed once.
        drop(unsafe { Box::from_raw(batches) });
    }
}

/// A byte buffer the library allocated.
pub struct zerobus_buffer {
    pub(crate) data: Vec<u8>,
}

/// The buffer's bytes, owned by `buffer` and valid until it is freed (NULL for NULL).
#[no_mangle]
pub extern "C" fn zerobus_buffer_data(buffer: *const zerobus_buffer) -> *const u8 {
    // SAFETY: NULL or a live pointer from this library.
    unsafe { buffer.as_ref() }.map_or(std::ptr::null(), |b| b.data.as_ptr())
}

/// The buffer's length in bytes (0 for NULL).
#[no_mangle]
pub extern "C" fn zerobus_buffer_len(buffer: *const zerobus_buffer) -> usize {
    // SAFETY: as above.
    unsafe { buffer.as_ref() }.map_or(0, |b| b.data.len())
}

/// Frees a buffer. NULL is a no-op.
#[no_mangle]
pub extern "C" fn zerobus_buffer_free(buffer: *mut zerobus_buffer) {
    if !buffer.is_null() {
        // SAFETY: came from Box::into_raw in this library; freed once.
        drop(unsafe { Box::from_raw(buffer) });
    }
}
