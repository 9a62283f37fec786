//! # zerobus-node
//!
//! The native half of the Node.js binding (`@databricks/zerobus-ingest-sdk`). It only marshals:
//! every behaviour (auth, offsets, backpressure, recovery, callbacks) is `zerobus-core`'s, called
//! through its async API from napi-rs's tokio runtime, so promises resolve on the Node event loop
//! without blocking it. The idiomatic JavaScript surface (`ZerobusSdk`, `ZerobusError`, payload
//! conversion, `Symbol.asyncDispose`) is the hand-written `index.js` over these classes.
//!
//! Errors cross as a napi error whose message is `\u{1}ZB|CODE|grpc|retryable|message`;
//! `index.js` turns that into a `ZerobusError` (see [`to_js_error`]).
#![warn(missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::{Buffer, Either, Promise, Uint32Array, Uint8Array, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;
use prost::Message;
mod fast;

use zerobus_core::{
    AckCallback, ErrorCode, HeadersProvider, PendingIngest, Queued, RecordRef, RecordType,
    StreamConfigurationOptions, TableProperties, ZerobusError, ZerobusResult, ZerobusSdk, ZerobusStream,
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

fn invalid(message: impl Into<String>) -> napi::Error {
    to_js_error(ZerobusError::new(ErrorCode::InvalidArgument, message))
}

/// Ack / error / barrier events for the JavaScript dispatcher: `(kind, offset, message)` with
/// kind 0 = ack, 1 = error, 2 = barrier. Weak: it never keeps the process alive by itself.
type EventFn = ThreadsafeFunction<(u32, i64, String), (), (u32, i64, String), Status, false, true>;

/// The JavaScript headers provider, wrapped by `index.js` so it always returns a promise of
/// either a flat `[name, value, name, value, …]` list or an error message. Weak, like [`EventFn`].
type HeadersFn = ThreadsafeFunction<(), Promise<Either<Vec<String>, String>>, (), Status, false, true>;

const EVENT_ACK: u32 = 0;
const EVENT_ERROR: u32 = 1;
const EVENT_BARRIER: u32 = 2;

/// Forwards the core's per-offset callbacks to JavaScript. Released on `close()`.
#[derive(Default)]
struct JsEvents {
    tsfn: Mutex<Option<Arc<EventFn>>>,
}

impl JsEvents {
    fn get(&self) -> Option<Arc<EventFn>> {
        self.tsfn.lock().ok().and_then(|g| g.clone())
    }

    fn send(&self, kind: u32, offset: i64, message: String) {
        if let Some(f) = self.get() {
            f.call((kind, offset, message), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// Resolves once every event sent before it has run on the JavaScript thread (one queue,
    /// FIFO), then releases the function so nothing runs after `close()`.
    async fn barrier_and_release(&self) {
        let Some(f) = self.get() else { return };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let status = f.call_with_return_value(
            (EVENT_BARRIER, -1, String::new()),
            ThreadsafeFunctionCallMode::NonBlocking,
            move |_, _| {
                let _ = tx.send(());
                Ok(())
            },
        );
        if status == Status::Ok {
            // Bounded so a JavaScript thread that never comes back cannot hang close().
            let _ = tokio::time::timeout(Duration::from_secs(30), rx).await;
        }
        if let Ok(mut g) = self.tsfn.lock() {
            g.take();
        }
    }
}

impl AckCallback for JsEvents {
    fn on_ack(&self, offset: i64) {
        self.send(EVENT_ACK, offset, String::new());
    }

    fn on_error(&self, offset: i64, message: &str) {
        self.send(EVENT_ERROR, offset, message.to_owned());
    }
}

/// Asks the JavaScript headers provider on every connect. The core calls this on a blocking
/// thread; it waits for that one answer, bounded by the stream's `recovery_timeout_ms`.
struct JsHeaders {
    tsfn: Mutex<Option<Arc<HeadersFn>>>,
    bound: Duration,
}

impl HeadersProvider for JsHeaders {
    fn get_headers(&self) -> ZerobusResult<Vec<(String, String)>> {
        let unavailable = |m: String| ZerobusError::new(ErrorCode::Unavailable, m);
        let f = self
            .tsfn
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .ok_or_else(|| ZerobusError::new(ErrorCode::StreamClosed, "the stream is closed"))?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            ZerobusError::new(ErrorCode::Internal, "headers provider called outside the runtime")
        })?;
        let answer = handle.block_on(async {
            tokio::time::timeout(self.bound, async {
                let promise = f.call_async(()).await?;
                promise.await
            })
            .await
        });
        let answer = match answer {
            Err(_) => {
                return Err(ZerobusError::new(
                    ErrorCode::Timeout,
                    format!("the headers provider did not answer within {} ms", self.bound.as_millis()),
                ))
            }
            Ok(Err(e)) => return Err(unavailable(format!("the headers provider could not be called: {e}"))),
            Ok(Ok(a)) => a,
        };
        match answer {
            Either::A(flat) => {
                if flat.len() % 2 != 0 {
                    return Err(ZerobusError::new(
                        ErrorCode::InvalidArgument,
                        "the headers provider must return [name, value] pairs",
                    ));
                }
                Ok(flat.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect())
            }
            Either::B(reply) => {
                // `CODE|message`: the code of a ZerobusError the provider threw, else UNAVAILABLE
                // (so the core's retry budget applies and the provider is asked again).
                let (code, message) = reply.split_once('|').unwrap_or(("", reply.as_str()));
                let code =
                    ErrorCode::ALL.into_iter().find(|c| c.as_str() == code).unwrap_or(ErrorCode::Unavailable);
                Err(ZerobusError::new(code, format!("the headers provider failed: {message}")))
            }
        }
    }
}

/// Stream options as `index.js` passes them (camelCase, every field optional; defaults are the
/// core's).
#[napi(object)]
pub struct NativeOptions {
    /// See `StreamConfigurationOptions::max_inflight_requests`.
    pub max_inflight_requests: Option<f64>,
    /// See `StreamConfigurationOptions::max_inflight_bytes`.
    pub max_inflight_bytes: Option<f64>,
    /// See `StreamConfigurationOptions::recovery`.
    pub recovery: Option<bool>,
    /// See `StreamConfigurationOptions::recovery_timeout_ms`.
    pub recovery_timeout_ms: Option<f64>,
    /// See `StreamConfigurationOptions::recovery_backoff_ms`.
    pub recovery_backoff_ms: Option<f64>,
    /// See `StreamConfigurationOptions::recovery_retries`.
    pub recovery_retries: Option<f64>,
    /// See `StreamConfigurationOptions::server_lack_of_ack_timeout_ms`.
    pub server_lack_of_ack_timeout_ms: Option<f64>,
    /// See `StreamConfigurationOptions::flush_timeout_ms`.
    pub flush_timeout_ms: Option<f64>,
    /// Wire value of the record type: 1 = PROTO, 2 = JSON.
    pub record_type: Option<i32>,
    /// See `StreamConfigurationOptions::stream_paused_max_wait_time_ms`.
    pub stream_paused_max_wait_time_ms: Option<f64>,
    /// See `StreamConfigurationOptions::callback_max_wait_time_ms`.
    pub callback_max_wait_time_ms: Option<f64>,
}

fn whole(name: &str, v: Option<f64>) -> napi::Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9.007_199_254_740_991e15 => {
            Ok(Some(x as u64))
        }
        Some(x) => Err(invalid(format!("option {name} must be a non-negative integer, got {x}"))),
    }
}

