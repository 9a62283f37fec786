//! # zerobus-node
//!
//! The native half of the Node.js binding (`@databricks/zerobus-ingest-sdk`). It only marshals:
//! every behaviour (auth, offsets, backpressure, recovery, option ranges, callbacks) is
//! `zerobus-core`'s, called through its async API from napi-rs's tokio runtime, so promises
//! resolve on the Node event loop without blocking it. The idiomatic JavaScript surface
//! (`ZerobusSdk`, `ZerobusError`, payload conversion, `Symbol.asyncDispose`) is the hand-written
//! `index.js` over these classes.
//!
//! Errors cross as a napi error whose message is `\u{1}ZB|CODE|grpc|retryable|message`;
//! `index.js` turns that into a `ZerobusError` (see [`to_js_error`]).
//!
//! ## Panics
//!
//! A panic must never unwind into Node (it would abort the process). Every export is guarded:
//! - `#[napi(catch_unwind)]` on every function, method and constructor catches a panic in the
//!   synchronous part (argument conversion, the body, the conversion of the result) and throws it
//!   as an error, which `index.js` renders as `ZerobusError` `INTERNAL`;
//! - every `async` export runs its body inside [`guarded`], which catches a panic while the future
//!   is polled on the runtime and rejects the promise with an `INTERNAL` error;
//! - the raw N-API functions of `fast.rs` run their bodies under `catch_unwind` (`fast::run`);
//! - the classes drop their native state inside `catch_unwind` (`custom_finalize`), and so does
//!   the finalizer of the raw functions.
//!
//! `test_hooks` (debug builds only, armed only with `ZEROBUS_NODE_TEST_HOOKS=1`, see there) lets
//! the tests make each of those places panic on purpose.
#![warn(missing_docs)]

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Buffer, Either, ObjectFinalize, Uint32Array, Uint8Array, Unknown};
use napi::{Env, Status};
use napi_derive::napi;
use prost::Message;
mod arrow;
mod callbacks;
mod fast;
mod guard;
mod options;

pub use arrow::{NativeArrowField, NativeArrowStream};
use callbacks::{EventFn, HeadersFn, JsEvents, JsHeaders};
pub(crate) use guard::{drop_quietly, guard_sync, guarded, panic_error, trip};
pub use options::{NativeArrowOptions, NativeOptions, NativeSdkOptions};

use zerobus_core::{
    ErrorCode, PendingIngest, Queued, RecordRef, RecordType, StreamMetrics, TableProperties, TableSchema,
    ZerobusError, ZerobusSdk, ZerobusStream,
};

/// Marks a napi error message that carries a core error (parsed by `index.js`).
const ERROR_TAG: &str = "\u{1}ZB";

/// Renders a core error for `index.js`: `\u{1}ZB|CODE|grpc status or empty|0 or 1|message`.
pub fn to_js_error(e: ZerobusError) -> napi::Error {
    let grpc = e.grpc_status().map(|s| s.to_string()).unwrap_or_default();
    napi::Error::new(
        Status::GenericFailure,
        format!("{ERROR_TAG}|{}|{grpc}|{}|{}", e.code().as_str(), u8::from(e.is_retryable()), e.message()),
    )
}

pub(crate) fn invalid(message: impl Into<String>) -> napi::Error {
    to_js_error(ZerobusError::new(ErrorCode::InvalidArgument, message))
}

/// Counters of a stream, as `StreamMetrics` in the core.
#[napi(object)]
pub struct NativeMetrics {
    /// Ingest calls queued and not yet acknowledged.
    pub inflight_requests: f64,
    /// Records in those calls.
    pub inflight_records: f64,
    /// Encoded bytes held for those calls.
    pub inflight_bytes: f64,
    /// Highest acknowledged offset, if any.
    pub last_acked_offset: Option<i64>,
    /// Records handed to the transport, resends included.
    pub records_sent: f64,
    /// Records sent again after a reconnect.
    pub records_resent: f64,
    /// Successful reconnects.
    pub recoveries: f64,
    /// Token requests made for this stream.
    pub token_fetches: f64,
}

