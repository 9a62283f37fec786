//! uniffi bindings of the Zerobus Ingest core for the Kotlin SDK (`bindings-java/kotlin`).
//!
//! This crate only maps types: every behaviour (auth, recovery, bounds, acks) stays in
//! `zerobus-core`. Async functions run on one shared multi-thread tokio runtime owned here and
//! surface in Kotlin as `suspend` functions; the hand-written Kotlin layer on top
//! (`com.databricks.zerobus.kotlin`) turns them into the public API.
//!
//! The ingest calls do not go through uniffi: `fast.rs` exports them as plain JNI functions that
//! take the record (or a batch as one buffer plus lengths) in native memory and queue it at once;
//! only a call that has to wait for room comes back through a uniffi `suspend` function. What
//! those functions hand to Kotlin are handles into the tables of `handles.rs`, never pointers.
//!
//! Panics: every exported function runs its body under [`guard`] (sync) or [`guarded`] (async),
//! which turn a panic into an `INTERNAL` [`FfiError`]; no panic unwinds into the JVM. (uniffi's
//! scaffolding also catches panics; these guards do not rely on it.) Callbacks into Kotlin
//! ([`AckAdapter`], [`HeadersAdapter`]) contain panics the same way.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use prost::Message;
use zerobus_core::{
    schema, AckCallback, DescriptorProto, ErrorCode, HeadersProvider, RecordType, StreamConfigurationOptions,
    StreamMetrics, TableProperties, TableSchema, ZerobusError, ZerobusResult, ZerobusSdk, ZerobusStream,
};

uniffi::setup_scaffolding!();

mod arrow;
mod fast;
mod fast_arrow;
mod handles;
mod jni_upcall;

/// Name and version this binding sends in `user-agent`.
const SDK_NAME: &str = concat!("zerobus-sdk-kotlin/", env!("CARGO_PKG_VERSION"));

/// The one error type of the binding: the core's code name (`ErrorCode::as_str`), the server's
/// gRPC status when it answered, whether a retry may succeed, and a message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum FfiError {
    /// Any failure reported by the core (or contained here, as `INTERNAL`).
    Failed {
        /// `INVALID_ARGUMENT`, `UNAVAILABLE`, … (the core's closed list).
        code: String,
        /// gRPC status code from the server, if the server answered.
        grpc_status: Option<i32>,
        /// Whether the same operation may succeed later.
        retryable: bool,
        /// Human-readable message, no secrets.
        detail: String,
    },
}

impl std::fmt::Display for FfiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let FfiError::Failed { code, detail, .. } = self;
        write!(f, "{code}: {detail}")
    }
}

impl std::error::Error for FfiError {}

impl From<ZerobusError> for FfiError {
    fn from(e: ZerobusError) -> Self {
        FfiError::Failed {
            code: e.code().as_str().to_owned(),
            grpc_status: e.grpc_status(),
            retryable: e.is_retryable(),
            detail: e.message().to_owned(),
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for FfiError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        internal(format!("a Kotlin callback failed: {}", e.reason))
    }
}

fn internal(detail: impl Into<String>) -> FfiError {
    FfiError::Failed {
        code: ErrorCode::Internal.as_str().to_owned(),
        grpc_status: None,
        retryable: false,
        detail: detail.into(),
    }
}

fn invalid_argument(detail: impl Into<String>) -> FfiError {
    FfiError::Failed {
        code: ErrorCode::InvalidArgument.as_str().to_owned(),
        grpc_status: None,
        retryable: false,
        detail: detail.into(),
    }
}

fn to_core(e: FfiError) -> ZerobusError {
    let FfiError::Failed { code, grpc_status, detail, .. } = e;
    let code = ErrorCode::ALL.into_iter().find(|c| c.as_str() == code).unwrap_or(ErrorCode::Internal);
    match grpc_status {
        Some(s) => ZerobusError::with_grpc(code, s, detail),
        None => ZerobusError::new(code, detail),
    }
}

/// The shared runtime every stream's background work and every async call runs on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("zerobus-kotlin")
            .enable_all()
            .build()
            .expect("cannot start the zerobus tokio runtime")
    })
}

