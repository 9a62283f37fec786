//! Arrow streams through the C ABI, against the mock's Flight `DoPut`: IPC bytes and Arrow C
//! Data Interface structs in (the structs built here with arrow-rs's FFI export, as a C producer
//! would hand them over, with counting release callbacks), one offset per call, every row on the
//! server; bad input (NULL, a wrong schema naming the column, a released struct) with the
//! ownership the header promises; callbacks; and the unacked rows as IPC after a terminal failure.
//!
//! These call the exported `extern "C"` functions in-process (the crate is also an rlib), exactly
//! as a C caller would, from a thread outside any runtime.

use std::ffi::{c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::ffi::to_ffi;
use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, LargeStringArray, RecordBatch, StructArray};
use arrow_data::ffi::FFI_ArrowArray;
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use zerobus::*;
use zerobus_conformance::mock::zerobus_schema::parse_table;
use zerobus_conformance::mock::{FaultScript, MockServer, MockServerConfig, StreamAction, StreamFault};

const CARS: &str = "main.default.cars";

struct Mock {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
    config: MockServerConfig,
    sdk: *mut zerobus_sdk,
}

impl Mock {
    fn start() -> Mock {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let config = MockServerConfig {
            table_schemas: vec![parse_table("main.default.cars(name STRING NOT NULL, seats INT)").unwrap()],
            ..MockServerConfig::default()
        };
        let server = runtime.block_on(MockServer::start(config.clone())).expect("mock server");
        let (endpoint, workspace) = (cstr(&server.grpc_url()), cstr(&server.workspace_url()));
        let mut err = null_mut();
        // SAFETY: NUL-terminated strings alive for the call, a writable error slot.
        let sdk = unsafe { zerobus_sdk_new(endpoint.as_ptr(), workspace.as_ptr(), &mut err) };
        ok(!sdk.is_null(), err);
        Mock { runtime, server, config, sdk }
    }

    /// An Arrow stream on main.default.cars; `schema` None: from the table.
    fn stream(
        &self,
        schema: Option<&[u8]>,
        options: *const zerobus_arrow_stream_options,
    ) -> *mut zerobus_arrow_stream {
        let (table, id, secret) =
            (cstr(CARS), cstr(&self.config.client_id), cstr(&self.config.client_secret));
        let (ptr, len) = schema.map_or((null(), 0), |s| (s.as_ptr(), s.len()));
        let mut err = null_mut();
        // SAFETY: live strings and buffer for the call; options NULL or live.
        let s = unsafe {
            zerobus_sdk_create_arrow_stream(
                self.sdk,
                table.as_ptr(),
                ptr,
                len,
                id.as_ptr(),
                secret.as_ptr(),
                options,
                &mut err,
            )
        };
        ok(!s.is_null(), err);
        s
    }

    /// The `seats` column of every row the server stored (row `i` holds `i`).
    fn stored_rows(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for batch in self.server.arrow_batches(CARS) {
            let seats = batch.column(1).as_any().downcast_ref::<Int32Array>().unwrap();
            out.extend(seats.values().iter().copied());
        }
        out
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        zerobus_sdk_free(self.sdk);
        self.runtime.block_on(self.server.clone().shutdown());
    }
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn message(err: *const zerobus_error) -> String {
    // SAFETY: the library returns a NUL-terminated string valid until `err` is freed.
    unsafe { CStr::from_ptr(zerobus_error_message(err)) }.to_string_lossy().into_owned()
}

/// A call that must have succeeded.
fn ok(succeeded: bool, err: *mut zerobus_error) {
    let what = if err.is_null() { String::new() } else { message(err) };
    zerobus_error_free(err);
    assert!(succeeded && what.is_empty(), "the call failed: {what}");
}

/// A call that must have failed with `code` and a message holding each of `fragments`.
fn failed(succeeded: bool, err: *mut zerobus_error, code: zerobus_code, fragments: &[&str]) {
    assert!(!succeeded, "the call succeeded");
    assert!(!err.is_null(), "the call stored no error");
    let (got, text) = (zerobus_error_code(err), message(err));
    zerobus_error_free(err);
    assert_eq!(got, code as i32, "{text}");
    for f in fragments {
        assert!(text.contains(f), "message {text:?} does not say {f:?}");
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::LargeUtf8, false),
        Field::new("seats", DataType::Int32, true),
    ]))
}