impl NativeMetrics {
    fn new(m: StreamMetrics) -> Self {
        NativeMetrics {
            inflight_requests: m.inflight_requests as f64,
            inflight_records: m.inflight_records as f64,
            inflight_bytes: m.inflight_bytes as f64,
            last_acked_offset: m.last_acked_offset,
            records_sent: m.records_sent as f64,
            records_resent: m.records_resent as f64,
            recoveries: m.recoveries as f64,
            token_fetches: m.token_fetches as f64,
        }
    }
}

/// One column of a table, as Unity Catalog describes it.
#[napi(object)]
pub struct NativeColumn {
    /// Column name.
    pub name: String,
    /// The SQL type as Unity Catalog's `type_text` spells it (`bigint`, `array<string>`).
    pub type_text: String,
    /// Unity Catalog's `type_name` (`LONG`, `STRUCT`, …).
    pub type_name: String,
    /// Whether the column may be null (`false` for `NOT NULL`).
    pub nullable: bool,
    /// Zero-based position; the proto field number is `position + 1`.
    pub position: u32,
}

/// A table's schema and what the core derives from it (`TableSchema` in `index.d.ts`).
#[napi(object)]
pub struct NativeTableSchema {
    /// `catalog.schema.table`.
    pub table_name: String,
    /// Columns in position order.
    pub columns: Vec<NativeColumn>,
    /// The serialized `DescriptorProto` of the table's record message; absent when a column's
    /// type has no proto2 form (`proto_error` says which).
    pub descriptor_proto: Option<Buffer>,
    /// The record message as a `.proto` (proto2) file; absent when the table has none
    /// (`proto_error` says why: a column type without a proto2 form, or a column name that is
    /// not a proto identifier, which the descriptor can still carry).
    pub proto_file: Option<String>,
    /// Why `descriptor_proto` or `proto_file` is absent.
    pub proto_error: Option<String>,
}

impl NativeTableSchema {
    fn new(schema: &TableSchema) -> Self {
        use zerobus_core::schema;
        let columns = schema
            .columns
            .iter()
            .map(|c| NativeColumn {
                name: c.name.clone(),
                type_text: c.data_type.to_string(),
                type_name: c.data_type.uc_type_name().to_owned(),
                nullable: c.nullable,
                position: c.position,
            })
            .collect();
        let (descriptor_proto, proto_file, proto_error) = match schema::descriptor(schema) {
            Err(e) => (None, None, Some(e.to_string())),
            Ok(d) => match schema::proto_file(schema) {
                Ok(file) => (Some(Buffer::from(d.encode_to_vec())), Some(file), None),
                Err(e) => (Some(Buffer::from(d.encode_to_vec())), None, Some(e.to_string())),
            },
        };
        NativeTableSchema {
            table_name: schema.full_name(),
            columns,
            descriptor_proto,
            proto_file,
            proto_error,
        }
    }
}

/// The native SDK handle (`ZerobusSdk` in `index.js`).
#[napi(custom_finalize)]
pub struct NativeSdk {
    inner: ZerobusSdk,
}

impl ObjectFinalize for NativeSdk {
    fn finalize(self, _env: Env) -> napi::Result<()> {
        drop_quietly(self);
        Ok(())
    }
}