const PANICKED: &str = "the SDK panicked; this is a bug, please report it";

/// Runs the body of a sync export: a panic becomes an `INTERNAL` error.
fn guard<T>(f: impl FnOnce() -> Result<T, FfiError>) -> Result<T, FfiError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(internal(PANICKED)))
}

/// Runs the body of an async export: a panic while polling it becomes an `INTERNAL` error (and the
/// future is not polled again).
async fn guarded<T>(f: impl Future<Output = Result<T, FfiError>>) -> Result<T, FfiError> {
    CatchUnwind(Box::pin(f)).await
}

struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<T, F: Future<Output = Result<T, FfiError>>> Future for CatchUnwind<F> {
    type Output = Result<T, FfiError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // `CatchUnwind` is `Unpin` (the future is boxed), so no unsafe pinning is needed.
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(p) => p,
            Err(_) => std::task::Poll::Ready(Err(internal(PANICKED))),
        }
    }
}

/// Runs `f` on the shared runtime; a panic inside becomes `INTERNAL` instead of crossing the FFI.
async fn on_runtime<T, F>(f: F) -> Result<T, FfiError>
where
    F: Future<Output = Result<T, FfiError>> + Send + 'static,
    T: Send + 'static,
{
    match runtime().spawn(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(internal(PANICKED)),
        Err(e) => Err(internal(format!("the SDK task was cancelled: {e}"))),
    }
}

/// Polls `F` inside the shared runtime's context, on the caller's thread. Waiting ingest calls use
/// it instead of [`on_runtime`]: once there is room they complete on that poll, with no hop to
/// another thread (and so no foreign callback from a thread the JVM has not attached).
struct InRuntime<F>(F);

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let _guard = runtime().enter();
        // SAFETY: structural pinning of the only field: `InRuntime` has no `Drop`, is not
        // `Unpin` unless `F` is, never hands out `&mut F` and never moves `F` out, so the field
        // stays pinned exactly as long as `self` is.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        inner.poll(cx)
    }
}

/// Stream options under the published SDKs' names. `None` keeps the core's default.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct FfiStreamOptions {
    /// `"json"` or `"proto"`.
    pub record_type: String,
    /// See `StreamConfigurationOptions::max_inflight_requests`.
    pub max_inflight_requests: Option<u64>,
    /// See `StreamConfigurationOptions::max_inflight_bytes`.
    pub max_inflight_bytes: Option<u64>,
    /// See `StreamConfigurationOptions::recovery`.
    pub recovery: Option<bool>,
    /// See `StreamConfigurationOptions::recovery_timeout_ms`.
    pub recovery_timeout_ms: Option<u64>,
    /// See `StreamConfigurationOptions::recovery_backoff_ms`.
    pub recovery_backoff_ms: Option<u64>,
    /// See `StreamConfigurationOptions::recovery_backoff_max_ms`.
    pub recovery_backoff_max_ms: Option<u64>,
    /// See `StreamConfigurationOptions::recovery_retries`.
    pub recovery_retries: Option<u32>,
    /// See `StreamConfigurationOptions::server_lack_of_ack_timeout_ms`.
    pub server_lack_of_ack_timeout_ms: Option<u64>,
    /// See `StreamConfigurationOptions::flush_timeout_ms`.
    pub flush_timeout_ms: Option<u64>,
    /// See `StreamConfigurationOptions::stream_paused_max_wait_time_ms`.
    pub stream_paused_max_wait_time_ms: Option<u64>,
    /// See `StreamConfigurationOptions::callback_max_wait_time_ms`.
    pub callback_max_wait_time_ms: Option<u64>,
}