fn cars(from: usize, rows: usize) -> RecordBatch {
    let names: Vec<String> = (from..from + rows).map(|i| format!("car-{i}")).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(LargeStringArray::from_iter_values(names)) as ArrayRef,
            Arc::new(Int32Array::from_iter_values((from..from + rows).map(|i| i as i32))) as ArrayRef,
        ],
    )
    .unwrap()
}

fn ipc(schema: &Schema, batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, schema).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    out
}

fn read_ipc(bytes: &[u8]) -> Vec<RecordBatch> {
    arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// How often the wrapped release callbacks of one exported batch ran.
#[derive(Default)]
struct Releases {
    array: AtomicUsize,
    schema: AtomicUsize,
}

/// The producer's own release callback and private data, put back before it runs.
struct Wrapped<T> {
    release: unsafe extern "C" fn(*mut T),
    private: *mut c_void,
    count: Arc<Releases>,
}

unsafe extern "C" fn count_array_release(a: *mut FFI_ArrowArray) {
    // SAFETY: the library calls release on the struct it moved out of ours, whose private_data
    // is the Wrapped this test put there.
    unsafe {
        let w = Box::from_raw((*a).private_data.cast::<Wrapped<FFI_ArrowArray>>());
        w.count.array.fetch_add(1, Ordering::SeqCst);
        (*a).private_data = w.private;
        (*a).release = Some(w.release);
        (w.release)(a);
    }
}

unsafe extern "C" fn count_schema_release(s: *mut FFI_ArrowSchema) {
    // SAFETY: as count_array_release.
    unsafe {
        let w = Box::from_raw((*s).private_data.cast::<Wrapped<FFI_ArrowSchema>>());
        w.count.schema.fetch_add(1, Ordering::SeqCst);
        (*s).private_data = w.private;
        (*s).release = Some(w.release);
        (w.release)(s);
    }
}

/// `batch` exported through the C Data Interface as a struct array, with release callbacks that
/// count their calls.
fn export(batch: &RecordBatch) -> (FFI_ArrowArray, FFI_ArrowSchema, Arc<Releases>) {
    let data = StructArray::from(batch.clone()).into_data();
    let (mut array, mut schema) = to_ffi(&data).unwrap();
    let count = Arc::new(Releases::default());
    array.private_data = Box::into_raw(Box::new(Wrapped {
        release: array.release.unwrap(),
        private: array.private_data,
        count: count.clone(),
    }))
    .cast();
    array.release = Some(count_array_release);
    schema.private_data = Box::into_raw(Box::new(Wrapped {
        release: schema.release.unwrap(),
        private: schema.private_data,
        count: count.clone(),
    }))
    .cast();
    schema.release = Some(count_schema_release);
    (array, schema, count)
}

fn ingest_ipc(s: *const zerobus_arrow_stream, bytes: &[u8]) -> (bool, i64, *mut zerobus_error) {
    let (mut offset, mut err) = (99, null_mut());
    // SAFETY: a live buffer for the call, writable outputs.
    let done =
        unsafe { zerobus_arrow_stream_ingest_ipc(s, bytes.as_ptr(), bytes.len(), &mut offset, &mut err) };
    (done, offset, err)
}

fn ingest_arrow(
    s: *const zerobus_arrow_stream,
    array: *mut FFI_ArrowArray,
    schema: *mut FFI_ArrowSchema,
) -> (bool, i64, *mut zerobus_error) {
    let (mut offset, mut err) = (99, null_mut());
    // SAFETY: NULL or structs this test exported; writable outputs.
    let done = unsafe { zerobus_arrow_stream_ingest_arrow(s, array, schema, &mut offset, &mut err) };
    (done, offset, err)
}

fn metrics(s: *const zerobus_arrow_stream) -> zerobus_metrics {
    let (mut m, mut err) = (zerobus_metrics::default(), null_mut());
    // SAFETY: writable outputs.
    let done = unsafe { zerobus_arrow_stream_metrics(s, &mut m, &mut err) };
    ok(done, err);
    m
}

fn close(s: *mut zerobus_arrow_stream) -> (bool, *mut zerobus_error) {
    let mut err = null_mut();
    // SAFETY: a writable error slot.
    let done = unsafe { zerobus_arrow_stream_close(s, &mut err) };
    (done, err)
}

#[test]
fn ipc_and_c_data_batches_each_get_one_offset_and_every_row_arrives() {
    let mock = Mock::start();
    let s = mock.stream(Some(&ipc(&schema(), &[])), null());

    // An IPC stream of two batches: one call, one offset.
    let (done, offset, err) = ingest_ipc(s, &ipc(&schema(), &[cars(0, 3), cars(3, 2)]));
    ok(done, err);
    assert_eq!(offset, 0);

    // A struct array through the C Data Interface: imported in place, encoded at admission, and
    // both release callbacks run exactly once before the call returns; our structs are left
    // marked released, so dropping them releases nothing again.
    let (mut array, mut c_schema, releases) = export(&cars(5, 4));
    let (done, offset, err) = ingest_arrow(s, &mut array, &mut c_schema);
    ok(done, err);
    assert_eq!(offset, 1);
    assert_eq!(releases.array.load(Ordering::SeqCst), 1);
    assert_eq!(releases.schema.load(Ordering::SeqCst), 1);
    assert!(array.is_released() && c_schema.release.is_none());
    drop((array, c_schema));
    assert_eq!(releases.array.load(Ordering::SeqCst), 1);

    // A sliced batch (a non-zero offset in the C struct) keeps only its rows.
    let (mut array, mut c_schema, releases) = export(&cars(0, 20).slice(9, 3));
    let (done, offset, err) = ingest_arrow(s, &mut array, &mut c_schema);
    ok(done, err);
    assert_eq!(offset, 2);
    assert_eq!(releases.array.load(Ordering::SeqCst), 1);

    let mut err = null_mut();
    // SAFETY: a writable error slot.
    ok(unsafe { zerobus_arrow_stream_wait_for_offset(s, 2, &mut err) }, err);
    let mut err = null_mut();
    // SAFETY: a writable error slot.
    ok(unsafe { zerobus_arrow_stream_flush(s, &mut err) }, err);
    let m = metrics(s);
    assert_eq!((m.last_acked_offset, m.records_sent, m.inflight_requests, m.inflight_records), (2, 12, 0, 0));

    // Nothing unacked: the schema alone.
    let mut err = null_mut();
    // SAFETY: a writable error slot.
    let unacked = unsafe { zerobus_arrow_stream_get_unacked_ipc(s, &mut err) };
    ok(!unacked.is_null(), err);
    // SAFETY: the buffer's bytes, valid until it is freed.
    let bytes =
        unsafe { std::slice::from_raw_parts(zerobus_buffer_data(unacked), zerobus_buffer_len(unacked)) };
    assert!(read_ipc(bytes).is_empty());
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    assert_eq!(reader.schema(), schema());
    zerobus_buffer_free(unacked);

    let (done, err) = close(s);
    ok(done, err);
    assert!(zerobus_arrow_stream_is_closed(s));
    zerobus_arrow_stream_free(s);
    assert_eq!(mock.stored_rows(), (0..12).collect::<Vec<_>>());
    assert_eq!(mock.server.table_stats(CARS).records, 12);
}

#[test]
fn bad_input_fails_its_call_names_the_problem_and_releases_what_it_took() {
    let mock = Mock::start();
    // From the table: the schema is the table's (name LargeUtf8 NOT NULL, seats Int32).
    let s = mock.stream(None, null());

    let wrong = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("name", DataType::LargeUtf8, false),
            Field::new("seats", DataType::Int64, true),
        ])),
        vec![
            Arc::new(LargeStringArray::from_iter_values(["a"])) as ArrayRef,
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
        ],
    )
    .unwrap();
    // The wrong schema, both ways: INVALID_RECORD naming the column; the structs still released.
    let (done, offset, err) = ingest_ipc(s, &ipc(&wrong.schema(), std::slice::from_ref(&wrong)));
    failed(
        done,
        err,
        zerobus_code::ZEROBUS_ERROR_INVALID_RECORD,
        &["column seats", "expected Int32, got Int64"],
    );
    assert_eq!(offset, 99);
    let (mut array, mut c_schema, releases) = export(&wrong);
    let (done, offset, err) = ingest_arrow(s, &mut array, &mut c_schema);
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_RECORD, &["main.default.cars", "column seats"]);
    assert_eq!(offset, 99);
    assert_eq!((releases.array.load(Ordering::SeqCst), releases.schema.load(Ordering::SeqCst)), (1, 1));
    assert!(array.is_released() && c_schema.release.is_none());

    // Not IPC, and no bytes at all.
    let (done, _, err) = ingest_ipc(s, b"not arrow");
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_RECORD, &["Arrow IPC stream"]);
    let (done, _, err) = ingest_ipc(s, b"");
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_RECORD, &["empty"]);

    // NULL arguments name the parameter, and whatever was handed over is released.
    let (mut offset, mut err) = (99, null_mut());
    // SAFETY: NULL data with a length is the case under test; writable outputs.
    let done = unsafe { zerobus_arrow_stream_ingest_ipc(s, null(), 10, &mut offset, &mut err) };
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_ARGUMENT, &["`ipc`"]);
    let (_, mut c_schema, releases) = export(&cars(0, 1));
    let (done, _, err) = ingest_arrow(s, null_mut(), &mut c_schema);
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_ARGUMENT, &["`array`"]);
    // (the array export was dropped unused above: its own release ran there)
    assert_eq!(releases.schema.load(Ordering::SeqCst), 1);
    let (mut array, _, releases) = export(&cars(0, 1));
    let (done, _, err) = ingest_arrow(s, &mut array, null_mut());
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_ARGUMENT, &["`schema`"]);
    assert_eq!(releases.array.load(Ordering::SeqCst), 1);
    // A NULL stream: still the library's to release.
    let (mut array, mut c_schema, releases) = export(&cars(0, 1));
    let (done, _, err) = ingest_arrow(null(), &mut array, &mut c_schema);
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_ARGUMENT, &["`stream`"]);
    assert_eq!((releases.array.load(Ordering::SeqCst), releases.schema.load(Ordering::SeqCst)), (1, 1));
    // Already released structs (as a second call with the same structs would pass): refused,
    // not released again.
    let (done, _, err) = ingest_arrow(s, &mut array, &mut c_schema);
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_RECORD, &["already released"]);
    assert_eq!(releases.array.load(Ordering::SeqCst), 1);

    // A plain array is not a batch.
    let data = Int32Array::from(vec![1, 2]).into_data();
    let (mut array, mut c_schema) = to_ffi(&data).unwrap();
    let (done, _, err) = ingest_arrow(s, &mut array, &mut c_schema);
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_RECORD, &["struct array"]);

    // A schema that is not IPC fails the creation.
    let (table, id, secret) = (cstr(CARS), cstr(&mock.config.client_id), cstr(&mock.config.client_secret));
    let mut err = null_mut();
    // SAFETY: live strings and buffer for the call.
    let bad = unsafe {
        zerobus_sdk_create_arrow_stream(
            mock.sdk,
            table.as_ptr(),
            b"xx".as_ptr(),
            2,
            id.as_ptr(),
            secret.as_ptr(),
            null(),
            &mut err,
        )
    };
    failed(
        !bad.is_null(),
        err,
        zerobus_code::ZEROBUS_ERROR_INVALID_ARGUMENT,
        &["the schema is not an Arrow IPC stream"],
    );
    // An unknown compression name is refused by the setter, naming the option.
    let o = zerobus_arrow_stream_options_new();
    let (name, mut err) = (cstr("brotli"), null_mut());
    // SAFETY: a live string, a writable error slot.
    let done = unsafe { zerobus_arrow_stream_options_set_ipc_compression(o, name.as_ptr(), &mut err) };
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_ARGUMENT, &["ipc_compression", "lz4_frame"]);
    zerobus_arrow_stream_options_free(o);

    // The stream carried on through all of it.
    let (done, offset, err) = ingest_ipc(s, &ipc(&schema(), &[cars(0, 1)]));
    ok(done, err);
    assert_eq!(offset, 0);
    let (done, err) = close(s);
    ok(done, err);
    zerobus_arrow_stream_free(s);
    assert_eq!(mock.server.table_stats(CARS).records, 1);
}

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