#[napi]
impl NativeSdk {
    /// An SDK for `endpoint` with tokens from `workspace_url`.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        endpoint: String,
        workspace_url: String,
        options: Option<NativeSdkOptions>,
    ) -> napi::Result<Self> {
        guard_sync(|| {
            trip("NativeSdk.constructor");
            let mut builder = ZerobusSdk::builder()
                .endpoint(endpoint)
                .workspace_url(workspace_url)
                .sdk_name(concat!("zerobus-sdk-node/", env!("CARGO_PKG_VERSION")));
            if let Some(options) = options {
                for pem in options.ca_certificates_pem.unwrap_or_default() {
                    builder = builder.add_ca_certificate_pem(pem.to_vec());
                }
                if let Some(name) = options.application_name {
                    builder = builder.application_name(name);
                }
            }
            Ok(NativeSdk { inner: builder.build().map_err(to_js_error)? })
        })
    }

    /// Reads `table_name`'s schema from Unity Catalog with OAuth client credentials, or with the
    /// `authorization` header `headers` gives when set.
    #[napi(catch_unwind)]
    pub async fn get_table_schema(
        &self,
        table_name: String,
        client_id: String,
        client_secret: String,
        headers: Option<HeadersFn>,
    ) -> napi::Result<NativeTableSchema> {
        guarded(async move {
            trip("NativeSdk.getTableSchema");
            let schema = match headers {
                Some(f) => {
                    let provider = Arc::new(JsHeaders::new(f));
                    let schema = self
                        .inner
                        .get_table_schema_with_headers_provider(&table_name, provider.clone())
                        .await;
                    provider.release();
                    schema
                }
                None => self.inner.get_table_schema(&table_name, client_id, client_secret).await,
            };
            Ok(NativeTableSchema::new(&schema.map_err(to_js_error)?))
        })
        .await
    }

    /// Opens a stream. `descriptor` is a serialized `DescriptorProto` (PROTO streams; none on a
    /// PROTO stream = from the table: the core reads its schema and encodes JSON records by it);
    /// `events` receives ack/error events when set; `headers`, when set, replaces OAuth.
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub async fn create_stream(
        &self,
        table_name: String,
        descriptor: Option<Buffer>,
        client_id: String,
        client_secret: String,
        options: NativeOptions,
        events: Option<EventFn>,
        headers: Option<HeadersFn>,
    ) -> napi::Result<NativeStream> {
        guarded(async move {
            trip("NativeSdk.createStream");
            let mut opts = options.to_core()?;
            let mut table = TableProperties::new(table_name);
            if let Some(d) = descriptor {
                table.descriptor_proto =
                    Some(zerobus_core::DescriptorProto::decode(d.as_ref()).map_err(|e| {
                        invalid(format!("descriptorProto is not a serialized DescriptorProto: {e}"))
                    })?);
            }
            let js_events = Arc::new(JsEvents::default());
            if let Some(f) = events {
                *js_events.tsfn.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(f));
                opts.ack_callback = Some(js_events.clone());
            }
            let js_headers = headers.map(|f| Arc::new(JsHeaders::new(f)));
            let stream = match &js_headers {
                Some(provider) => {
                    self.inner.create_stream_with_headers_provider(table, provider.clone(), opts).await
                }
                None => self.inner.create_stream(table, client_id, client_secret, opts).await,
            };
            match stream {
                Ok(s) => Ok(NativeStream { inner: Arc::new(s), events: js_events, headers: js_headers }),
                Err(e) => {
                    js_events.release();
                    if let Some(h) = &js_headers {
                        h.release();
                    }
                    Err(to_js_error(e))
                }
            }
        })
        .await
    }
}

/// Splits one contiguous batch buffer into records. `kinds` holds one byte per record, 1 = JSON
/// text (a batch that mixes text and bytes).
fn split_batch<'a>(data: &'a [u8], lengths: &[u32], kinds: &[u8]) -> napi::Result<Vec<RecordRef<'a>>> {
    if kinds.len() != lengths.len() {
        return Err(invalid("a mixed batch needs one kind per record"));
    }
    let mut out = Vec::with_capacity(lengths.len());
    let mut pos = 0usize;
    for (i, (&len, &kind)) in lengths.iter().zip(kinds).enumerate() {
        let end = pos.checked_add(len as usize).ok_or_else(|| invalid("batch lengths overflow"))?;
        let rec = data.get(pos..end).ok_or_else(|| invalid("batch lengths exceed the batch buffer"))?;
        pos = end;
        out.push(if kind == 1 {
            RecordRef::Json(std::str::from_utf8(rec).map_err(|e| {
                to_js_error(ZerobusError::new(
                    ErrorCode::InvalidRecord,
                    format!("record {i} of the batch is not UTF-8: {e}"),
                ))
            })?)
        } else {
            RecordRef::Proto(rec)
        });
    }
    if pos != data.len() {
        return Err(invalid("batch lengths do not add up to the batch buffer"));
    }
    Ok(out)
}

/// How a batch held in one buffer is handed to the core.
enum Batch<'a> {
    /// Every record of one kind: the core's contiguous call, no per-record allocation.
    Contiguous(RecordType, Vec<usize>),
    /// Text and bytes mixed: one `RecordRef` each, so the core checks each against the stream.
    Mixed(Vec<RecordRef<'a>>),
}

