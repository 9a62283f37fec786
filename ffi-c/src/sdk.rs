//! The SDK handle, its builder, and stream creation.

use std::ffi::{c_char, c_void};
use std::sync::Mutex;

use prost::Message;
use zerobus_core::{
    ErrorCode, RecordType, TableProperties, ZerobusError, ZerobusResult, ZerobusSdk, ZerobusSdkBuilder,
};

use crate::callbacks::{zerobus_headers_fn, zerobus_release_fn, CHeadersProvider};
use crate::error::zerobus_error;
use crate::handles::{self, Table};
use crate::options::zerobus_stream_options;
use crate::stream::{zerobus_stream, STREAMS};
use crate::{arg_bytes, arg_str, guard, quietly, runtime};

/// One SDK per Zerobus endpoint; streams share its token cache. Thread-safe. Owned by the caller
/// until `zerobus_sdk_free`; streams created from it do not need it afterwards.
pub struct zerobus_sdk {
    pub(crate) inner: ZerobusSdk,
}

/// Collects SDK settings before `zerobus_sdk_builder_build`. Owned by the caller until
/// `zerobus_sdk_builder_free`.
pub struct zerobus_sdk_builder {
    inner: Mutex<ZerobusSdkBuilder>,
}

pub(crate) static SDKS: Table<zerobus_sdk> = Table::new(handles::SDK);
static BUILDERS: Table<zerobus_sdk_builder> = Table::new(handles::SDK_BUILDER);

/// An SDK for `endpoint` (https://…, or an explicit http:// for a local plaintext server) whose
/// OAuth tokens come from `workspace_url`. Both are NUL-terminated UTF-8 strings, copied. Returns
/// a new SDK the caller frees with `zerobus_sdk_free`, or NULL on error.
///
/// # Safety
/// `endpoint` and `workspace_url` are NULL or NUL-terminated strings valid for the call; `err` is
/// NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_new(
    endpoint: *const c_char,
    workspace_url: *const c_char,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_sdk {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let (endpoint, workspace) =
                (arg_str(endpoint, "endpoint")?, arg_str(workspace_url, "workspace_url")?);
            SDKS.insert(zerobus_sdk { inner: ZerobusSdk::new(endpoint, workspace)? })
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// A builder for the settings `zerobus_sdk_new` does not take. The caller frees it with
/// `zerobus_sdk_builder_free` (building does not consume it). NULL only if the library cannot
/// hold another handle.
#[no_mangle]
pub extern "C" fn zerobus_sdk_builder_new() -> *mut zerobus_sdk_builder {
    crate::catch(|| BUILDERS.insert(zerobus_sdk_builder { inner: Mutex::new(ZerobusSdk::builder()) }))
        .unwrap_or(std::ptr::null_mut())
}

/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
unsafe fn edit(
    builder: *mut zerobus_sdk_builder,
    err: *mut *mut zerobus_error,
    f: impl FnOnce(ZerobusSdkBuilder) -> ZerobusResult<ZerobusSdkBuilder>,
) -> bool {
    // SAFETY: `err` per this function's contract.
    unsafe {
        guard(err, || {
            let b = BUILDERS.get(builder, "builder")?;
            let mut inner = b.inner.lock().unwrap_or_else(|e| e.into_inner());
            // Edit a copy: a rejected argument leaves the builder as it was.
            *inner = f(inner.clone())?;
            Ok(())
        })
    }
    .is_some()
}

/// Sets the Zerobus endpoint (a NUL-terminated UTF-8 string, copied).
///
/// # Safety
/// `endpoint` is NULL or a NUL-terminated string valid for the call; `err` is NULL or a writable
/// `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_builder_set_endpoint(
    builder: *mut zerobus_sdk_builder,
    endpoint: *const c_char,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: the pointers per this function's contract.
    unsafe { edit(builder, err, |b| Ok(b.endpoint(arg_str(endpoint, "endpoint")?))) }
}

/// Sets the workspace (Unity Catalog) URL that issues OAuth tokens (a NUL-terminated UTF-8
/// string, copied).
///
/// # Safety
/// As `zerobus_sdk_builder_set_endpoint`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_builder_set_workspace_url(
    builder: *mut zerobus_sdk_builder,
    workspace_url: *const c_char,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: the pointers per this function's contract.
    unsafe { edit(builder, err, |b| Ok(b.workspace_url(arg_str(workspace_url, "workspace_url")?))) }
}

