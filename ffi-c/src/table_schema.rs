//! Table schemas read from Unity Catalog: `zerobus_sdk_get_table_schema*` and the accessors of
//! `zerobus_table_schema`. Every string and byte range an accessor returns is computed once, when
//! the schema is read, and owned by the handle's table entry, so it stays valid until
//! `zerobus_table_schema_free` (a call racing the free keeps the object alive until it returns).

use std::ffi::{c_char, c_void, CString};

use prost::Message;
use zerobus_core::{ErrorCode, TableSchema, ZerobusError};

use crate::callbacks::{zerobus_headers_fn, zerobus_release_fn, CHeadersProvider};
use crate::error::zerobus_error;
use crate::handles::{self, Table};
use crate::sdk::SDKS;
use crate::stream::zerobus_stream;
use crate::{arg_str, guard, null, quietly, runtime, write_out};

/// A table's schema as Unity Catalog describes it: its columns, its Unity Catalog JSON, and the
/// proto2 record message derived from it (PROTOCOL.md §7: field number = position + 1, STRUCT →
/// nested message, ARRAY → repeated, MAP → repeated entry message, NOT NULL → required). Owned by
/// the caller until `zerobus_table_schema_free`; every string and buffer its accessors return is
/// owned by it and valid until then. Thread-safe, immutable.
pub struct zerobus_table_schema {
    json: CString,
    columns: Vec<ColumnText>,
    descriptor: Result<Vec<u8>, ZerobusError>,
    proto_file: Result<CString, ZerobusError>,
}

struct ColumnText {
    name: CString,
    type_text: CString,
    nullable: bool,
    position: u32,
}

static SCHEMAS: Table<zerobus_table_schema> = Table::new(handles::TABLE_SCHEMA);

/// A C string of `s`; a NUL inside (which no Unity Catalog name holds) becomes a space.
fn c_text(s: String) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl zerobus_table_schema {
    fn new(schema: &TableSchema) -> zerobus_table_schema {
        let no_proto = |e: zerobus_core::schema::SchemaError| {
            ZerobusError::new(
                ErrorCode::InvalidArgument,
                format!("{e}; such a table cannot be written as PROTO records: use a JSON stream"),
            )
        };
        zerobus_table_schema {
            json: c_text(schema.to_uc_json().to_string()),
            columns: schema
                .columns
                .iter()
                .map(|c| ColumnText {
                    name: c_text(c.name.clone()),
                    type_text: c_text(c.data_type.to_string()),
                    nullable: c.nullable,
                    position: c.position,
                })
                .collect(),
            descriptor: zerobus_core::schema::descriptor(schema).map(|d| d.encode_to_vec()).map_err(no_proto),
            proto_file: zerobus_core::schema::proto_file(schema)
                .map(c_text)
                .map_err(|e| ZerobusError::new(ErrorCode::InvalidArgument, e.to_string())),
        }
    }
}

