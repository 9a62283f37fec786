//! The SDK handle and stream creation.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use prost::Message;
use zerobus_core::{ErrorCode, RecordType, TableProperties, ZerobusError, ZerobusResult, ZerobusSdk};

use crate::callbacks::{zerobus_headers_fn, zerobus_release_fn, CHeadersProvider};
use crate::error::zerobus_error;
use crate::options::zerobus_stream_options;
use crate::stream::zerobus_stream;
use crate::{arg_bytes, arg_str, guard, null, runtime};

/// One SDK per Zerobus endpoint; streams share its token cache. Thread-safe.
pub struct zerobus_sdk {
    inner: ZerobusSdk,
}

/// Collects SDK settings before `zerobus_sdk_builder_build`.
pub struct zerobus_sdk_builder {
    inner: zerobus_core::ZerobusSdkBuilder,
}

/// An SDK for `endpoint` (https://…, or an explicit http:// for a local plaintext server) whose
/// OAuth tokens come from `workspace_url`. Both strings are copied. NULL on error.
#[no_mangle]
pub extern "C" fn zerobus_sdk_new(
    endpoint: *const c_char,
    workspace_url: *const c_char,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_sdk {
    guard(err, || {
        // SAFETY: the caller passes NUL-terminated strings valid for this call.
        let (endpoint, workspace) =
            unsafe { (arg_str(endpoint, "endpoint")?, arg_str(workspace_url, "workspace_url")?) };
        let inner = ZerobusSdk::new(endpoint, workspace)?;
        Ok(Box::into_raw(Box::new(zerobus_sdk { inner })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// A builder for the settings `zerobus_sdk_new` does not take. Free it with
/// `zerobus_sdk_builder_free` (building does not consume it).
#[no_mangle]
pub extern "C" fn zerobus_sdk_builder_new() -> *mut zerobus_sdk_builder {
    Box::into_raw(Box::new(zerobus_sdk_builder { inner: ZerobusSdk::builder() }))
}

fn edit(
    builder: *mut zerobus_sdk_builder,
    err: *mut *mut zerobus_error,
    f: impl FnOnce(zerobus_core::ZerobusSdkBuilder) -> ZerobusResult<zerobus_core::ZerobusSdkBuilder>,
) -> bool {
    guard(err, || {
        // SAFETY: NULL or a live builder from zerobus_sdk_builder_new.
        let b = unsafe { builder.as_mut() }.ok_or_else(|| null("builder"))?;
        // Edit a copy: a rejected argument must leave the builder as it was (taking the builder
        // out would reset every earlier setting to the default when `f` fails).
        b.inner = f(b.inner.clone())?;
        Ok(())
    })
    .is_some()
}

/// Sets the Zerobus endpoint (copied).
#[no_mangle]
pub extern "C" fn zerobus_sdk_builder_set_endpoint(
    builder: *mut zerobus_sdk_builder,
    endpoint: *const c_char,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: NUL-terminated string valid for this call.
    edit(builder, err, |b| Ok(b.endpoint(unsafe { arg_str(endpoint, "endpoint") }?)))
}

/// Sets the workspace (Unity Catalog) URL that issues OAuth tokens (copied).
#[no_mangle]
pub extern "C" fn zerobus_sdk_builder_set_workspace_url(
    builder: *mut zerobus_sdk_builder,
    workspace_url: *const c_char,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: as above.
    edit(builder, err, |b| Ok(b.workspace_url(unsafe { arg_str(workspace_url, "workspace_url") }?)))
}

/// Adds CA certificates (PEM, `len` bytes, copied) to trust besides the system roots.
#[no_mangle]
pub extern "C" fn zerobus_sdk_builder_add_ca_pem(
    builder: *mut zerobus_sdk_builder,
    pem: *const u8,
    len: usize,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: `pem` points to `len` readable bytes for this call.
    edit(builder, err, |b| Ok(b.add_ca_certificate_pem(unsafe { arg_bytes(pem, len, "pem") }?.to_vec())))
}

/// Appends an application name to the user-agent (copied).
#[no_mangle]
pub extern "C" fn zerobus_sdk_builder_set_application_name(
    builder: *mut zerobus_sdk_builder,
    name: *const c_char,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: as above.
    edit(builder, err, |b| Ok(b.application_name(unsafe { arg_str(name, "name") }?)))
}

/// Replaces the SDK name and version in the user-agent (for language bindings built on this ABI).
#[no_mangle]
pub extern "C" fn zerobus_sdk_builder_set_sdk_name(
    builder: *mut zerobus_sdk_builder,
    name_and_version: *const c_char,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: as above.
    edit(builder, err, |b| Ok(b.sdk_name(unsafe { arg_str(name_and_version, "name_and_version") }?)))
}

/// Builds an SDK from the builder's settings (the builder stays usable). NULL on error.
#[no_mangle]
pub extern "C" fn zerobus_sdk_builder_build(
    builder: *const zerobus_sdk_builder,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_sdk {
    guard(err, || {
        // SAFETY: NULL or a live builder.
        let b = unsafe { builder.as_ref() }.ok_or_else(|| null("builder"))?;
        let inner = b.inner.clone().build()?;
        Ok(Box::into_raw(Box::new(zerobus_sdk { inner })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Frees a builder. NULL is a no-op.
#[no_mangle]
pub extern "C" fn zerobus_sdk_builder_free(builder: *mut zerobus_sdk_builder) {
    if !builder.is_null() {
        // SAFETY: came from Box::into_raw; freed once.
        drop(unsafe { Box::from_raw(builder) });
    }
}

/// Frees an SDK. NULL is a no-op. Streams created from it stay usable.
#[no_mangle]
pub extern "C" fn zerobus_sdk_free(sdk: *mut zerobus_sdk) {
    if !sdk.is_null() {
        // SAFETY: came from Box::into_raw; freed once.
        drop(unsafe { Box::from_raw(sdk) });
    }
}

/// Table and options shared by both creation calls.
unsafe fn table_and_options(
    table_name: *const c_char,
    descriptor: *const u8,
    descriptor_len: usize,
    options: *const zerobus_stream_options,
) -> ZerobusResult<(TableProperties, zerobus_core::StreamConfigurationOptions)> {
    // SAFETY: per the caller's contract for each argument.
    let table = unsafe { arg_str(table_name, "table_name") }?;
    // SAFETY: NULL (defaults) or live options.
    let options = unsafe { options.as_ref() }.map(|o| o.inner.clone()).unwrap_or_default();
    let descriptor_proto = if options.record_type == RecordType::Proto {
        // SAFETY: `descriptor` points to `descriptor_len` readable bytes for this call.
        let bytes = unsafe { arg_bytes(descriptor, descriptor_len, "descriptor") }?;
        if bytes.is_empty() {
            return Err(ZerobusError::new(
                ErrorCode::InvalidArgument,
                format!("table {table}: a PROTO stream needs the serialized DescriptorProto of its records"),
            ));
        }
        Some(prost_types::DescriptorProto::decode(bytes).map_err(|e| {
            ZerobusError::new(
                ErrorCode::InvalidArgument,
                format!("descriptor is not a serialized DescriptorProto: {e}"),
            )
        })?)
    } else {
        None
    };
    Ok((TableProperties { table_name: table.to_owned(), descriptor_proto }, options))
}

/// Opens a stream on `table_name` authenticated with OAuth client credentials.
///
/// `descriptor` / `descriptor_len`: the serialized `google.protobuf.DescriptorProto` of the
/// records (PROTO streams; ignored for JSON, may be NULL/0). `options` may be NULL for the
/// defaults (a PROTO stream then). Every argument is copied. Blocks until the server answered
/// (at most about recovery_timeout_ms × attempts, with backoff between attempts). NULL on error.
#[no_mangle]
pub extern "C" fn zerobus_sdk_create_stream(
    sdk: *const zerobus_sdk,
    table_name: *const c_char,
    descriptor: *const u8,
    descriptor_len: usize,
    client_id: *const c_char,
    client_secret: *const c_char,
    options: *const zerobus_stream_options,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_stream {
    guard(err, || {
        // SAFETY: NULL or a live SDK.
        let sdk = unsafe { sdk.as_ref() }.ok_or_else(|| null("sdk"))?;
        // SAFETY: per the documented contract of each argument.
        let (table, options) = unsafe { table_and_options(table_name, descriptor, descriptor_len, options) }?;
        // SAFETY: as above.
        let (id, secret) =
            unsafe { (arg_str(client_id, "client_id")?, arg_str(client_secret, "client_secret")?) };
        let stream = runtime().block_on(sdk.inner.create_stream(table, id, secret, options))?;
        Ok(zerobus_stream::boxed(stream))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Opens a stream whose call metadata comes from `provider(user_data, headers)`, called on a
/// library thread before every connection attempt (it must add `authorization` and
/// `x-databricks-zerobus-table-name`). `release(user_data)` (may be NULL) runs once when the
/// stream no longer needs it. Other arguments as `zerobus_sdk_create_stream`. NULL on error.
#[no_mangle]
pub extern "C" fn zerobus_sdk_create_stream_with_headers_provider(
    sdk: *const zerobus_sdk,
    table_name: *const c_char,
    descriptor: *const u8,
    descriptor_len: usize,
    provider: zerobus_headers_fn,
    user_data: *mut c_void,
    release: zerobus_release_fn,
    options: *const zerobus_stream_options,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_stream {
    guard(err, || {
        let Some(provider) = provider else {
            if let Some(release) = release {
                // SAFETY: nothing will hold user_data; hand it back to its owner once.
                unsafe { release(user_data) };
            }
            return Err(null("provider"));
        };
        let provider = Arc::new(CHeadersProvider::new(provider, user_data, release));
        // SAFETY: NULL or a live SDK.
        let sdk = unsafe { sdk.as_ref() }.ok_or_else(|| null("sdk"))?;
        // SAFETY: per the documented contract of each argument.
        let (table, options) = unsafe { table_and_options(table_name, descriptor, descriptor_len, options) }?;
        let stream =
            runtime().block_on(sdk.inner.create_stream_with_headers_provider(table, provider, options))?;
        Ok(zerobus_stream::boxed(stream))
    })
    .unwrap_or(std::ptr::null_mut())
}