unsafe extern "C" fn on_ack(user_data: *mut c_void, offset: i64) {
    // SAFETY: user_data is the Seen this test registered, alive until release.
    let seen = unsafe { &*user_data.cast::<Seen>() };
    seen.0.lock().unwrap().push(format!("ack {offset}"));
}

unsafe extern "C" fn on_error(user_data: *mut c_void, offset: i64, _message: *const std::ffi::c_char) {
    // SAFETY: as on_ack.
    let seen = unsafe { &*user_data.cast::<Seen>() };
    seen.0.lock().unwrap().push(format!("error {offset}"));
}

unsafe extern "C" fn release_seen(user_data: *mut c_void) {
    // SAFETY: the Arc this test leaked into user_data, given back once.
    drop(unsafe { Arc::from_raw(user_data.cast::<Seen>()) });
}

fn options_with_callbacks(seen: &Arc<Seen>, recovery: bool) -> *mut zerobus_arrow_stream_options {
    let o = zerobus_arrow_stream_options_new();
    let user_data = Arc::into_raw(seen.clone()) as *mut c_void;
    let mut err = null_mut();
    // SAFETY: callbacks of the documented signatures; user_data released once by release_seen.
    unsafe {
        ok(
            zerobus_arrow_stream_options_set_ack_callback(
                o,
                Some(on_ack),
                Some(on_error),
                user_data,
                Some(release_seen),
                &mut err,
            ),
            err,
        );
        ok(zerobus_arrow_stream_options_set_recovery(o, recovery, &mut err), err);
        ok(zerobus_arrow_stream_options_set_ipc_compression(o, c"LZ4_frame".as_ptr(), &mut err), err);
        ok(zerobus_arrow_stream_options_set_connection_timeout_ms(o, 5_000, &mut err), err);
        ok(zerobus_arrow_stream_options_set_max_inflight_batches(o, 10, &mut err), err);
        ok(zerobus_arrow_stream_options_set_max_inflight_bytes(o, 1 << 20, &mut err), err);
        ok(zerobus_arrow_stream_options_set_recovery_timeout_ms(o, 5_000, &mut err), err);
        ok(zerobus_arrow_stream_options_set_recovery_backoff_ms(o, 10, &mut err), err);
        ok(zerobus_arrow_stream_options_set_recovery_backoff_max_ms(o, 50, &mut err), err);
        ok(zerobus_arrow_stream_options_set_recovery_retries(o, 2, &mut err), err);
        ok(zerobus_arrow_stream_options_set_server_lack_of_ack_timeout_ms(o, 10_000, &mut err), err);
        ok(zerobus_arrow_stream_options_set_flush_timeout_ms(o, 10_000, &mut err), err);
        ok(zerobus_arrow_stream_options_set_stream_paused_max_wait_time_ms(o, 100, &mut err), err);
        ok(zerobus_arrow_stream_options_set_callback_max_wait_time_ms(o, 1_000, &mut err), err);
    }
    o
}