fn batch<'a>(data: &'a [u8], lengths: &[u32], text: bool, kinds: Option<&[u8]>) -> napi::Result<Batch<'a>> {
    Ok(match kinds {
        Some(kinds) => Batch::Mixed(split_batch(data, lengths, kinds)?),
        None => Batch::Contiguous(
            if text { RecordType::Json } else { RecordType::Proto },
            lengths.iter().map(|&l| l as usize).collect(),
        ),
    })
}

/// Offset returned by the `try` forms when the in-flight bounds are reached (nothing queued).
const QUEUE_FULL: i64 = -1;

/// An ingest call waiting for room in the in-flight bounds; it already holds its place in line.
#[napi(custom_finalize)]
pub struct NativePending {
    pub(crate) inner: Mutex<Option<PendingIngest>>,
}

impl ObjectFinalize for NativePending {
    fn finalize(self, _env: Env) -> napi::Result<()> {
        drop_quietly(self);
        Ok(())
    }
}

#[napi]
impl NativePending {
    /// Waits for room, queues the call and resolves to its offset.
    #[napi(catch_unwind)]
    pub async fn wait(&self) -> napi::Result<i64> {
        guarded(async move {
            let pending = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
            let pending = pending.ok_or_else(|| invalid("this call was already waited for"))?;
            // After the take: a panic here drops the call, which gives its place in line up.
            trip("NativePending.wait");
            pending.wait().await.map_err(to_js_error)
        })
        .await
    }
}

/// `None` for an empty batch, else the offset or the waiting call.
fn pending_or_offset(queued: Queued) -> Option<Either<i64, NativePending>> {
    match queued {
        Queued::Offset(offset) => offset.map(Either::A),
        Queued::Waiting(p) => Some(Either::B(NativePending { inner: Mutex::new(Some(p)) })),
    }
}

/// The native stream handle (`ZerobusStream` in `index.js`).
#[napi(custom_finalize)]
pub struct NativeStream {
    inner: Arc<ZerobusStream>,
    events: Arc<JsEvents>,
    headers: Option<Arc<JsHeaders>>,
}

impl ObjectFinalize for NativeStream {
    fn finalize(self, _env: Env) -> napi::Result<()> {
        drop_quietly(self);
        Ok(())
    }
}