impl FfiStreamOptions {
    fn to_core(&self, ack: Option<Box<dyn FfiAckListener>>) -> Result<StreamConfigurationOptions, FfiError> {
        let record_type = match self.record_type.to_ascii_lowercase().as_str() {
            "json" => RecordType::Json,
            "proto" | "" => RecordType::Proto,
            other => {
                return Err(invalid_argument(format!("record type {other:?} is neither json nor proto")))
            }
        };
        let mut o = StreamConfigurationOptions { record_type, ..Default::default() };
        if let Some(v) = self.max_inflight_requests {
            o.max_inflight_requests = v as usize;
        }
        if let Some(v) = self.max_inflight_bytes {
            o.max_inflight_bytes = v as usize;
        }
        if let Some(v) = self.recovery {
            o.recovery = v;
        }
        if let Some(v) = self.recovery_timeout_ms {
            o.recovery_timeout_ms = v;
        }
        if let Some(v) = self.recovery_backoff_ms {
            o.recovery_backoff_ms = v;
        }
        if let Some(v) = self.recovery_backoff_max_ms {
            o.recovery_backoff_max_ms = v;
        }
        if let Some(v) = self.recovery_retries {
            o.recovery_retries = v;
        }
        if let Some(v) = self.server_lack_of_ack_timeout_ms {
            o.server_lack_of_ack_timeout_ms = v;
        }
        if let Some(v) = self.flush_timeout_ms {
            o.flush_timeout_ms = v;
        }
        if self.stream_paused_max_wait_time_ms.is_some() {
            o.stream_paused_max_wait_time_ms = self.stream_paused_max_wait_time_ms;
        }
        if self.callback_max_wait_time_ms.is_some() {
            o.callback_max_wait_time_ms = self.callback_max_wait_time_ms;
        }
        o.ack_callback = ack.map(|l| Arc::new(AckAdapter(l)) as Arc<dyn AckCallback>);
        Ok(o)
    }
}

/// Per-offset ack and error notifications, implemented in Kotlin. Called on the core's callback
/// thread, in offset order, never after `close()` returned.
#[uniffi::export(callback_interface)]
pub trait FfiAckListener: Send + Sync {
    /// `offset` (and every earlier one) is durable.
    fn on_ack(&self, offset: i64);
    /// `offset` failed for good.
    fn on_error(&self, offset: i64, message: String);
}

struct AckAdapter(Box<dyn FfiAckListener>);

/// A panic here (uniffi panics when a Kotlin callback fails unexpectedly; the Kotlin bridge
/// catches everything first) is contained: that notification is dropped, the stream carries on.
impl AckCallback for AckAdapter {
    fn on_ack(&self, offset: i64) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.0.on_ack(offset)));
    }
    fn on_error(&self, offset: i64, message: &str) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.0.on_error(offset, message.to_owned())));
    }
}

/// One header: name and value.
#[derive(Debug, Clone, uniffi::Record)]
pub struct FfiHeader {
    /// Header name (lowercase for gRPC metadata).
    pub name: String,
    /// Header value.
    pub value: String,
}

/// Supplies the call metadata on every connect, implemented in Kotlin.
#[uniffi::export(callback_interface)]
pub trait FfiHeadersProvider: Send + Sync {
    /// The headers for the next connection attempt; an error fails that attempt.
    fn get_headers(&self) -> Result<Vec<FfiHeader>, FfiError>;
}

struct HeadersAdapter(Box<dyn FfiHeadersProvider>);

impl HeadersProvider for HeadersAdapter {
    fn get_headers(&self) -> ZerobusResult<Vec<(String, String)>> {
        match catch_unwind(AssertUnwindSafe(|| self.0.get_headers())) {
            Ok(Ok(h)) => Ok(h.into_iter().map(|h| (h.name, h.value)).collect()),
            Ok(Err(e)) => Err(to_core(e)),
            Err(_) => Err(ZerobusError::new(ErrorCode::Internal, "the headers provider panicked")),
        }
    }
}