#[test]
fn callbacks_run_per_offset_and_options_reach_the_stream() {
    let mock = Mock::start();
    let seen = Arc::new(Seen::default());
    let o = options_with_callbacks(&seen, true);
    let s = mock.stream(Some(&ipc(&schema(), &[])), o);
    zerobus_arrow_stream_options_free(o);
    let (mut array, mut c_schema, _) = export(&cars(0, 2));
    let (done, _, err) = ingest_arrow(s, &mut array, &mut c_schema);
    ok(done, err);
    let (done, _, err) = ingest_ipc(s, &ipc(&schema(), &[cars(2, 2)]));
    ok(done, err);
    let (done, err) = close(s);
    ok(done, err);
    zerobus_arrow_stream_free(s);
    assert_eq!(seen.0.lock().unwrap().as_slice(), ["ack 0", "ack 1"]);
    // The stream's background tasks let go of the callbacks as they wind down after the free.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while Arc::strong_count(&seen) > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(Arc::strong_count(&seen), 1, "release handed user_data back");
    assert_eq!(mock.stored_rows(), vec![0, 1, 2, 3]);
}

#[test]
fn after_a_terminal_failure_the_unacked_rows_come_back_as_ipc() {
    let mock = Mock::start();
    // The first connection acks the first batch short of its last two rows, then drops.
    mock.server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: Some(1),
            action: StreamAction::PartialAckAfter { messages: 1, unacked_rows: 2 },
        }],
        ..FaultScript::default()
    });
    let seen = Arc::new(Seen::default());
    let o = options_with_callbacks(&seen, false);
    let s = mock.stream(Some(&ipc(&schema(), &[])), o);
    zerobus_arrow_stream_options_free(o);
    let (done, offset, err) = ingest_ipc(s, &ipc(&schema(), &[cars(0, 5)]));
    ok(done, err);
    let mut err = null_mut();
    // SAFETY: a writable error slot.
    let done = unsafe { zerobus_arrow_stream_wait_for_offset(s, offset, &mut err) };
    failed(done, err, zerobus_code::ZEROBUS_ERROR_UNAVAILABLE, &[]);
    assert!(zerobus_arrow_stream_is_closed(s));

    let mut err = null_mut();
    // SAFETY: a writable error slot.
    let unacked = unsafe { zerobus_arrow_stream_get_unacked_ipc(s, &mut err) };
    ok(!unacked.is_null(), err);
    // SAFETY: the buffer's bytes, valid until it is freed.
    let bytes =
        unsafe { std::slice::from_raw_parts(zerobus_buffer_data(unacked), zerobus_buffer_len(unacked)) }
            .to_vec();
    zerobus_buffer_free(unacked);
    assert_eq!(read_ipc(&bytes), vec![cars(3, 2)]);
    zerobus_error_free(close(s).1); // the stream failed: close reports that again
    zerobus_arrow_stream_free(s);
    assert_eq!(seen.0.lock().unwrap().as_slice(), ["error 0"]);

    // A new stream takes the unacked IPC as it is: every row arrives once.
    let s = mock.stream(Some(&bytes), null());
    let (done, offset, err) = ingest_ipc(s, &bytes);
    ok(done, err);
    assert_eq!(offset, 0);
    let (done, err) = close(s);
    ok(done, err);
    zerobus_arrow_stream_free(s);
    assert_eq!(mock.stored_rows(), vec![0, 1, 2, 3, 4]);
}

