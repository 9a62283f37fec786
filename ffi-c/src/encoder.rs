//! The JSON → proto encoder, for PROTO streams fed JSON.

use std::ffi::c_char;

use prost::Message;
use zerobus_core::{ErrorCode, JsonToProto, ZerobusError};

use crate::error::zerobus_error;
use crate::handles::{self, Table};
use crate::memory::{zerobus_buffer, BUFFERS};
use crate::{arg_bytes, guard, quietly};

/// Encodes JSON objects as proto records of one message type (PROTO streams). Thread-safe.
/// Owned by the caller until `zerobus_json_encoder_free`.
pub struct zerobus_json_encoder {
    inner: JsonToProto,
}

static ENCODERS: Table<zerobus_json_encoder> = Table::new(handles::ENCODER);

/// An encoder for the message described by `descriptor` (a serialized DescriptorProto, `len`
/// bytes, copied). Returns a new encoder the caller frees with `zerobus_json_encoder_free`, or
/// NULL on error.
///
/// # Safety
/// `descriptor` points to `len` readable bytes for the call (any pointer when 0); `err` is NULL
/// or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_json_encoder_new(
    descriptor: *const u8,
    len: usize,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_json_encoder {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let bytes = arg_bytes(descriptor, len, "descriptor")?;
            let d = prost_types::DescriptorProto::decode(bytes).map_err(|e| {
                ZerobusError::new(
                    ErrorCode::InvalidArgument,
                    format!("descriptor is not a serialized google.protobuf.DescriptorProto: {e}"),
                )
            })?;
            let inner = JsonToProto::new(&d)
                .map_err(|e| ZerobusError::new(ErrorCode::InvalidArgument, format!("descriptor: {e}")))?;
            ENCODERS.insert(zerobus_json_encoder { inner })
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// Encodes one JSON object (`json_len` bytes of UTF-8, copied) to proto bytes in a new buffer the
/// caller frees with `zerobus_buffer_free`. The error names the field when a value does not fit.
///
/// # Safety
/// `json` points to `json_len` readable bytes for the call (any pointer when 0); `err` is NULL or
/// a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_json_encoder_encode(
    encoder: *const zerobus_json_encoder,
    json: *const c_char,
    json_len: usize,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_buffer {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let enc = ENCODERS.get(encoder, "encoder")?;
            let bytes = arg_bytes(json.cast(), json_len, "json")?;
            let text = std::str::from_utf8(bytes).map_err(|e| {
                ZerobusError::new(
                    ErrorCode::InvalidRecord,
                    format!("JSON is not UTF-8: {e}; pass UTF-8 text"),
                )
            })?;
            let data = enc
                .inner
                .encode(text)
                .map_err(|e| ZerobusError::new(ErrorCode::InvalidRecord, e.to_string()))?;
            BUFFERS.insert(zerobus_buffer { data })
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// Frees an encoder. NULL, or an encoder already freed, is a no-op.
#[no_mangle]
pub extern "C" fn zerobus_json_encoder_free(encoder: *mut zerobus_json_encoder) {
    quietly(|| drop(ENCODERS.remove(encoder)));
}
