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

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use napi::bindgen_prelude::{Buffer, Either, ObjectFinalize, Promise, Uint32Array, Uint8Array, Unknown};
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

/// The text of a panic payload (`panic!` with a literal or a formatted message).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// The `INTERNAL` error a caught panic becomes. The payload is dropped inside `catch_unwind`
/// (a payload whose `Drop` panics again is leaked instead of unwinding into Node).
pub(crate) fn panic_error(payload: Box<dyn std::any::Any + Send>) -> napi::Error {
    let text = panic_text(&*payload);
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
    to_js_error(ZerobusError::new(
        ErrorCode::Internal,
        format!("the Node binding panicked (a bug: please report it): {text}"),
    ))
}

/// Runs `f`, turning a panic into [`panic_error`].
fn guard_sync<T>(f: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panic_error(p)))
}

/// Drops `value` inside `catch_unwind`: for finalizers, which run on the JavaScript thread where a
/// panic must not escape and nothing can be reported.
pub(crate) fn drop_quietly<T>(value: T) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            std::mem::forget(again);
        }
    }
}

/// A future whose panics, while it is polled, become an `INTERNAL` error (see [`guarded`]).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<T, F: Future<Output = napi::Result<T>>> Future for CatchUnwind<F> {
    type Output = napi::Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // After a panic this returns `Ready`, so the inner future is never polled again.
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready(Err(panic_error(payload))),
        }
    }
}

/// The body of every `async` export: a panic while it runs rejects the promise with `INTERNAL`
/// instead of taking down a runtime thread (napi-rs would reject with an untagged error).
fn guarded<T, F: Future<Output = napi::Result<T>>>(fut: F) -> CatchUnwind<F> {
    CatchUnwind(Box::pin(fut))
}

/// Test-only: makes a named place of the binding panic once, so the tests can check that a panic
/// becomes a JavaScript error instead of aborting Node (`test/panic.test.mjs`).
///
/// Compiled only into debug builds (`make node-build`; the release addon of `make
/// node-bench-build` and of a package has none of it), and even there `testArmPanic` refuses
/// unless the process was started with `ZEROBUS_NODE_TEST_HOOKS=1`. It is not part of the
/// package's API: `index.js` does not export it.
#[cfg(debug_assertions)]
// In `cargo test` builds napi-rs registers nothing, so the export looks unused there.
#[cfg_attr(test, allow(dead_code))]
mod test_hooks {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use napi_derive::napi;

    /// The places that can be armed; `trip(place)` is called at each.
    pub(crate) const PLACES: [&str; 9] = [
        "errorCodes",
        "NativeSdk.constructor",
        "NativeSdk.createStream",
        "NativeStream.metrics",
        "NativeStream.flush",
        "NativeStream.queueBatch",
        "NativePending.wait",
        "fast.one",
        "fast.texts",
    ];

    static ANY: AtomicBool = AtomicBool::new(false);
    static ARMED: Mutex<Option<&'static str>> = Mutex::new(None);

    /// Panics if `place` is armed (and disarms it).
    pub(crate) fn trip(place: &str) {
        if !ANY.load(Ordering::Relaxed) {
            return;
        }
        let hit = {
            let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
            if *armed == Some(place) {
                *armed = None;
                ANY.store(false, Ordering::Relaxed);
                true
            } else {
                false
            }
        };
        if hit {
            panic!("test panic at {place}");
        }
    }

    /// Test-only (debug builds, `ZEROBUS_NODE_TEST_HOOKS=1`): the next call that reaches `place`
    /// panics. Throws `INVALID_ARGUMENT` when the hooks are off or `place` is unknown.
    #[napi(catch_unwind)]
    pub fn test_arm_panic(place: String) -> napi::Result<()> {
        if std::env::var("ZEROBUS_NODE_TEST_HOOKS").as_deref() != Ok("1") {
            return Err(super::invalid("test hooks are off (set ZEROBUS_NODE_TEST_HOOKS=1)"));
        }
        let place = PLACES
            .into_iter()
            .find(|p| *p == place)
            .ok_or_else(|| super::invalid(format!("unknown test place {place:?}; known: {PLACES:?}")))?;
        *ARMED.lock().unwrap_or_else(|p| p.into_inner()) = Some(place);
        ANY.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// Panics if the test hooks armed `place` (debug builds only; nothing in release builds).
#[inline(always)]
pub(crate) fn trip(place: &str) {
    #[cfg(debug_assertions)]
    test_hooks::trip(place);
    #[cfg(not(debug_assertions))]
    let _ = place;
}

/// Ack / error / barrier events for the JavaScript dispatcher: `(kind, offset, message)` with
/// kind 0 = ack, 1 = error, 2 = barrier. Weak: it never keeps the process alive by itself.
type EventFn = ThreadsafeFunction<(u32, i64, String), (), (u32, i64, String), Status, false, true>;

/// The JavaScript headers provider, wrapped by `index.js` so it always returns a promise of
/// either a flat `[name, value, name, value, …]` list or `CODE|message`. Weak, like [`EventFn`].
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
        self.tsfn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn release(&self) {
        self.tsfn.lock().unwrap_or_else(|p| p.into_inner()).take();
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
            // The barrier runs after the events queued before it, or is dropped (its sender with
            // it) when the environment goes away; either way this wait ends.
            let _ = rx.await;
        }
        self.release();
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
/// thread and bounds the whole connection attempt by `recovery_timeout_ms`; this only waits for
/// the provider's answer, or for the stream to be closed (then the wait ends with
/// `STREAM_CLOSED`, so no thread stays behind for a provider that never answers).
struct JsHeaders {
    tsfn: Mutex<Option<Arc<HeadersFn>>>,
    closed: tokio::sync::watch::Sender<bool>,
}

impl JsHeaders {
    fn new(f: HeadersFn) -> Self {
        JsHeaders { tsfn: Mutex::new(Some(Arc::new(f))), closed: tokio::sync::watch::Sender::new(false) }
    }

    /// Lets go of the JavaScript function and ends any wait for it.
    fn release(&self) {
        self.tsfn.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.closed.send_replace(true);
    }
}

impl HeadersProvider for JsHeaders {
    fn get_headers(&self) -> ZerobusResult<Vec<(String, String)>> {
        let closed = || ZerobusError::new(ErrorCode::StreamClosed, "the stream is closed");
        let f = self.tsfn.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or_else(closed)?;
        let mut gone = self.closed.subscribe();
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            ZerobusError::new(ErrorCode::Internal, "headers provider called outside the runtime")
        })?;
        let answer = handle.block_on(async {
            tokio::select! {
                answer = async {
                    let promise = f.call_async(()).await?;
                    promise.await
                } => Some(answer),
                _ = gone.wait_for(|closed| *closed) => None,
            }
        });
        match answer.ok_or_else(closed)? {
            Err(e) => Err(ZerobusError::new(
                ErrorCode::Unavailable,
                format!("the JavaScript function could not be called: {e}"),
            )),
            Ok(Either::A(flat)) => {
                if flat.len() % 2 != 0 {
                    return Err(ZerobusError::new(
                        ErrorCode::InvalidArgument,
                        "it must return [name, value] pairs",
                    ));
                }
                Ok(flat.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect())
            }
            Ok(Either::B(reply)) => {
                // `CODE|message` from `index.js`: the code the provider's error carried (one of
                // the closed list), else UNAVAILABLE, so the core's retry budget applies. The core
                // says in the message that the headers provider failed.
                let (code, message) = reply.split_once('|').unwrap_or(("", reply.as_str()));
                let code =
                    ErrorCode::ALL.into_iter().find(|c| c.as_str() == code).unwrap_or(ErrorCode::Unavailable);
                Err(ZerobusError::new(code, message))
            }
        }
    }
}