/// `zerobus_arrow_stream_ingest_columns` with `batch`'s buffers (a flat batch: per column its
/// validity, offsets and values, as `zerobus_core::arrow_columns` lays them out).
fn ingest_columns(
    s: *const zerobus_arrow_stream,
    schema_ipc: &[u8],
    nodes: &[u64],
    buffers: &[(*const u8, usize)],
) -> (bool, i64, *mut zerobus_error) {
    let (ptrs, lens): (Vec<*const u8>, Vec<usize>) = buffers.iter().copied().unzip();
    let (mut offset, mut err) = (99, null_mut());
    // SAFETY: every pointer is live for the call with the length given beside it (or NULL, which
    // the call must refuse); writable outputs.
    let done = unsafe {
        zerobus_arrow_stream_ingest_columns(
            s,
            schema_ipc.as_ptr(),
            schema_ipc.len(),
            nodes.as_ptr(),
            nodes.len(),
            ptrs.as_ptr(),
            lens.as_ptr(),
            ptrs.len(),
            &mut offset,
            &mut err,
        )
    };
    (done, offset, err)
}

#[test]
fn column_buffers_are_read_in_place_under_one_offset_and_bad_ones_name_the_column() {
    let mock = Mock::start();
    let schema_ipc = ipc(&schema(), &[]);
    let s = mock.stream(Some(&schema_ipc), null());
    let batch = cars(0, 3);
    let name = batch.column(0).to_data();
    let seats = batch.column(1).to_data();
    let part = |b: &[u8]| (b.as_ptr(), b.len());
    let none = (null(), 0);
    let nodes = [3, 0, 3, 0, 3, 0];
    let mut buffers = vec![
        none,
        none,
        none,
        none,
        part(name.buffers()[0].as_slice()),
        part(name.buffers()[1].as_slice()),
        none,
        none,
        part(seats.buffers()[0].as_slice()),
    ];

    let (done, offset, err) = ingest_columns(s, &schema_ipc, &nodes, &buffers);
    ok(done, err);
    assert_eq!(offset, 0);
    // Two batches in one call, one offset.
    let (done, offset, err) =
        ingest_columns(s, &schema_ipc, &[nodes, nodes].concat(), &[&buffers[..], &buffers[..]].concat());
    ok(done, err);
    assert_eq!(offset, 1);

    // Too few bytes for three Int32 values: the column is named, nothing is queued.
    buffers[8] = (seats.buffers()[0].as_ptr(), 4);
    let (done, _, err) = ingest_columns(s, &schema_ipc, &nodes, &buffers);
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_RECORD, &["main.default.cars", "column seats"]);
    // A NULL buffer that claims bytes.
    buffers[8] = (null(), 12);
    let (done, _, err) = ingest_columns(s, &schema_ipc, &nodes, &buffers);
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_ARGUMENT, &["buffers[8]"]);
    // Numbers that are not whole nodes.
    buffers[8] = part(seats.buffers()[0].as_slice());
    let (done, _, err) = ingest_columns(s, &schema_ipc, &nodes[..5], &buffers);
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_RECORD, &["whole nodes"]);

    let mut err = null_mut();
    // SAFETY: a writable error slot.
    ok(unsafe { zerobus_arrow_stream_flush(s, &mut err) }, err);
    assert_eq!(metrics(s).records_sent, 9);
    let (done, err) = close(s);
    ok(done, err);
    zerobus_arrow_stream_free(s);
    assert_eq!(mock.stored_rows(), [0, 1, 2, 0, 1, 2, 0, 1, 2]);
}