/// Adds CA certificates (PEM, `len` bytes, copied) to trust besides the system roots.
///
/// # Safety
/// `pem` points to `len` readable bytes for the call (any pointer when `len` is 0); `err` is NULL
/// or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_builder_add_ca_pem(
    builder: *mut zerobus_sdk_builder,
    pem: *const u8,
    len: usize,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: the pointers per this function's contract.
    unsafe { edit(builder, err, |b| Ok(b.add_ca_certificate_pem(arg_bytes(pem, len, "pem")?.to_vec()))) }
}

/// Appends an application name to the user-agent (a NUL-terminated UTF-8 string, copied).
///
/// # Safety
/// As `zerobus_sdk_builder_set_endpoint`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_builder_set_application_name(
    builder: *mut zerobus_sdk_builder,
    name: *const c_char,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: the pointers per this function's contract.
    unsafe { edit(builder, err, |b| Ok(b.application_name(arg_str(name, "name")?))) }
}

/// Replaces the SDK name and version in the user-agent (for language bindings built on this ABI;
/// a NUL-terminated UTF-8 string, copied).
///
/// # Safety
/// As `zerobus_sdk_builder_set_endpoint`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_builder_set_sdk_name(
    builder: *mut zerobus_sdk_builder,
    name_and_version: *const c_char,
    err: *mut *mut zerobus_error,
) -> bool {
    // SAFETY: the pointers per this function's contract.
    unsafe { edit(builder, err, |b| Ok(b.sdk_name(arg_str(name_and_version, "name_and_version")?))) }
}