impl NativeOptions {
    fn to_core(&self) -> napi::Result<StreamConfigurationOptions> {
        let mut o = StreamConfigurationOptions::default();
        if let Some(v) = whole("maxInflightRequests", self.max_inflight_requests)? {
            o.max_inflight_requests = v as usize;
        }
        if let Some(v) = whole("maxInflightBytes", self.max_inflight_bytes)? {
            o.max_inflight_bytes = v as usize;
        }
        if let Some(v) = self.recovery {
            o.recovery = v;
        }
        for (name, value, slot) in [
            ("recoveryTimeoutMs", self.recovery_timeout_ms, &mut o.recovery_timeout_ms),
            ("recoveryBackoffMs", self.recovery_backoff_ms, &mut o.recovery_backoff_ms),
            (
                "serverLackOfAckTimeoutMs",
                self.server_lack_of_ack_timeout_ms,
                &mut o.server_lack_of_ack_timeout_ms,
            ),
            ("flushTimeoutMs", self.flush_timeout_ms, &mut o.flush_timeout_ms),
        ] {
            if let Some(v) = whole(name, value)? {
                *slot = v;
            }
        }
        if let Some(v) = whole("recoveryRetries", self.recovery_retries)? {
            o.recovery_retries =
                u32::try_from(v).map_err(|_| invalid("option recoveryRetries is too large"))?;
        }
        if let Some(v) = whole("streamPausedMaxWaitTimeMs", self.stream_paused_max_wait_time_ms)? {
            o.stream_paused_max_wait_time_ms = Some(v);
        }
        if let Some(v) = whole("callbackMaxWaitTimeMs", self.callback_max_wait_time_ms)? {
            o.callback_max_wait_time_ms = Some(v);
        }
        o.record_type = match self.record_type {
            None | Some(1) => RecordType::Proto,
            Some(2) => RecordType::Json,
            Some(other) => {
                return Err(invalid(format!(
                    "recordType {other} is neither RecordType.Proto (1) nor RecordType.Json (2)"
                )))
            }
        };
        Ok(o)
    }
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

/// The native SDK handle (`ZerobusSdk` in `index.js`).
#[napi]
pub struct NativeSdk {
    inner: ZerobusSdk,
}

#[napi]
impl NativeSdk {
    /// An SDK for `endpoint` with tokens from `workspace_url`.
    #[napi(constructor)]
    pub fn new(endpoint: String, workspace_url: String) -> napi::Result<Self> {
        let inner = ZerobusSdk::builder()
            .endpoint(endpoint)
            .workspace_url(workspace_url)
            .sdk_name(concat!("zerobus-sdk-node/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(to_js_error)?;
        Ok(NativeSdk { inner })
    }

    /// Opens a stream. `descriptor` is a serialized `DescriptorProto` (PROTO streams); `events`
    /// receives ack/error events when set; `headers`, when set, replaces OAuth.
    #[napi]
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
            *js_events.tsfn.lock().map_err(|_| invalid("poisoned"))? = Some(Arc::new(f));
            opts.ack_callback = Some(js_events.clone());
        }
        let mut js_headers = None;
        let stream = match headers {
            Some(f) => {
                let provider = Arc::new(JsHeaders {
                    tsfn: Mutex::new(Some(Arc::new(f))),
                    bound: Duration::from_millis(opts.recovery_timeout_ms.max(1)),
                });
                js_headers = Some(provider.clone());
                self.inner.create_stream_with_headers_provider(table, provider, opts).await
            }
            None => self.inner.create_stream(table, client_id, client_secret, opts).await,
        };
        match stream {
            Ok(s) => Ok(NativeStream { inner: Arc::new(s), events: js_events, headers: js_headers }),
            Err(e) => {
                js_events.tsfn.lock().ok().map(|mut g| g.take());
                Err(to_js_error(e))
            }
        }
    }
}

/// Splits one contiguous batch buffer into records. `text` says whether records are JSON text;
/// `kinds` (one byte per record, 1 = text) is given only for a batch that mixes both.
fn split_batch<'a>(
    data: &'a [u8],
    lengths: &[u32],
    text: bool,
    kinds: Option<&[u8]>,
) -> napi::Result<Vec<RecordRef<'a>>> {
    let mut out = Vec::with_capacity(lengths.len());
    let mut pos = 0usize;
    for (i, &len) in lengths.iter().enumerate() {
        let end = pos + len as usize;
        let rec = data.get(pos..end).ok_or_else(|| invalid("batch lengths exceed the batch buffer"))?;
        pos = end;
        let is_text = kinds.and_then(|k| k.get(i)).map_or(text, |&k| k == 1);
        out.push(if is_text {
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

/// Offset returned by the `try` forms when the in-flight bounds are reached (nothing queued).
const QUEUE_FULL: i64 = -1;

/// An ingest call waiting for room in the in-flight bounds; it already holds its place in line.
#[napi]
pub struct NativePending {
    pub(crate) inner: Mutex<Option<PendingIngest>>,
}

#[napi]
impl NativePending {
    /// Waits for room, queues the call and resolves to its offset.
    #[napi]
    pub async fn wait(&self) -> napi::Result<i64> {
        let pending = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        let pending = pending.ok_or_else(|| invalid("this call was already waited for"))?;
        pending.wait().await.map_err(to_js_error)
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
#[napi]
pub struct NativeStream {
    inner: Arc<ZerobusStream>,
    events: Arc<JsEvents>,
    headers: Option<Arc<JsHeaders>>,
}

#[napi]
impl NativeStream {
    /// The per-record ingest calls as plain functions bound to this stream (see `fast.rs`):
    /// `one(record)` queues now (its offset) or returns a `NativePending` holding the call's place
    /// in line, `tryOne(record)` returns -1 instead of waiting; `texts(records)` / `tryTexts` do
    /// the same for a batch of JSON strings under one offset (null when empty), and return -2
    /// when the batch is not all strings or the stream is PROTO (`queueBatch` takes those).
    #[napi(
        ts_return_type = "{ one(record: string | Buffer): number | NativePending; tryOne(record: string | Buffer): number; texts(records: unknown[]): number | null | NativePending; tryTexts(records: unknown[]): number | null }"
    )]
    pub fn fast_calls<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        // SAFETY: `env` is this call's environment, on the JavaScript thread.
        let calls = unsafe { fast::calls(env.raw(), &self.inner) }?;
        // SAFETY: `calls` is a live value of this call's scope.
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), calls) })
    }

    /// Queues a batch held in one buffer (`lengths` per record; `kinds`, one byte per record with
    /// 1 = JSON text, only for a batch mixing text and bytes) now if the bounds allow: -1 when
    /// they do not, null for an empty batch. `index.js` uses it for batches that are not all
    /// JSON strings (those go through `fastCalls().tryTexts`).
    #[napi]
    pub fn try_ingest_batch(
        &self,
        data: Buffer,
        lengths: Uint32Array,
        text: bool,
        kinds: Option<Uint8Array>,
    ) -> napi::Result<Option<i64>> {
        let recs = split_batch(&data, &lengths, text, kinds.as_deref())?;
        match self.inner.try_ingest_records_offset(recs) {
            Ok(o) => Ok(o),
            Err(e) if e.code() == ErrorCode::QueueFull => Ok(Some(QUEUE_FULL)),
            Err(e) => Err(to_js_error(e)),
        }
    }

    /// `fastCalls().one` for a batch held in one buffer (`lengths` per record) under one offset;
    /// null for an empty batch.
    #[napi]
    pub fn queue_batch(
        &self,
        data: Buffer,
        lengths: Uint32Array,
        text: bool,
        kinds: Option<Uint8Array>,
    ) -> napi::Result<Option<Either<i64, NativePending>>> {
        let recs = split_batch(&data, &lengths, text, kinds.as_deref())?;
        Ok(pending_or_offset(self.inner.queue_records(recs).map_err(to_js_error)?))
    }

    /// Waits until `offset` is acknowledged.
    #[napi]
    pub async fn wait_for_offset(&self, offset: i64) -> napi::Result<()> {
        self.inner.wait_for_offset(offset).await.map_err(to_js_error)
    }

    /// Waits until everything queued so far is acknowledged.
    #[napi]
    pub async fn flush(&self) -> napi::Result<()> {
        self.inner.flush().await.map_err(to_js_error)
    }

    /// Closes the stream; when it resolves every ack/error callback has run and the callback and
    /// headers functions are released.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        let result = self.inner.close().await;
        self.events.barrier_and_release().await;
        if let Some(h) = &self.headers {
            h.tsfn.lock().ok().map(|mut g| g.take());
        }
        result.map_err(to_js_error)
    }

    /// Whether the stream no longer accepts records.
    #[napi]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Wire value of the stream's record type (1 = PROTO, 2 = JSON).
    #[napi]
    pub fn record_type(&self) -> i32 {
        self.inner.record_type() as i32
    }

    /// The server's id for the current connection.
    #[napi]
    pub fn stream_id(&self) -> String {
        self.inner.stream_id()
    }

    /// The records of every unacknowledged call, in offset order.
    #[napi]
    pub fn get_unacked_records(&self) -> Vec<Buffer> {
        self.inner.get_unacked_records().iter().map(|b| Buffer::from(b.to_vec())).collect()
    }

    /// Every unacknowledged call as its list of records.
    #[napi]
    pub fn get_unacked_batches(&self) -> Vec<Vec<Buffer>> {
        self.inner
            .get_unacked_batches()
            .iter()
            .map(|batch| batch.iter().map(|b| Buffer::from(b.to_vec())).collect())
            .collect()
    }

    /// A snapshot of the stream's counters.
    #[napi]
    pub fn metrics(&self) -> NativeMetrics {
        let m = self.inner.metrics();
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

/// The cross-language error code names, in the core's order (for `ZerobusError` docs and tests).
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    ErrorCode::ALL.iter().map(|c| c.as_str()).collect()
}