/// Counts the calls of a `_nocopy` release callback.
unsafe extern "C" fn count_release(data: *mut c_void) {
    // SAFETY: `data` is the `AtomicUsize` of an `Arc` the test keeps alive past the stream.
    unsafe { (*data.cast::<AtomicUsize>()).fetch_add(1, Ordering::SeqCst) };
}

/// Waits (up to 10 s) until `count` reaches `want`; its last value.
fn wait_count(count: &AtomicUsize, want: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count.load(Ordering::SeqCst) < want && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    count.load(Ordering::SeqCst)
}

fn ingest_ipc_nocopy(
    s: *const zerobus_arrow_stream,
    bytes: &[u8],
    count: &Arc<AtomicUsize>,
) -> (bool, i64, *mut zerobus_error) {
    let (mut offset, mut err) = (99, null_mut());
    let data = Arc::as_ptr(count).cast_mut().cast::<c_void>();
    // SAFETY: `bytes` outlives the stream in every test below; the callback only counts.
    let done = unsafe {
        zerobus_arrow_stream_ingest_ipc_nocopy(
            s,
            bytes.as_ptr(),
            bytes.len(),
            Some(count_release),
            data,
            &mut offset,
            &mut err,
        )
    };
    (done, offset, err)
}

#[test]
fn nocopy_calls_keep_the_callers_memory_until_acked_and_release_it_once() {
    let mock = Mock::start();
    // The first batch is acked, the rest are stored but never acked.
    mock.server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: Some(1),
            action: StreamAction::WithholdAcksAfter { messages: 1 },
        }],
        ..FaultScript::default()
    });
    let s = mock.stream(Some(&ipc(&schema(), &[])), null());
    let (first, second, bad) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (one, two) = (ipc(&schema(), &[cars(0, 3)]), ipc(&schema(), &[cars(3, 2)]));

    let (done, offset, err) = ingest_ipc_nocopy(s, &one, &first);
    ok(done, err);
    let mut err = null_mut();
    // SAFETY: a writable error slot.
    ok(unsafe { zerobus_arrow_stream_wait_for_offset(s, offset, &mut err) }, err);
    assert_eq!(wait_count(&first, 1), 1, "released once its rows are acked");

    // Unacked: the library keeps the bytes (for a resend) and has not released them.
    let (done, _, err) = ingest_ipc_nocopy(s, &two, &second);
    ok(done, err);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(second.load(Ordering::SeqCst), 0, "released before its ack");

    // A call that fails releases at once, on the calling thread, before it returns.
    let wrong = ipc(&Schema::new(vec![Field::new("name", DataType::Int64, false)]), &[]);
    let (done, _, err) = ingest_ipc_nocopy(s, &wrong, &bad);
    failed(done, err, zerobus_code::ZEROBUS_ERROR_INVALID_RECORD, &["main.default.cars"]);
    assert_eq!(bad.load(Ordering::SeqCst), 1);

    // Freeing the stream gives up its unacked calls: released then, once.
    zerobus_arrow_stream_free(s);
    assert_eq!(wait_count(&second, 1), 1, "released when the stream is freed");
    assert_eq!((first.load(Ordering::SeqCst), bad.load(Ordering::SeqCst)), (1, 1));
}