/// A point-in-time view of a stream's counters (`StreamMetrics`).
#[derive(Debug, Clone, uniffi::Record)]
pub struct FfiMetrics {
    /// Ingest calls queued and not yet acknowledged.
    pub inflight_requests: u64,
    /// Records in those calls.
    pub inflight_records: u64,
    /// Encoded bytes held for those calls.
    pub inflight_bytes: u64,
    /// Highest acknowledged offset, if any.
    pub last_acked_offset: Option<i64>,
    /// Records handed to the transport, resends included.
    pub records_sent: u64,
    /// Records sent again after a reconnect.
    pub records_resent: u64,
    /// Successful reconnects.
    pub recoveries: u64,
    /// Token endpoint requests made by this stream.
    pub token_fetches: u64,
}

impl From<StreamMetrics> for FfiMetrics {
    fn from(m: StreamMetrics) -> Self {
        FfiMetrics {
            inflight_requests: m.inflight_requests,
            inflight_records: m.inflight_records,
            inflight_bytes: m.inflight_bytes,
            last_acked_offset: m.last_acked_offset,
            records_sent: m.records_sent,
            records_resent: m.records_resent,
            recoveries: m.recoveries,
            token_fetches: m.token_fetches,
        }
    }
}

/// One column of a table (`TableSchema::columns`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiColumn {
    /// Column name.
    pub name: String,
    /// The SQL type as Unity Catalog's `type_text` spells it: `bigint`, `decimal(10,2)`,
    /// `array<string>`, `struct<lat:double,lon:double>`.
    pub type_text: String,
    /// Unity Catalog's `type_name`: `LONG`, `DECIMAL`, `STRUCT`, …
    pub type_name: String,
    /// Whether the column may be null (`false` for `NOT NULL`).
    pub nullable: bool,
    /// Zero-based position; the proto field number is `position + 1`.
    pub position: u32,
    /// The column's comment, if any.
    pub comment: Option<String>,
}

/// A table's schema as Unity Catalog describes it, with what the core derives from it (the
/// mapping of PROTOCOL.md §7). A table with a column that has no proto2 form has no descriptor
/// and no `.proto`: the `*_error` fields then say why.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiTableSchema {
    /// Catalog name.
    pub catalog: String,
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Columns in position order.
    pub columns: Vec<FfiColumn>,
    /// The table as Unity Catalog's REST API returns it (JSON text).
    pub uc_json: String,
    /// The record message's serialized `DescriptorProto` (what a stream from the table is opened with).
    pub descriptor_proto: Option<Vec<u8>>,
    /// Why there is no descriptor.
    pub descriptor_error: Option<String>,
    /// The record message as `.proto` (proto2) source.
    pub proto_file: Option<String>,
    /// Why there is no `.proto` source (e.g. a column name that is not a proto identifier).
    pub proto_file_error: Option<String>,
}

impl From<&TableSchema> for FfiTableSchema {
    fn from(t: &TableSchema) -> Self {
        let (descriptor_proto, descriptor_error) = match schema::descriptor(t) {
            Ok(d) => (Some(d.encode_to_vec()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let (proto_file, proto_file_error) = match schema::proto_file(t) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e.to_string())),
        };
        FfiTableSchema {
            catalog: t.catalog.clone(),
            schema: t.schema.clone(),
            name: t.name.clone(),
            columns: t
                .columns
                .iter()
                .map(|c| FfiColumn {
                    name: c.name.clone(),
                    type_text: c.data_type.to_string(),
                    type_name: c.data_type.uc_type_name().to_owned(),
                    nullable: c.nullable,
                    position: c.position,
                    comment: c.comment.clone(),
                })
                .collect(),
            uc_json: t.to_uc_json().to_string(),
            descriptor_proto,
            descriptor_error,
            proto_file,
            proto_file_error,
        }
    }
}

/// The SDK: one per endpoint, shared by its streams.
#[derive(uniffi::Object)]
pub struct FfiSdk {
    inner: ZerobusSdk,
}