/// Builds an SDK from the builder's settings (the builder stays usable). Returns a new SDK the
/// caller frees with `zerobus_sdk_free`, or NULL on error.
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_builder_build(
    builder: *const zerobus_sdk_builder,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_sdk {
    // SAFETY: `err` per this function's contract.
    unsafe {
        guard(err, || {
            let b = BUILDERS.get(builder, "builder")?;
            let settings = b.inner.lock().unwrap_or_else(|e| e.into_inner()).clone();
            SDKS.insert(zerobus_sdk { inner: settings.build()? })
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// Frees a builder. NULL, or a builder already freed, is a no-op.
#[no_mangle]
pub extern "C" fn zerobus_sdk_builder_free(builder: *mut zerobus_sdk_builder) {
    quietly(|| drop(BUILDERS.remove(builder)));
}

/// Frees an SDK. NULL, or an SDK already freed, is a no-op. Streams created from it stay usable.
#[no_mangle]
pub extern "C" fn zerobus_sdk_free(sdk: *mut zerobus_sdk) {
    quietly(|| drop(SDKS.remove(sdk)));
}

/// Table and options shared by both creation calls. A PROTO stream with no descriptor (NULL or
/// length 0) gets `descriptor_proto: None`, which core reads as "from the table".
///
/// # Safety
/// `table_name` is NULL or a NUL-terminated string, and `descriptor` points to `descriptor_len`
/// readable bytes (any pointer when 0), both valid for the call.
unsafe fn table_and_options(
    table_name: *const c_char,
    descriptor: *const u8,
    descriptor_len: usize,
    options: *const zerobus_stream_options,
) -> ZerobusResult<(TableProperties, zerobus_core::StreamConfigurationOptions)> {
    // SAFETY: per this function's contract.
    let table = unsafe { arg_str(table_name, "table_name") }?;
    let options = crate::options::resolve(options)?;
    let descriptor_proto = if options.record_type == RecordType::Proto {
        // SAFETY: per this function's contract.
        let bytes = unsafe { arg_bytes(descriptor, descriptor_len, "descriptor") }?;
        if bytes.is_empty() {
            None
        } else {
            Some(prost_types::DescriptorProto::decode(bytes).map_err(|e| {
                ZerobusError::new(
                    ErrorCode::InvalidArgument,
                    format!("descriptor is not a serialized google.protobuf.DescriptorProto: {e}"),
                )
            })?)
        }
    } else {
        None
    };
    Ok((TableProperties { table_name: table.to_owned(), descriptor_proto }, options))
}

/// Opens a stream on `table_name` authenticated with OAuth client credentials.
///
/// `table_name`, `client_id` and `client_secret` are NUL-terminated UTF-8 strings, copied (the
/// secret never appears in errors or logs). `descriptor` / `descriptor_len`: the serialized
/// `google.protobuf.DescriptorProto` of the records (PROTO streams; ignored for JSON, may be
/// NULL/0), copied. `options` may be NULL for the defaults (a PROTO stream then); it is read, not
/// kept. Blocks until the server answered (at most recovery_timeout_ms per attempt, with backoff
/// between attempts). Returns a new stream the caller closes with `zerobus_stream_close` and
/// frees with `zerobus_stream_free`, or NULL on error.
///
/// From the table: a PROTO stream given no descriptor (NULL, or `descriptor_len` 0) is created
/// from its table. Before opening, the library reads the table's schema from Unity Catalog
/// (`GET {workspace_url}/api/2.1/unity-catalog/tables/{table_name}`, with the stream's own
/// credentials, as `zerobus_sdk_get_table_schema`) and derives the record descriptor from its
/// columns. JSON text given to the stream through the JSON calls
/// (`zerobus_stream_ingest_json_record*`, `zerobus_stream_ingest_json_records*`) is then encoded
/// to proto in the library, by the columns' types (PROTOCOL.md §7: TIMESTAMP as integer
/// microseconds or RFC 3339 text, DATE as days or `YYYY-MM-DD`, BINARY as base64, DECIMAL and
/// BIGINT as number or string, nested ARRAY / MAP / STRUCT); a record that does not fit (unknown
/// key, wrong type, missing NOT NULL column, overflow) fails its call with
/// ZEROBUS_ERROR_INVALID_RECORD naming the record and the column path (`record 1 of the batch:
/// table main.default.t: loc.lat: expected DOUBLE, got string "north"`), nothing of that call is
/// queued, and the stream carries on. The byte calls still take encoded proto messages.
/// `zerobus_stream_table_schema` returns the schema read. A table Unity Catalog does not know
/// fails the creation with ZEROBUS_ERROR_NOT_FOUND; a table with no proto2 form (e.g. an
/// `ARRAY<ARRAY<INT>>` column) with ZEROBUS_ERROR_INVALID_ARGUMENT.
///
/// # Safety
/// The strings are NULL or NUL-terminated and valid for the call; `descriptor` points to
/// `descriptor_len` readable bytes (any pointer when 0); `err` is NULL or a writable
/// `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_create_stream(
    sdk: *const zerobus_sdk,
    table_name: *const c_char,
    descriptor: *const u8,
    descriptor_len: usize,
    client_id: *const c_char,
    client_secret: *const c_char,
    options: *const zerobus_stream_options,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_stream {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let sdk = SDKS.get(sdk, "sdk")?;
            let (table, options) = table_and_options(table_name, descriptor, descriptor_len, options)?;
            let (id, secret) = (arg_str(client_id, "client_id")?, arg_str(client_secret, "client_secret")?);
            let stream = runtime().block_on(sdk.inner.create_stream(table, id, secret, options))?;
            STREAMS.insert(zerobus_stream::new(stream))
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// Opens a stream whose call metadata comes from `provider(user_data, headers)`, called on a
/// library thread before every connection attempt (it must add `authorization` and
/// `x-databricks-zerobus-table-name`, and must not throw). Its return value is `ZEROBUS_OK` or
/// the `zerobus_code` of its failure (see `zerobus_headers_fn`). `user_data` is owned by the
/// caller; the library only passes it back, and calls `release(user_data)` (may be NULL) once
/// when the stream no longer needs it, including when this call fails. Other arguments as
/// `zerobus_sdk_create_stream`. NULL on error.
///
/// From the table: a PROTO stream given no descriptor (NULL, or `descriptor_len` 0) is created
/// from its table exactly as with `zerobus_sdk_create_stream`; the schema is read from Unity
/// Catalog with the `authorization` header the provider adds (a provider that adds none fails
/// the creation with ZEROBUS_ERROR_INVALID_ARGUMENT), and JSON text given to the stream is
/// encoded by the table's columns in the library.
///
/// # Safety
/// As `zerobus_sdk_create_stream`; `provider` and `release`, when set, are functions of the
/// documented signatures, safe to call from any thread with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_create_stream_with_headers_provider(
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
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let provider = CHeadersProvider::from_c(provider, user_data, release)?;
            let sdk = SDKS.get(sdk, "sdk")?;
            let (table, options) = table_and_options(table_name, descriptor, descriptor_len, options)?;
            let stream = runtime()
                .block_on(sdk.inner.create_stream_with_headers_provider(table, provider, options))?;
            STREAMS.insert(zerobus_stream::new(stream))
        })
    }
    .unwrap_or(std::ptr::null_mut())
}