#[test]
fn nocopy_columns_and_c_data_are_sent_from_the_callers_buffers() {
    let mock = Mock::start();
    let schema_ipc = ipc(&schema(), &[]);
    let s = mock.stream(Some(&schema_ipc), null());
    let batch = cars(0, 3);
    let (name, seats) = (batch.column(0).to_data(), batch.column(1).to_data());
    let part = |b: &[u8]| (b.as_ptr(), b.len());
    let none = (null(), 0);
    let buffers = [
        none,
        none,
        none,
        none,
        part(name.buffers()[0].as_slice()),
        part(name.buffers()[1].as_slice()),
        none,
        none,
        part(seats.buffers()[0].as_slice()),
    ];
    let (ptrs, lens): (Vec<*const u8>, Vec<usize>) = buffers.iter().copied().unzip();
    let nodes = [3u64, 0, 3, 0, 3, 0];
    let count = Arc::new(AtomicUsize::new(0));
    let (mut offset, mut err) = (99, null_mut());
    // SAFETY: `batch`'s buffers outlive the stream; the callback only counts.
    let done = unsafe {
        zerobus_arrow_stream_ingest_columns_nocopy(
            s,
            schema_ipc.as_ptr(),
            schema_ipc.len(),
            nodes.as_ptr(),
            nodes.len(),
            ptrs.as_ptr(),
            lens.as_ptr(),
            ptrs.len(),
            Some(count_release),
            Arc::as_ptr(&count).cast_mut().cast(),
            &mut offset,
            &mut err,
        )
    };
    ok(done, err);
    assert_eq!(offset, 0);

    // C Data: the schema is released before the call returns, the array once the rows are acked.
    let (mut array, mut c_schema, releases) = export(&cars(3, 2));
    let (mut offset, mut err) = (99, null_mut());
    // SAFETY: structs this test exported; writable outputs.
    let done = unsafe {
        zerobus_arrow_stream_ingest_arrow_nocopy(s, &mut array, &mut c_schema, &mut offset, &mut err)
    };
    ok(done, err);
    assert_eq!(offset, 1);
    assert_eq!(releases.schema.load(Ordering::SeqCst), 1);
    assert!(array.is_released() && c_schema.release.is_none());

    let mut err = null_mut();
    // SAFETY: a writable error slot.
    ok(unsafe { zerobus_arrow_stream_flush(s, &mut err) }, err);
    assert_eq!(wait_count(&count, 1), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while releases.array.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(releases.array.load(Ordering::SeqCst), 1);
    let (done, err) = close(s);
    ok(done, err);
    zerobus_arrow_stream_free(s);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(mock.stored_rows(), [0, 1, 2, 3, 4]);
}