#[uniffi::export]
impl FfiSdk {
    /// An SDK for `endpoint` with OAuth tokens from `workspace_url`; `ca_pem`: CA certificates
    /// (PEM) to trust besides the system roots; `application_name`: appended to the user-agent.
    #[uniffi::constructor]
    pub fn new(
        endpoint: String,
        workspace_url: String,
        ca_pem: Option<String>,
        application_name: Option<String>,
    ) -> Result<Arc<Self>, FfiError> {
        guard(|| {
            let mut b =
                ZerobusSdk::builder().endpoint(endpoint).workspace_url(workspace_url).sdk_name(SDK_NAME);
            if let Some(pem) = ca_pem {
                b = b.add_ca_certificate_pem(pem);
            }
            if let Some(name) = application_name {
                b = b.application_name(name);
            }
            Ok(Arc::new(FfiSdk { inner: b.build()? }))
        })
    }

    /// The `user-agent` this SDK sends.
    pub fn user_agent(&self) -> Result<String, FfiError> {
        guard(|| Ok(self.inner.user_agent().to_owned()))
    }

    /// Opens a stream with OAuth client credentials. `descriptor` is a serialized
    /// `DescriptorProto` (PROTO streams); `None` on a PROTO stream opens it from the table: the
    /// core reads the table's schema, and JSON records given to the stream are encoded by it.
    pub async fn create_stream(
        &self,
        table: String,
        descriptor: Option<Vec<u8>>,
        client_id: String,
        client_secret: String,
        options: FfiStreamOptions,
        ack: Option<Box<dyn FfiAckListener>>,
    ) -> Result<Arc<FfiStream>, FfiError> {
        guarded(async move {
            let sdk = self.inner.clone();
            let table = table_properties(table, descriptor)?;
            let options = options.to_core(ack)?;
            on_runtime(async move {
                let stream = sdk.create_stream(table, client_id, client_secret, options).await?;
                Ok(Arc::new(FfiStream { inner: Arc::new(stream) }))
            })
            .await
        })
        .await
    }

    /// Opens a stream whose call metadata comes from `provider`, asked on every connect.
    pub async fn create_stream_with_headers_provider(
        &self,
        table: String,
        descriptor: Option<Vec<u8>>,
        provider: Box<dyn FfiHeadersProvider>,
        options: FfiStreamOptions,
        ack: Option<Box<dyn FfiAckListener>>,
    ) -> Result<Arc<FfiStream>, FfiError> {
        guarded(async move {
            let sdk = self.inner.clone();
            let table = table_properties(table, descriptor)?;
            let options = options.to_core(ack)?;
            let provider: Arc<dyn HeadersProvider> = Arc::new(HeadersAdapter(provider));
            on_runtime(async move {
                let stream = sdk.create_stream_with_headers_provider(table, provider, options).await?;
                Ok(Arc::new(FfiStream { inner: Arc::new(stream) }))
            })
            .await
        })
        .await
    }
    /// Reads `table`'s schema from Unity Catalog with OAuth client credentials (the token a
    /// stream on the table uses), retrying what is retryable.
    pub async fn get_table_schema(
        &self,
        table: String,
        client_id: String,
        client_secret: String,
    ) -> Result<FfiTableSchema, FfiError> {
        guarded(async move {
            let sdk = self.inner.clone();
            on_runtime(async move {
                let t = sdk.get_table_schema(&table, client_id, client_secret).await?;
                Ok(FfiTableSchema::from(&t))
            })
            .await
        })
        .await
    }

    /// Reads `table`'s schema with the `authorization` header `provider` gives.
    pub async fn get_table_schema_with_headers_provider(
        &self,
        table: String,
        provider: Box<dyn FfiHeadersProvider>,
    ) -> Result<FfiTableSchema, FfiError> {
        guarded(async move {
            let sdk = self.inner.clone();
            let provider: Arc<dyn HeadersProvider> = Arc::new(HeadersAdapter(provider));
            on_runtime(async move {
                let t = sdk.get_table_schema_with_headers_provider(&table, provider).await?;
                Ok(FfiTableSchema::from(&t))
            })
            .await
        })
        .await
    }
}

fn table_properties(table: String, descriptor: Option<Vec<u8>>) -> Result<TableProperties, FfiError> {
    let mut t = TableProperties::new(table);
    if let Some(bytes) = descriptor {
        let d = DescriptorProto::decode(bytes.as_slice())
            .map_err(|e| invalid_argument(format!("descriptor is not a serialized DescriptorProto: {e}")))?;
        t.descriptor_proto = Some(d);
    }
    Ok(t)
}