/// Reads `table_name`'s schema from Unity Catalog (`GET
/// {workspace_url}/api/2.1/unity-catalog/tables/{table_name}`) with an OAuth token for the
/// client credentials, the same token a stream on the table uses (and shares: the SDK's token
/// cache). `table_name` (`catalog.schema.table`), `client_id` and `client_secret` are
/// NUL-terminated UTF-8 strings, read during the call only (the secret never appears in errors).
/// Blocks until Unity Catalog answered, retrying what is retryable (unreachable, HTTP 429 / 5xx)
/// within the default recovery budget. Returns a new schema the caller frees with
/// `zerobus_table_schema_free`, or NULL on error: ZEROBUS_ERROR_NOT_FOUND for a table Unity
/// Catalog does not know, ZEROBUS_ERROR_UNAUTHENTICATED / ZEROBUS_ERROR_PERMISSION_DENIED for
/// credentials it refuses, ZEROBUS_ERROR_INVALID_ARGUMENT for a bad table name or NULL argument.
///
/// # Safety
/// The strings are NULL or NUL-terminated and valid for the call; `err` is NULL or a writable
/// `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_get_table_schema(
    sdk: *const crate::sdk::zerobus_sdk,
    table_name: *const c_char,
    client_id: *const c_char,
    client_secret: *const c_char,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_table_schema {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            let sdk = SDKS.get(sdk, "sdk")?;
            let table = arg_str(table_name, "table_name")?;
            let (id, secret) = (arg_str(client_id, "client_id")?, arg_str(client_secret, "client_secret")?);
            let schema = runtime().block_on(sdk.inner.get_table_schema(table, id, secret))?;
            SCHEMAS.insert(zerobus_table_schema::new(&schema))
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// `zerobus_sdk_get_table_schema` authenticated by a headers provider: `provider(user_data,
/// headers)` is called on a library thread (once per attempt) and the `authorization` header it
/// adds is sent to Unity Catalog (a provider that adds none fails the call with
/// ZEROBUS_ERROR_INVALID_ARGUMENT; a provider's failure code is the call's, as for
/// `zerobus_sdk_create_stream_with_headers_provider`). `user_data` is owned by the caller; the
/// library only passes it back, and calls `release(user_data)` (may be NULL) once before this
/// call returns, whether it succeeds or fails. NULL on error.
///
/// # Safety
/// As `zerobus_sdk_get_table_schema`; `provider` and `release`, when set, are functions of the
/// documented signatures, safe to call from any thread with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn zerobus_sdk_get_table_schema_with_headers_provider(
    sdk: *const crate::sdk::zerobus_sdk,
    table_name: *const c_char,
    provider: zerobus_headers_fn,
    user_data: *mut c_void,
    release: zerobus_release_fn,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_table_schema {
    // SAFETY: every pointer per this function's contract.
    unsafe {
        guard(err, || {
            // Dropped (and user_data released) when this call returns, whatever happens.
            let provider = CHeadersProvider::from_c(provider, user_data, release)?;
            let sdk = SDKS.get(sdk, "sdk")?;
            let table = arg_str(table_name, "table_name")?;
            let schema =
                runtime().block_on(sdk.inner.get_table_schema_with_headers_provider(table, provider))?;
            SCHEMAS.insert(zerobus_table_schema::new(&schema))
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

/// The schema of the table a stream was created from (a PROTO stream created with no
/// descriptor: see `zerobus_sdk_create_stream`), as read when the stream was created. Returns a
/// new schema the caller frees with `zerobus_table_schema_free` (the stream may be freed first),
/// or NULL on error: ZEROBUS_ERROR_INVALID_ARGUMENT when the stream was given a descriptor or is
/// a JSON stream (`zerobus_sdk_get_table_schema` reads any table's schema).
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_stream_table_schema(
    stream: *const zerobus_stream,
    err: *mut *mut zerobus_error,
) -> *mut zerobus_table_schema {
    // SAFETY: `err` per this function's contract.
    unsafe {
        guard(err, || {
            let s = crate::stream::stream(stream)?;
            let Some(schema) = s.core().table_schema() else {
                return Err(ZerobusError::new(
                    ErrorCode::InvalidArgument,
                    format!(
                        "the stream on table {} was not created from its table (it was given a descriptor, or is a JSON stream); read any table's schema with zerobus_sdk_get_table_schema",
                        s.core().table_name()
                    ),
                ));
            };
            SCHEMAS.insert(zerobus_table_schema::new(schema))
        })
    }
    .unwrap_or(std::ptr::null_mut())
}

fn with<T>(schema: *const zerobus_table_schema, default: T, f: impl FnOnce(&zerobus_table_schema) -> T) -> T {
    match SCHEMAS.get(schema, "schema") {
        // The object lives in the table entry until zerobus_table_schema_free, so pointers into
        // it stay valid after this reference is dropped.
        Ok(s) => f(&s),
        Err(_) => default,
    }
}

/// The table as Unity Catalog's REST API describes it (`name`, `catalog_name`, `schema_name`,
/// `full_name`, `columns[]` with `name`, `type_name`, `type_text`, `type_json`, `nullable`,
/// `position`): a NUL-terminated UTF-8 JSON object owned by `schema`, valid until it is freed; a
/// static "" for NULL or a handle that is not a live schema.
#[no_mangle]
pub extern "C" fn zerobus_table_schema_json(schema: *const zerobus_table_schema) -> *const c_char {
    with(schema, c"".as_ptr(), |s| s.json.as_ptr())
}

/// The serialized `google.protobuf.DescriptorProto` of the table's record message (what a
/// stream created from the table is opened with; pass it as the descriptor of
/// `zerobus_sdk_create_stream` or `zerobus_json_encoder_new`). Stores its length in `*len` and
/// returns the bytes, owned by `schema` and valid until it is freed. NULL on error (`*len` left
/// alone): a NULL `len` or a handle that is not a live schema (ZEROBUS_ERROR_INVALID_ARGUMENT),
/// or a table with no proto2 form, e.g. an `ARRAY<ARRAY<INT>>` column
/// (ZEROBUS_ERROR_INVALID_ARGUMENT naming the column).
///
/// # Safety
/// `len` is NULL or points to a writable `size_t`; `err` is NULL or a writable `zerobus_error *`
/// slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_table_schema_descriptor(
    schema: *const zerobus_table_schema,
    len: *mut usize,
    err: *mut *mut zerobus_error,
) -> *const u8 {
    // SAFETY: `len` and `err` per this function's contract.
    unsafe {
        guard(err, || {
            let s = SCHEMAS.get(schema, "schema")?;
            if len.is_null() {
                return Err(null("len"));
            }
            let bytes = s.descriptor.as_ref().map_err(Clone::clone)?;
            write_out(len, bytes.len());
            // Owned by the table entry until zerobus_table_schema_free.
            Ok(bytes.as_ptr())
        })
    }
    .unwrap_or(std::ptr::null())
}

/// The `.proto` (proto2) source of the table's record message, as `zerobus schema TABLE` prints
/// it: a NUL-terminated UTF-8 string owned by `schema`, valid until it is freed. NULL on error: a
/// handle that is not a live schema, a table with no proto2 form, or a column whose name is not
/// a proto identifier and so has no `.proto` spelling (ZEROBUS_ERROR_INVALID_ARGUMENT naming the
/// column; `zerobus_table_schema_descriptor` still works for such a table).
///
/// # Safety
/// `err` is NULL or a writable `zerobus_error *` slot.
#[no_mangle]
pub unsafe extern "C" fn zerobus_table_schema_proto_file(
    schema: *const zerobus_table_schema,
    err: *mut *mut zerobus_error,
) -> *const c_char {
    // SAFETY: `err` per this function's contract.
    unsafe {
        guard(err, || {
            let s = SCHEMAS.get(schema, "schema")?;
            let text = s.proto_file.as_ref().map_err(Clone::clone)?;
            // Owned by the table entry until zerobus_table_schema_free.
            Ok(text.as_ptr())
        })
    }
    .unwrap_or(std::ptr::null())
}

/// The number of columns (0 for NULL or a handle that is not a live schema). Columns are indexed
/// 0 to count - 1 in position order (`zerobus_table_schema_column_position` gives each one's).
#[no_mangle]
pub extern "C" fn zerobus_table_schema_column_count(schema: *const zerobus_table_schema) -> usize {
    with(schema, 0, |s| s.columns.len())
}

/// The name of column `index`: a NUL-terminated UTF-8 string owned by `schema`, valid until it
/// is freed; NULL when `index` is out of range or `schema` is not a live schema.
#[no_mangle]
pub extern "C" fn zerobus_table_schema_column_name(
    schema: *const zerobus_table_schema,
    index: usize,
) -> *const c_char {
    with(schema, std::ptr::null(), |s| s.columns.get(index).map_or(std::ptr::null(), |c| c.name.as_ptr()))
}

/// The SQL type of column `index` as Unity Catalog's `type_text` spells it (`bigint`,
/// `decimal(10,2)`, `array<string>`, `struct<lat:double,lon:double>`): a NUL-terminated string
/// owned by `schema`, valid until it is freed; NULL when `index` is out of range or `schema` is
/// not a live schema.
#[no_mangle]
pub extern "C" fn zerobus_table_schema_column_type(
    schema: *const zerobus_table_schema,
    index: usize,
) -> *const c_char {
    with(schema, std::ptr::null(), |s| {
        s.columns.get(index).map_or(std::ptr::null(), |c| c.type_text.as_ptr())
    })
}

/// Whether column `index` may be null (false for a `NOT NULL` column, and when `index` is out of
/// range or `schema` is not a live schema: check `zerobus_table_schema_column_count`).
#[no_mangle]
pub extern "C" fn zerobus_table_schema_column_nullable(
    schema: *const zerobus_table_schema,
    index: usize,
) -> bool {
    with(schema, false, |s| s.columns.get(index).is_some_and(|c| c.nullable))
}

/// The zero-based position of column `index` in the table (its proto field number is position +
/// 1), or -1 when `index` is out of range or `schema` is not a live schema.
#[no_mangle]
pub extern "C" fn zerobus_table_schema_column_position(
    schema: *const zerobus_table_schema,
    index: usize,
) -> i64 {
    with(schema, -1, |s| s.columns.get(index).map_or(-1, |c| i64::from(c.position)))
}

/// Frees a schema and every string and buffer it owns. NULL, or a schema already freed, is a
/// no-op.
#[no_mangle]
pub extern "C" fn zerobus_table_schema_free(schema: *mut zerobus_table_schema) {
    quietly(|| drop(SCHEMAS.remove(schema)));
}
