//! Conformance testee for the Rust core (see `conformance/TESTEE.md`): one request per stdin
//! line, one response per stdout line, no logic beyond mapping requests to public API calls.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prost::Message;
use serde_json::{json, Value};
use zerobus_conformance::records::{json_record, proto_record};
use zerobus_conformance::runner::{hex, unhex};
use zerobus_core::{
    AckCallback, ArrowStreamConfigurationOptions, ArrowTableProperties, ErrorCode, HeadersProvider,
    RecordRef, RecordType, StreamConfigurationOptions, StreamMetrics, TableProperties, ZerobusArrowStream,
    ZerobusError, ZerobusResult, ZerobusSdk, ZerobusStream,
};

/// Records every callback, and counts those that run after `close()` returned.
#[derive(Default)]
struct Recorded {
    acks: Mutex<Vec<i64>>,
    errors: Mutex<Vec<i64>>,
    closed: AtomicBool,
    late: AtomicU64,
}

impl Recorded {
    fn note(&self) {
        if self.closed.load(Ordering::SeqCst) {
            self.late.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl AckCallback for Recorded {
    fn on_ack(&self, offset: i64) {
        self.note();
        self.acks.lock().unwrap().push(offset);
    }
    fn on_error(&self, offset: i64, _message: &str) {
        self.note();
        self.errors.lock().unwrap().push(offset);
    }
}

struct FixedHeaders {
    headers: Vec<(String, String)>,
    /// Fail every call with this code and message instead.
    fail: Option<(ErrorCode, String)>,
    calls: Mutex<u64>,
}

impl HeadersProvider for FixedHeaders {
    fn get_headers(&self) -> ZerobusResult<Vec<(String, String)>> {
        *self.calls.lock().unwrap() += 1;
        match &self.fail {
            Some((code, message)) => Err(ZerobusError::new(*code, message.clone())),
            None => Ok(self.headers.clone()),
        }
    }
}

#[derive(Default)]
struct Testee {
    stream: Option<ZerobusStream>,
    /// The Arrow stream, when it was created last (the stream ops then act on it).
    arrow: Option<ZerobusArrowStream>,
    callbacks: Arc<Recorded>,
    headers: Option<Arc<FixedHeaders>>,
}

fn error_json(e: &ZerobusError) -> Value {
    json!({"code": e.code().as_str(), "grpc_status": e.grpc_status(), "retryable": e.is_retryable(),
           "message": e.message()})
}

fn bad(message: impl Into<String>) -> ZerobusError {
    ZerobusError::new(zerobus_core::ErrorCode::InvalidArgument, message)
}

impl Testee {
    fn stream(&self) -> ZerobusResult<&ZerobusStream> {
        self.stream.as_ref().ok_or_else(|| bad("no stream was created"))
    }

    fn arrow(&self) -> ZerobusResult<&ZerobusArrowStream> {
        self.arrow.as_ref().ok_or_else(|| bad("no Arrow stream was created"))
    }

    async fn wait_for_offset(&self, offset: i64) -> ZerobusResult<()> {
        match &self.arrow {
            Some(a) => a.wait_for_offset(offset).await,
            None => self.stream()?.wait_for_offset(offset).await,
        }
    }

    async fn flush(&self) -> ZerobusResult<()> {
        match &self.arrow {
            Some(a) => a.flush().await,
            None => self.stream()?.flush().await,
        }
    }

    async fn close(&self) -> ZerobusResult<()> {
        match &self.arrow {
            Some(a) => a.close().await,
            None => self.stream()?.close().await,
        }
    }

    fn is_closed(&self) -> ZerobusResult<bool> {
        match &self.arrow {
            Some(a) => Ok(a.is_closed()),
            None => Ok(self.stream()?.is_closed()),
        }
    }

    fn metrics(&self) -> ZerobusResult<StreamMetrics> {
        match &self.arrow {
            Some(a) => Ok(a.metrics()),
            None => Ok(self.stream()?.metrics()),
        }
    }

    async fn handle(&mut self, req: &Value) -> ZerobusResult<Value> {
        match req["op"].as_str().unwrap_or_default() {
            "create_stream" => self.create(req).await,
            "create_arrow_stream" => self.create_arrow(req).await,
            "ingest_arrow" => {
                let ipc =
                    bytes::Bytes::from(unhex(req["ipc_hex"].as_str().unwrap_or_default()).map_err(bad)?);
                let stream = self.arrow()?;
                let offset = if req["form"] == "native" {
                    // The Rust form: decoded into RecordBatches, one call for all of them.
                    let reader = zerobus_core::arrow_ipc::reader::StreamReader::try_new(
                        std::io::Cursor::new(ipc),
                        None,
                    )
                    .map_err(|e| bad(e.to_string()))?;
                    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| bad(e.to_string()))?;
                    stream.ingest_batches(&batches).await?
                } else {
                    stream.ingest_ipc_batch(ipc).await?
                };
                Ok(json!({"offset": offset}))
            }
            "arrow_unacked" => Ok(json!({"ipc_hex": hex(&self.arrow()?.get_unacked_ipc()?)})),
            "table_schema" => self.table_schema(req).await,
            "ingest" => self.ingest(req).await,
            "ingest_empty_batch" => {
                let none: [&[u8]; 0] = [];
                let offset = self.stream()?.ingest_records_offset(none).await?;
                Ok(json!({"offsets": [offset]}))
            }
            "ingest_raw" => self.ingest_raw(req).await,
            "wait_for_offset" => {
                self.wait_for_offset(req["offset"].as_i64().unwrap_or(-1)).await?;
                Ok(json!({}))
            }
            "flush" => self.flush().await.map(|_| json!({})),
            "close" => {
                let result = self.close().await;
                self.callbacks.closed.store(true, Ordering::SeqCst);
                result.map(|_| json!({}))
            }
            "ingest_concurrent" => self.ingest_concurrent(req).await,
            "is_closed" => Ok(json!({"closed": self.is_closed()?})),
            "unacked" => {
                let proto = self.stream()?.record_type() == RecordType::Proto;
                let batches: Vec<Vec<String>> = self
                    .stream()?
                    .get_unacked_batches()
                    .iter()
                    .map(|b| {
                        b.iter()
                            .map(|r| if proto { hex(r) } else { String::from_utf8_lossy(r).into_owned() })
                            .collect()
                    })
                    .collect();
                Ok(json!({"batches": batches}))
            }
            "metrics" => {
                let m = self.metrics()?;
                Ok(json!({"metrics": {
                    "inflight_requests": m.inflight_requests, "inflight_records": m.inflight_records,
                    "inflight_bytes": m.inflight_bytes, "last_acked_offset": m.last_acked_offset,
                    "records_sent": m.records_sent, "records_resent": m.records_resent,
                    "recoveries": m.recoveries, "token_fetches": m.token_fetches}}))
            }
            "callbacks" => Ok(json!({"acks": *self.callbacks.acks.lock().unwrap(),
                                     "errors": *self.callbacks.errors.lock().unwrap(),
                                     "late": self.callbacks.late.load(Ordering::SeqCst)})),
            "headers_provider_calls" => {
                Ok(json!({"count": self.headers.as_ref().map_or(0, |h| *h.calls.lock().unwrap())}))
            }
            other => Err(bad(format!("unknown op {other:?}"))),
        }
    }

    /// The SDK a `create_stream` or `table_schema` request describes.
    fn sdk(req: &Value) -> ZerobusResult<ZerobusSdk> {
        let mut builder = ZerobusSdk::builder()
            .endpoint(req["endpoint"].as_str().unwrap_or_default())
            .workspace_url(req["workspace_url"].as_str().unwrap_or_default());
        if let Some(pem) = req["ca_pem"].as_str() {
            builder = builder.add_ca_certificate_pem(pem);
        }
        if let Some(app) = req["application_name"].as_str() {
            builder = builder.application_name(app);
        }
        builder.build()
    }

    /// The headers provider an `auth` of kind `headers` describes (kept to count its calls).
    fn headers_provider(&mut self, auth: &Value) -> Arc<FixedHeaders> {
        let headers = auth["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| (h[0].as_str().unwrap_or_default().into(), h[1].as_str().unwrap_or_default().into()))
            .collect();
        let fail = auth["fail"].as_object().map(|f| {
            let name = f.get("code").and_then(Value::as_str).unwrap_or_default();
            let code = ErrorCode::ALL.into_iter().find(|c| c.as_str() == name).unwrap_or(ErrorCode::Internal);
            (code, f.get("message").and_then(Value::as_str).unwrap_or_default().to_owned())
        });
        let provider = Arc::new(FixedHeaders { headers, fail, calls: Mutex::new(0) });
        self.headers = Some(provider.clone());
        provider
    }

    async fn table_schema(&mut self, req: &Value) -> ZerobusResult<Value> {
        let sdk = Self::sdk(req)?;
        let table = req["table"].as_str().unwrap_or_default();
        let auth = &req["auth"];
        let schema = if auth["kind"] == "headers" {
            sdk.get_table_schema_with_headers_provider(table, self.headers_provider(auth)).await?
        } else {
            let (id, secret) = (
                auth["client_id"].as_str().unwrap_or_default(),
                auth["client_secret"].as_str().unwrap_or_default(),
            );
            sdk.get_table_schema(table, id, secret).await?
        };
        let columns: Vec<Value> = schema
            .columns
            .iter()
            .map(|c| {
                json!({"name": c.name, "type": c.data_type.to_string(), "nullable": c.nullable, "position": c.position})
            })
            .collect();
        let descriptor = zerobus_core::schema::descriptor(&schema).map_err(|e| bad(e.to_string()))?;
        Ok(json!({"columns": columns, "descriptor_hex": hex(&descriptor.encode_to_vec())}))
    }

    async fn create_arrow(&mut self, req: &Value) -> ZerobusResult<Value> {
        let sdk = Self::sdk(req)?;
        let o = &req["options"];
        // The options both stream kinds share, read once; then the Arrow ones.
        let s = self.stream_options(o);
        let mut options = ArrowStreamConfigurationOptions {
            max_inflight_bytes: s.max_inflight_bytes,
            recovery: s.recovery,
            recovery_timeout_ms: s.recovery_timeout_ms,
            recovery_backoff_ms: s.recovery_backoff_ms,
            recovery_backoff_max_ms: s.recovery_backoff_max_ms,
            recovery_retries: s.recovery_retries,
            server_lack_of_ack_timeout_ms: s.server_lack_of_ack_timeout_ms,
            flush_timeout_ms: s.flush_timeout_ms,
            stream_paused_max_wait_time_ms: s.stream_paused_max_wait_time_ms,
            callback_max_wait_time_ms: s.callback_max_wait_time_ms,
            ack_callback: s.ack_callback,
            ..Default::default()
        };
        if let Some(v) = o["max_inflight_batches"].as_u64() {
            options.max_inflight_batches = v as usize;
        }
        if let Some(v) = o["connection_timeout_ms"].as_u64() {
            options.connection_timeout_ms = v;
        }
        if let Some(v) = o["ipc_compression"].as_str() {
            options.ipc_compression = v.parse()?;
        }
        let name = req["table"].as_str().unwrap_or_default();
        let table = match req["schema_hex"].as_str() {
            Some(h) => {
                ArrowTableProperties::new(name, zerobus_core::schema_from_ipc(&unhex(h).map_err(bad)?)?)
            }
            None => ArrowTableProperties::from_table(name),
        };
        let auth = &req["auth"];
        let stream = if auth["kind"] == "headers" {
            let provider = self.headers_provider(auth);
            sdk.create_arrow_stream_with_headers_provider(table, provider, options).await?
        } else {
            sdk.create_arrow_stream(
                table,
                auth["client_id"].as_str().unwrap_or_default(),
                auth["client_secret"].as_str().unwrap_or_default(),
                options,
            )
            .await?
        };
        self.arrow = Some(stream);
        Ok(json!({}))
    }

    /// Record-stream options from a request's `options` (PROTOCOL.md §6 names).
    fn stream_options(&self, o: &Value) -> StreamConfigurationOptions {
        let mut options = StreamConfigurationOptions::default();
        let u64_opt = |k: &str| o[k].as_u64();
        if let Some(v) = u64_opt("max_inflight_requests") {
            options.max_inflight_requests = v as usize;
        }
        if let Some(v) = u64_opt("max_inflight_bytes") {
            options.max_inflight_bytes = v as usize;
        }
        if let Some(v) = o["recovery"].as_bool() {
            options.recovery = v;
        }
        for (key, slot) in [
            ("recovery_timeout_ms", &mut options.recovery_timeout_ms),
            ("recovery_backoff_ms", &mut options.recovery_backoff_ms),
            ("recovery_backoff_max_ms", &mut options.recovery_backoff_max_ms),
            ("server_lack_of_ack_timeout_ms", &mut options.server_lack_of_ack_timeout_ms),
            ("flush_timeout_ms", &mut options.flush_timeout_ms),
        ] {
            if let Some(v) = u64_opt(key) {
                *slot = v;
            }
        }
        if let Some(v) = u64_opt("recovery_retries") {
            options.recovery_retries = v as u32;
        }
        if let Some(v) = u64_opt("stream_paused_max_wait_time_ms") {
            options.stream_paused_max_wait_time_ms = Some(v);
        }
        if let Some(v) = u64_opt("callback_max_wait_time_ms") {
            options.callback_max_wait_time_ms = Some(v);
        }
        if o["ack_callback"].as_bool() == Some(true) {
            options.ack_callback = Some(self.callbacks.clone());
        }
        options
    }

    async fn create(&mut self, req: &Value) -> ZerobusResult<Value> {
        let sdk = Self::sdk(req)?;
        let mut options = self.stream_options(&req["options"]);
        let mut table = TableProperties::new(req["table"].as_str().unwrap_or_default());
        if req["record_type"] == "proto" {
            options.record_type = RecordType::Proto;
            // No descriptor: the stream is created from the table (core reads its schema).
            if let Some(hex) = req["descriptor_hex"].as_str() {
                let bytes = unhex(hex).map_err(bad)?;
                table.descriptor_proto = Some(
                    prost_types::DescriptorProto::decode(bytes.as_slice()).map_err(|e| bad(e.to_string()))?,
                );
            }
        } else {
            options.record_type = RecordType::Json;
        }
        let auth = &req["auth"];
        let stream = if auth["kind"] == "headers" {
            let provider = self.headers_provider(auth);
            sdk.create_stream_with_headers_provider(table, provider, options).await?
        } else {
            sdk.create_stream(
                table,
                auth["client_id"].as_str().unwrap_or_default(),
                auth["client_secret"].as_str().unwrap_or_default(),
                options,
            )
            .await?
        };
        self.stream = Some(stream);
        self.arrow = None;
        Ok(json!({}))
    }

    async fn ingest(&self, req: &Value) -> ZerobusResult<Value> {
        let stream = self.stream()?;
        let offsets = produce(stream, req, req["seed"].as_u64().unwrap_or(1)).await?;
        Ok(json!({"offsets": offsets}))
    }

    /// `producers` futures ingest at once on the one stream, producer `k` with seed `seed + k`.
    async fn ingest_concurrent(&self, req: &Value) -> ZerobusResult<Value> {
        let stream = self.stream()?;
        let seed = req["seed"].as_u64().unwrap_or(1);
        let producers = (0..req["producers"].as_u64().unwrap_or(1)).map(|k| produce(stream, req, seed + k));
        let results = join_all(producers).await;
        let offsets = results.into_iter().collect::<ZerobusResult<Vec<_>>>()?;
        Ok(json!({"offsets": offsets}))
    }

    async fn ingest_raw(&self, req: &Value) -> ZerobusResult<Value> {
        let stream = self.stream()?;
        let texts: Vec<String> = req["records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r.as_str().unwrap_or_default().to_owned())
            .collect();
        let bytes: Vec<Vec<u8>> = if req["kind"] == "proto" {
            texts.iter().map(|t| unhex(t)).collect::<Result<_, _>>().map_err(bad)?
        } else {
            Vec::new()
        };
        let refs: Vec<RecordRef<'_>> = if req["kind"] == "proto" {
            bytes.iter().map(|b| RecordRef::Proto(b)).collect()
        } else {
            texts.iter().map(|t| RecordRef::Json(t)).collect()
        };
        let mut offsets = Vec::new();
        if req["batch"].as_bool() == Some(true) {
            offsets.push(stream.ingest_records_offset(refs).await?);
        } else {
            for r in refs {
                offsets.push(Some(stream.ingest_record_offset(r).await?));
            }
        }
        Ok(json!({"offsets": offsets}))
    }
}

/// Ingests records `start..start+count` of `seed` in calls of `batch`, as one producer; returns
/// the offsets (none in `nowait` mode).
async fn produce(stream: &ZerobusStream, req: &Value, seed: u64) -> ZerobusResult<Vec<Option<i64>>> {
    let (start, count, size) = (
        req["start"].as_u64().unwrap_or(0),
        req["count"].as_u64().unwrap_or(0),
        req["size"].as_u64().unwrap_or(100) as usize,
    );
    let batch = req["batch"].as_u64().unwrap_or(1).max(1);
    let mode = req["mode"].as_str().unwrap_or("offset");
    let proto = stream.record_type() == RecordType::Proto;
    let make = |i: u64| -> Vec<u8> {
        if proto {
            proto_record(seed, i, size)
        } else {
            json_record(seed, i, size).into_bytes()
        }
    };
    fn as_ref(proto: bool, r: &[u8]) -> RecordRef<'_> {
        if proto {
            RecordRef::Proto(r)
        } else {
            RecordRef::Json(std::str::from_utf8(r).unwrap_or_default())
        }
    }
    let mut offsets = Vec::new();
    let mut i = start;
    while i < start + count {
        let end = (i + batch).min(start + count);
        let records: Vec<Vec<u8>> = (i..end).map(make).collect();
        let offset = match (batch, mode) {
            (1, "offset") => Some(stream.ingest_record_offset(as_ref(proto, &records[0])).await?),
            (1, "try") => Some(stream.try_ingest_record_offset(as_ref(proto, &records[0]))?),
            (1, _) => {
                stream.ingest_record_nowait(as_ref(proto, &records[0])).await?;
                None
            }
            (_, "offset") => stream.ingest_records_offset(records.iter().map(|r| as_ref(proto, r))).await?,
            (_, "try") => stream.try_ingest_records_offset(records.iter().map(|r| as_ref(proto, r)))?,
            _ => {
                stream.ingest_records_nowait(records.iter().map(|r| as_ref(proto, r))).await?;
                None
            }
        };
        if mode != "nowait" {
            offsets.push(offset);
        }
        i = end;
    }
    Ok(offsets)
}

/// Polls futures concurrently on this task (no spawning: they borrow the stream).
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, f) in pending.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("every future finished")).collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let mut testee = Testee::default();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let req: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("testee-rust: bad request line: {e}");
                continue;
            }
        };
        if req["op"] == "quit" {
            break;
        }
        let mut reply = match runtime.block_on(testee.handle(&req)) {
            Ok(v) => {
                let mut v = v;
                v["ok"] = json!(true);
                v
            }
            Err(e) => json!({"ok": false, "error": error_json(&e)}),
        };
        reply["id"] = req["id"].clone();
        if writeln!(stdout, "{reply}").and_then(|_| stdout.flush()).is_err() {
            break;
        }
    }
    // Close explicitly so a stream left open by a case is shut down before the runtime goes.
    if let Some(stream) = testee.stream.take() {
        let _ = runtime.block_on(stream.close());
    }
}