/// One ingest stream.
#[derive(uniffi::Object)]
pub struct FfiStream {
    inner: Arc<ZerobusStream>,
}

/// Reads a batch the Kotlin layer laid out in native memory: `count` little-endian `u32` lengths
/// at `address`, then `data_len` bytes of records.
///
/// # Safety
/// `address` points to `4 * count + data_len` readable bytes that nobody changes while the
/// returned slice is alive.
unsafe fn native_batch<'a>(
    address: *const u8,
    count: usize,
    data_len: usize,
) -> ZerobusResult<(&'a [u8], Vec<usize>)> {
    let too_large = || ZerobusError::new(ErrorCode::InvalidArgument, "batch too large");
    let head = count.checked_mul(4).ok_or_else(too_large)?;
    let total = head.checked_add(data_len).ok_or_else(too_large)?;
    if address.is_null() {
        return Err(ZerobusError::new(ErrorCode::InvalidArgument, "batch buffer address is null"));
    }
    // SAFETY: the caller guarantees `total` readable bytes at `address`, unchanged meanwhile.
    let all = unsafe { std::slice::from_raw_parts(address, total) };
    let lengths =
        all[..head].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    Ok((&all[head..], lengths))
}

#[uniffi::export]
impl FfiStream {
    /// The table this stream writes to.
    pub fn table_name(&self) -> Result<String, FfiError> {
        guard(|| Ok(self.inner.table_name().to_owned()))
    }

    /// `"json"` or `"proto"`.
    pub fn record_type(&self) -> Result<String, FfiError> {
        guard(|| {
            Ok(match self.inner.record_type() {
                RecordType::Json => "json".into(),
                RecordType::Proto => "proto".into(),
            })
        })
    }

    /// The server's id for the stream's current connection (empty before the server gave one;
    /// it changes when the stream reconnects).
    pub fn stream_id(&self) -> Result<String, FfiError> {
        guard(|| Ok(self.inner.stream_id()))
    }

    /// The table's schema when the stream was created from it (PROTO with no descriptor).
    pub fn table_schema(&self) -> Result<Option<FfiTableSchema>, FfiError> {
        guard(|| Ok(self.inner.table_schema().map(FfiTableSchema::from)))
    }

    /// A handle for the ingest fast path (`fast.rs`): one reference to the core stream in the
    /// fast path's handle table, owned by the Kotlin `ZerobusStream`, which gives it back with
    /// `NativeIngest.release`.
    pub fn fast_handle(&self) -> Result<i64, FfiError> {
        guard(|| fast::stream_handle(&self.inner))
    }

    /// Waits until `offset` is acknowledged (bounded by `flush_timeout_ms`).
    pub async fn wait_for_offset(&self, offset: i64) -> Result<(), FfiError> {
        guarded(async move {
            let s = self.inner.clone();
            on_runtime(async move { Ok(s.wait_for_offset(offset).await?) }).await
        })
        .await
    }

    /// Waits until everything queued so far is acknowledged.
    pub async fn flush(&self) -> Result<(), FfiError> {
        guarded(async move {
            let s = self.inner.clone();
            on_runtime(async move { Ok(s.flush().await?) }).await
        })
        .await
    }

    /// Flushes and closes; idempotent. (`close` is taken by the generated `AutoCloseable`.)
    pub async fn close_stream(&self) -> Result<(), FfiError> {
        guarded(async move {
            let s = self.inner.clone();
            on_runtime(async move { Ok(s.close().await?) }).await
        })
        .await
    }

    /// Whether the stream no longer accepts records.
    pub fn is_closed(&self) -> Result<bool, FfiError> {
        guard(|| Ok(self.inner.is_closed()))
    }

    /// Unacknowledged calls as lists of records, in offset order.
    pub fn unacked_batches(&self) -> Result<Vec<Vec<Vec<u8>>>, FfiError> {
        guard(|| {
            Ok(self
                .inner
                .get_unacked_batches()
                .into_iter()
                .map(|b| b.into_iter().map(|r| r.to_vec()).collect())
                .collect())
        })
    }