#[napi]
impl NativeStream {
    /// The per-record ingest calls as plain functions bound to this stream (see `fast.rs`):
    /// `one(record)` queues now (its offset) or returns a `NativePending` holding the call's place
    /// in line, `tryOne(record)` returns -1 instead of waiting; `texts(records)` / `tryTexts` do
    /// the same for a batch of JSON strings under one offset (null when empty), and return -2
    /// when the batch is not all strings or the stream is PROTO with a descriptor (`queueBatch`
    /// takes those).
    #[napi(
        catch_unwind,
        ts_return_type = "{ one(record: string | Buffer): number | NativePending; tryOne(record: string | Buffer): number; texts(records: unknown[]): number | null | NativePending; tryTexts(records: unknown[]): number | null }"
    )]
    pub fn fast_calls<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        guard_sync(|| {
            // SAFETY: `env` is this call's environment, on the JavaScript thread (napi-rs hands it
            // to the method it is calling).
            let calls = unsafe { fast::calls(env.raw(), &self.inner) }?;
            // SAFETY: `calls` is a live value created in this call's scope of `env`.
            Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), calls) })
        })
    }

    /// Queues a batch held in one buffer (`lengths` per record; `kinds`, one byte per record with
    /// 1 = JSON text, only for a batch mixing text and bytes) now if the bounds allow: -1 when
    /// they do not, null for an empty batch. `index.js` uses it for batches that are not all
    /// JSON strings (those go through `fastCalls().tryTexts`).
    #[napi(catch_unwind)]
    pub fn try_ingest_batch(
        &self,
        data: Buffer,
        lengths: Uint32Array,
        text: bool,
        kinds: Option<Uint8Array>,
    ) -> napi::Result<Option<i64>> {
        guard_sync(|| {
            let result = match batch(&data, &lengths, text, kinds.as_deref())? {
                Batch::Contiguous(kind, lengths) => {
                    self.inner.try_ingest_records_contiguous_as(kind, &data, &lengths)
                }
                Batch::Mixed(recs) => self.inner.try_ingest_records_offset(recs),
            };
            match result {
                Ok(o) => Ok(o),
                Err(e) if e.code() == ErrorCode::QueueFull => Ok(Some(QUEUE_FULL)),
                Err(e) => Err(to_js_error(e)),
            }
        })
    }

    /// `fastCalls().one` for a batch held in one buffer (`lengths` per record) under one offset;
    /// null for an empty batch.
    #[napi(catch_unwind)]
    pub fn queue_batch(
        &self,
        data: Buffer,
        lengths: Uint32Array,
        text: bool,
        kinds: Option<Uint8Array>,
    ) -> napi::Result<Option<Either<i64, NativePending>>> {
        guard_sync(|| {
            trip("NativeStream.queueBatch");
            let queued = match batch(&data, &lengths, text, kinds.as_deref())? {
                Batch::Contiguous(kind, lengths) => {
                    self.inner.queue_records_contiguous_as(kind, &data, &lengths)
                }
                Batch::Mixed(recs) => self.inner.queue_records(recs),
            };
            Ok(pending_or_offset(queued.map_err(to_js_error)?))
        })
    }

    /// Waits until `offset` is acknowledged.
    #[napi(catch_unwind)]
    pub async fn wait_for_offset(&self, offset: i64) -> napi::Result<()> {
        guarded(async move { self.inner.wait_for_offset(offset).await.map_err(to_js_error) }).await
    }

    /// Waits until everything queued so far is acknowledged.
    #[napi(catch_unwind)]
    pub async fn flush(&self) -> napi::Result<()> {
        guarded(async move {
            trip("NativeStream.flush");
            self.inner.flush().await.map_err(to_js_error)
        })
        .await
    }

    /// Closes the stream; when it resolves every ack/error callback has run and the callback and
    /// headers functions are released.
    #[napi(catch_unwind)]
    pub async fn close(&self) -> napi::Result<()> {
        guarded(async move {
            let result = self.inner.close().await;
            self.events.barrier_and_release().await;
            if let Some(h) = &self.headers {
                h.release();
            }
            result.map_err(to_js_error)
        })
        .await
    }

    /// Whether the stream no longer accepts records.
    #[napi(catch_unwind)]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Wire value of the stream's record type (1 = PROTO, 2 = JSON).
    #[napi(catch_unwind)]
    pub fn record_type(&self) -> i32 {
        self.inner.record_type() as i32
    }

    /// The server's id for the current connection.
    #[napi(catch_unwind)]
    pub fn stream_id(&self) -> String {
        self.inner.stream_id()
    }

    /// The table's schema when the stream was opened from it (PROTO, no descriptor), else none.
    #[napi(catch_unwind)]
    pub fn table_schema(&self) -> Option<NativeTableSchema> {
        self.inner.table_schema().map(NativeTableSchema::new)
    }

    /// The records of every unacknowledged call, in offset order.
    #[napi(catch_unwind)]
    pub fn get_unacked_records(&self) -> Vec<Buffer> {
        self.inner.get_unacked_records().iter().map(|b| Buffer::from(b.to_vec())).collect()
    }

    /// Every unacknowledged call as its list of records.
    #[napi(catch_unwind)]
    pub fn get_unacked_batches(&self) -> Vec<Vec<Buffer>> {
        self.inner
            .get_unacked_batches()
            .iter()
            .map(|batch| batch.iter().map(|b| Buffer::from(b.to_vec())).collect())
            .collect()
    }

    /// A snapshot of the stream's counters.
    #[napi(catch_unwind)]
    pub fn metrics(&self) -> napi::Result<NativeMetrics> {
        guard_sync(|| {
            trip("NativeStream.metrics");
            Ok(NativeMetrics::new(self.inner.metrics()))
        })
    }
}

/// The cross-language error code names, in the core's order (for `ZerobusError` docs and tests).
#[napi(catch_unwind)]
pub fn error_codes() -> napi::Result<Vec<&'static str>> {
    guard_sync(|| {
        trip("errorCodes");
        Ok(ErrorCode::ALL.iter().map(|c| c.as_str()).collect())
    })
}