/// SDK options as `index.js` passes them.
#[napi(object)]
pub struct NativeSdkOptions {
    /// PEM texts of CA certificates to trust besides the system roots.
    pub ca_certificates_pem: Option<Vec<Buffer>>,
    /// Appended to `user-agent`.
    pub application_name: Option<String>,
}

/// Stream options as `index.js` passes them (camelCase, every field optional; defaults and
/// ranges are the core's).
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
    /// See `StreamConfigurationOptions::recovery_backoff_max_ms`.
    pub recovery_backoff_max_ms: Option<f64>,
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

/// 2^64 as a JavaScript number: the first integer an unsigned 64-bit field cannot hold.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// A JavaScript number as the core's unsigned integer field. Only the conversion is checked here:
/// a number with no value in the field's type (negative, fractional, not finite, or too large for
/// `bits` bits) is rejected, naming the option. Whether a value is in range is
/// `StreamConfigurationOptions::validate`'s call, made once in the core for every language.
fn unsigned(name: &str, v: Option<f64>, bits: u32) -> napi::Result<Option<u64>> {
    let limit = if bits >= 64 { TWO_POW_64 } else { (1u64 << bits) as f64 };
    match v {
        None => Ok(None),
        Some(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < limit => Ok(Some(x as u64)),
        Some(x) => Err(invalid(format!(
            "option {name} must be a non-negative integer that fits in {bits} bits, got {}",
            js_number(x)
        ))),
    }
}

/// A number as JavaScript would print it, near enough for a message.
fn js_number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if x.abs() >= 1e21 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

fn whole(name: &str, v: Option<f64>) -> napi::Result<Option<u64>> {
    unsigned(name, v, 64)
}

impl NativeOptions {
    fn to_core(&self) -> napi::Result<StreamConfigurationOptions> {
        let mut o = StreamConfigurationOptions::default();
        let size_bits = usize::BITS;
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        if let Some(v) = unsigned("maxInflightRequests", self.max_inflight_requests, size_bits)? {
            o.max_inflight_requests = size(v);
        }
        if let Some(v) = unsigned("maxInflightBytes", self.max_inflight_bytes, size_bits)? {
            o.max_inflight_bytes = size(v);
        }
        if let Some(v) = self.recovery {
            o.recovery = v;
        }
        for (name, value, slot) in [
            ("recoveryTimeoutMs", self.recovery_timeout_ms, &mut o.recovery_timeout_ms),
            ("recoveryBackoffMs", self.recovery_backoff_ms, &mut o.recovery_backoff_ms),
            ("recoveryBackoffMaxMs", self.recovery_backoff_max_ms, &mut o.recovery_backoff_max_ms),
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
        if let Some(v) = unsigned("recoveryRetries", self.recovery_retries, 32)? {
            o.recovery_retries = u32::try_from(v).unwrap_or(u32::MAX);
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

    /// Opens a stream. `descriptor` is a serialized `DescriptorProto` (PROTO streams); `events`
    /// receives ack/error events when set; `headers`, when set, replaces OAuth.
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
    /// when the batch is not all strings or the stream is PROTO (`queueBatch` takes those).
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
            let m = self.inner.metrics();
            Ok(NativeMetrics {
                inflight_requests: m.inflight_requests as f64,
                inflight_records: m.inflight_records as f64,
                inflight_bytes: m.inflight_bytes as f64,
                last_acked_offset: m.last_acked_offset,
                records_sent: m.records_sent as f64,
                records_resent: m.records_resent as f64,
                recoveries: m.recoveries as f64,
                token_fetches: m.token_fetches as f64,
            })
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