    /// Unacknowledged records, flattened, in offset order.
    pub fn unacked_records(&self) -> Result<Vec<Vec<u8>>, FfiError> {
        guard(|| Ok(self.inner.get_unacked_records().into_iter().map(|r| r.to_vec()).collect()))
    }

    /// A snapshot of the stream's counters.
    pub fn metrics(&self) -> Result<FfiMetrics, FfiError> {
        guard(|| Ok(FfiMetrics::from(self.inner.metrics())))
    }
}

/// The core's error code names, in declaration order.
#[uniffi::export]
pub fn error_codes() -> Result<Vec<String>, FfiError> {
    guard(|| Ok(ErrorCode::ALL.iter().map(|c| c.as_str().to_owned()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_round_trips_code_and_status() {
        let e = ZerobusError::with_grpc(ErrorCode::Unavailable, 14, "down");
        let f = FfiError::from(e.clone());
        assert_eq!(f.to_string(), "UNAVAILABLE: down");
        assert_eq!(to_core(f), e);
    }

    #[test]
    fn native_batch_reads_little_endian_u32_lengths_then_data() {
        let buf = [3u8, 0, 0, 0, 0, 1, 0, 0, b'a', b'b'];
        // SAFETY: `buf` holds 2 lengths and 2 bytes of data and outlives the slice.
        let (data, lengths) = unsafe { native_batch(buf.as_ptr(), 2, 2) }.unwrap();
        assert_eq!(lengths, vec![3, 256]);
        assert_eq!(data, b"ab");
        // SAFETY: a null address is rejected before it is read.
        assert!(unsafe { native_batch(std::ptr::null(), 0, 0) }.is_err());
    }

    #[test]
    fn options_reject_unknown_record_type() {
        let o = FfiStreamOptions { record_type: "xml".into(), ..Default::default() };
        assert!(o.to_core(None).is_err());
    }

    #[test]
    fn guards_turn_panics_into_internal() {
        let r: Result<(), FfiError> = guard(|| panic!("boom"));
        assert!(matches!(r, Err(FfiError::Failed { ref code, .. }) if code == "INTERNAL"));
        let r: Result<(), FfiError> = runtime().block_on(guarded(async { panic!("boom") }));
        assert!(matches!(r, Err(FfiError::Failed { ref code, .. }) if code == "INTERNAL"));
        assert_eq!(runtime().block_on(guarded(async { Ok(7) })).unwrap(), 7);
    }

    #[test]
    fn table_schema_carries_columns_descriptor_and_proto_file() {
        let t =
            schema::parse_table("main.default.t(id BIGINT NOT NULL, tags ARRAY<STRING>, `a b` INT)").unwrap();
        let f = FfiTableSchema::from(&t);
        assert_eq!((f.catalog.as_str(), f.schema.as_str(), f.name.as_str()), ("main", "default", "t"));
        let cols: Vec<_> = f
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.type_text.as_str(), c.nullable, c.position))
            .collect();
        assert_eq!(
            cols,
            vec![("id", "bigint", false, 0), ("tags", "array<string>", true, 1), ("a b", "int", true, 2)]
        );
        assert_eq!(f.columns[0].type_name, "LONG");
        let d = DescriptorProto::decode(f.descriptor_proto.unwrap().as_slice()).unwrap();
        assert_eq!(d.field.len(), 3);
        // `a b` is no proto identifier: a descriptor, but no .proto text.
        assert!(f.proto_file.is_none() && f.proto_file_error.unwrap().contains("a b"));
        assert!(f.uc_json.contains("\"type_text\":\"array<string>\""));
    }

    #[test]
    fn bad_descriptor_is_invalid_argument() {
        let Err(FfiError::Failed { code, .. }) = table_properties("a.b.c".into(), Some(vec![0xff])) else {
            panic!("expected an error")
        };
        assert_eq!(code, "INVALID_ARGUMENT");
    }
}
