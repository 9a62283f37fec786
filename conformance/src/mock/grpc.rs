//! The gRPC side: `EphemeralStream` with the real service's checks, storage, cumulative acks
//! and scripted faults.
//!
//! Each call is two halves joined by a channel: a spawned reader task validates, stores and
//! decides what to answer; [`AckStream`] is the response body, which coalesces queued acks into
//! one and applies the ack delay. The handler returns the body at once, so response headers go
//! out before the client's first message (some clients wait for them before sending).

use super::faults::{ConnFaults, ScriptedEnd};
use super::protocheck::Schema;
use super::store::{CallSink, DurableWait, StoreError, StreamInput};
use super::tablecheck;
use super::{
    lock, ConnEntry, ConnectionEnd, RecordKind, Shared, State, StoredBatch, TableData,
    MAX_CALL_PAYLOAD_BYTES, MAX_DECODING_MESSAGE_BYTES,
};
use arrow_flight::flight_service_server::FlightServiceServer;
use bytes::Bytes;
use futures_core::Stream;
use http::HeaderMap;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prost::Message;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tonic::codegen::Service as _;
use tonic::{Request, Response, Status, Streaming};
use zerobus_proto::ephemeral_stream_request::Payload;
use zerobus_proto::ingest_record_batch_request::Batch;
use zerobus_proto::ingest_record_request::Record;
use zerobus_proto::zerobus_server::{Zerobus, ZerobusServer};
use zerobus_proto::{
    ephemeral_stream_response, CloseStreamSignal, CreateIngestStreamRequest, CreateIngestStreamResponse,
    EphemeralStreamRequest, EphemeralStreamResponse, IngestRecordResponse, PersistentStreamRequest,
    PersistentStreamResponse, RecordType, RetireStreamRequest, RetireStreamResponse,
};

/// Events the reader queues for the response body; a bounded queue, so a client that stops
/// reading responses eventually stops the server from reading requests, as on a real server.
const EVENT_QUEUE: usize = 1024;

/// Accepts HTTP/2 connections until the task is aborted; aborting drops the `JoinSet`, which
/// closes every connection, which in turn ends every call's reader.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let flight = FlightServiceServer::new(super::flight::FlightSvc { shared: shared.clone() })
        .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES)
        .max_encoding_message_size(usize::MAX);
    let svc = ZerobusServer::new(ZerobusService { shared })
        .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES)
        .max_encoding_message_size(usize::MAX);
    super::accept_loop(listener, "mock gRPC", move |tcp| {
        let _ = tcp.set_nodelay(true);
        let svc = svc.clone();
        let flight = flight.clone();
        let tls = tls.clone();
        async move {
            // One endpoint: Arrow Flight calls (PROTOCOL.md §9) go to the Flight service, the
            // rest to the record stream's.
            let hyper_svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let mut svc = svc.clone();
                let mut flight = flight.clone();
                async move {
                    if req.uri().path().starts_with("/arrow.flight.protocol.FlightService/") {
                        flight.call(req).await
                    } else {
                        svc.call(req).await
                    }
                }
            });
            let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            http2
                .timer(TokioTimer::new())
                // Larger windows and frames than hyper's defaults keep bulk ingest from
                // stalling on WINDOW_UPDATE round trips.
                .initial_stream_window_size(4 << 20)
                .initial_connection_window_size(16 << 20)
                .max_frame_size(1 << 20)
                .max_send_buf_size(4 << 20);
            match tls {
                None => {
                    let _ = http2.serve_connection(TokioIo::new(tcp), hyper_svc).await;
                }
                Some(acceptor) => {
                    // A client that does not trust the certificate aborts the handshake here.
                    let Ok(stream) = acceptor.accept(tcp).await else { return };
                    let _ = http2.serve_connection(TokioIo::new(stream), hyper_svc).await;
                }
            }
        }
    })
    .await
}

struct ZerobusService {
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl Zerobus for ZerobusService {
    type EphemeralStreamStream = AckStream;

    async fn ephemeral_stream(
        &self,
        request: Request<Streaming<EphemeralStreamRequest>>,
    ) -> Result<Response<AckStream>, Status> {
        let (metadata, _, stream) = request.into_parts();
        let headers = metadata.into_headers();
        let (entry, faults, auth) = self.shared.open_call(&headers);
        let auth = match auth {
            Ok(auth) => auth,
            Err(status) => {
                entry
                    .set_end(ConnectionEnd::ServerStatus(status.code() as i32, status.message().to_string()));
                return Err(status);
            }
        };
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let token_exp_ms = if faults.expire_live { auth.exp_ms } else { None };
        let call = Call {
            token_exp_ms,
            shared: self.shared.clone(),
            entry: entry.clone(),
            faults,
            token: auth.token,
            grant: auth.grant,
            stream,
            tx,
            table: None,
            kind: RecordKind::Json,
            schema: None,
            next_offset: 0,
            messages: 0,
            close_deadline: None,
            rate: RateState { start: Instant::now(), records: 0, bytes: 0 },
            unsent_ack: None,
            sink: None,
        };
        tokio::spawn(call.run());
        let every = self.shared.config.ack_every_message;
        let durable = self.shared.config.store.as_ref().map(|store| DurableWait::new(store.durable()));
        Ok(Response::new(AckStream { rx, held: None, sleep: None, done: false, every, entry, durable }))
    }

    type PersistentStreamStream = tokio_stream::Empty<Result<PersistentStreamResponse, Status>>;

    async fn persistent_stream(
        &self,
        _request: Request<Streaming<PersistentStreamRequest>>,
    ) -> Result<Response<Self::PersistentStreamStream>, Status> {
        Err(Status::unimplemented("PersistentStream is not implemented by the mock server"))
    }

    async fn retire_stream(
        &self,
        _request: Request<RetireStreamRequest>,
    ) -> Result<Response<RetireStreamResponse>, Status> {
        Err(Status::unimplemented("RetireStream is not implemented by the mock server"))
    }
}

/// Who a bearer token speaks for.
pub(crate) struct Auth {
    pub token: String,
    /// `None` for a static token (any table); otherwise the table the token was issued for.
    pub grant: Option<Option<String>>,
    /// When an issued token expires (ms since the epoch); `None` for static tokens.
    pub exp_ms: Option<u64>,
}

/// Whether a token's grant ([`Auth::grant`]) covers `table`.
pub(crate) fn grant_allows(grant: &Option<Option<String>>, table: &str) -> bool {
    match grant {
        None => true,
        Some(granted) => granted.as_deref() == Some(table),
    }
}

impl Shared {
    /// Registers a call and checks its token, under one lock.
    pub(crate) fn open_call(
        &self,
        headers: &HeaderMap,
    ) -> (Arc<ConnEntry>, ConnFaults, Result<Auth, Status>) {
        let header =
            |name: &str| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let mut state = self.state();
        let index = state.next_connection;
        state.next_connection += 1;
        let entry = Arc::new(ConnEntry {
            index,
            table_header: header("x-databricks-zerobus-table-name"),
            authorization: header("authorization"),
            user_agent: header("user-agent"),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            messages: Default::default(),
            records: Default::default(),
            acked: i64::MIN.into(),
            opened: Default::default(),
        });
        state.connections.push(entry.clone());
        let faults = ConnFaults::resolve(&state.faults, index);
        let auth = self.authenticate(&state, entry.authorization.as_deref());
        (entry, faults, auth)
    }

    /// Checks an `authorization` header the way the service does (the gRPC service and the
    /// Unity Catalog endpoint alike): a static token, or one this server's token endpoint signed
    /// that has neither expired nor been revoked. UNAUTHENTICATED says why not.
    pub(crate) fn authenticate(&self, state: &State, authorization: Option<&str>) -> Result<Auth, Status> {
        let value = authorization.ok_or_else(|| Status::unauthenticated("missing authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <token>`"))?
            .trim();
        if state.revoked.contains(token) {
            return Err(Status::unauthenticated("token has been revoked"));
        }
        if self.static_tokens.contains(token) {
            return Ok(Auth { token: token.to_string(), grant: None, exp_ms: None });
        }
        use super::dev_token::{verify, Refused};
        match verify(self.config.token_key.as_bytes(), token) {
            Ok(claims) => {
                Ok(Auth { token: token.to_string(), grant: Some(claims.table), exp_ms: Some(claims.exp_ms) })
            }
            Err(Refused::Expired) => Err(Status::unauthenticated("access token expired; fetch a new one")),
            Err(Refused::Invalid) => Err(Status::unauthenticated(
                "invalid access token (not issued by this server's token endpoint)",
            )),
        }
    }
}

/// How a call ended, from the reader's point of view.
enum Outcome {
    HalfClosed,
    Gone,
    /// Server ends with OK.
    ServerEnd(String),
    Status(Status),
}

fn invalid(message: impl Into<String>) -> Outcome {
    Outcome::Status(Status::invalid_argument(message))
}

struct RateState {
    start: Instant,
    records: u64,
    bytes: u64,
}

/// The reader half of one call.
struct Call {
    shared: Arc<Shared>,
    entry: Arc<ConnEntry>,
    faults: ConnFaults,
    token: String,
    /// With the `expire_live_streams` fault: when the call's token expires.
    token_exp_ms: Option<u64>,
    grant: Option<Option<String>>,
    stream: Streaming<EphemeralStreamRequest>,
    tx: mpsc::Sender<Event>,
    table: Option<Arc<Mutex<TableData>>>,
    kind: RecordKind,
    schema: Option<Schema>,
    next_offset: i64,
    messages: u64,
    close_deadline: Option<Instant>,
    rate: RateState,
    /// Highest offset stored but not yet handed to the response body. Acks are cumulative, so
    /// while more requests are already waiting only the last needs sending: one channel send per
    /// burst instead of per message keeps the mock cheap next to the clients it measures.
    unsent_ack: Option<(i64, Option<u64>)>,
    /// Where accepted calls are kept, with a store ([`MockServerConfig::store`](super::MockServerConfig::store)) that keeps this table.
    sink: Option<Box<dyn CallSink>>,
}

impl Call {
    async fn run(mut self) {
        let outcome = match self.serve().await {
            Ok(never) => match never {},
            Err(outcome) => outcome,
        };
        let last = match outcome {
            Outcome::HalfClosed => {
                self.entry.set_end(ConnectionEnd::ClientHalfClosed);
                Event::End
            }
            Outcome::ServerEnd(message) => {
                self.entry.set_end(ConnectionEnd::ServerStatus(0, message));
                Event::End
            }
            Outcome::Status(status) => {
                self.entry
                    .set_end(ConnectionEnd::ServerStatus(status.code() as i32, status.message().to_string()));
                Event::Status(status)
            }
            Outcome::Gone => {
                self.entry.set_end(ConnectionEnd::ClientGone);
                return;
            }
        };
        // Queued behind every ack already decided, so those reach the client first.
        let _ = self.send(last).await;
    }

    async fn serve(&mut self) -> Result<Infallible, Outcome> {
        let first = self.next().await?.ok_or(Outcome::HalfClosed)?;
        let Some(Payload::CreateStream(create)) = first.payload else {
            return Err(invalid("the first message must be create_stream"));
        };
        self.open(create)?;
        if let Some(code) = self.faults.create_status {
            return Err(Outcome::Status(Status::new(code, "create_stream failed (scripted fault)")));
        }
        let stream_id = self.shared.unique_id("mock-stream-");
        lock(&self.entry.opened).stream_id = Some(stream_id.clone());
        self.send(Event::Created(stream_id)).await?;
        self.after_messages(0).await?;
        loop {
            let message = self.next().await?.ok_or(Outcome::HalfClosed)?;
            self.ingest(message).await?;
        }
    }

    async fn next(&mut self) -> Result<Option<EphemeralStreamRequest>, Outcome> {
        if self.close_deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Outcome::ServerEnd("stream closed after CloseStreamSignal".into()));
        }
        // A message already here is read at once; otherwise the pending ack goes out before the
        // reader waits.
        let ready = tokio::select! {
            biased;
            r = self.stream.message() => Some(r),
            () = std::future::ready(()) => None,
        };
        let result = match ready {
            Some(r) => r,
            None => {
                self.flush_ack().await?;
                match self.close_deadline {
                    Some(deadline) => tokio::select! {
                        r = self.stream.message() => r,
                        _ = tokio::time::sleep_until(deadline) => {
                            return Err(Outcome::ServerEnd("stream closed after CloseStreamSignal".into()));
                        }
                    },
                    None => self.stream.message().await,
                }
            }
        };
        result.map_err(|status| {
            // Transport failures carry their cause; decoding failures tonic makes itself don't.
            if std::error::Error::source(&status).is_some() {
                Outcome::Gone
            } else {
                invalid(format!("undecodable request: {}", status.message()))
            }
        })
    }

    /// Queues `event` for the response body, after any ack not sent yet.
    async fn send(&mut self, event: Event) -> Result<(), Outcome> {
        self.flush_ack().await?;
        self.tx.send(event).await.map_err(|_| Outcome::Gone)
    }

    async fn flush_ack(&mut self) -> Result<(), Outcome> {
        match self.unsent_ack.take() {
            Some((offset, position)) => {
                self.tx.send(Event::Ack { offset, due: None, position }).await.map_err(|_| Outcome::Gone)
            }
            None => Ok(()),
        }
    }

    /// The real service's checks on `create_stream`, in its order.
    fn open(&mut self, create: CreateIngestStreamRequest) -> Result<(), Outcome> {
        {
            let mut opened = lock(&self.entry.opened);
            opened.table = create.table_name.clone();
            opened.record_type = create.record_type;
        }
        let table = create.table_name.ok_or_else(|| invalid("create_stream has no table_name"))?;
        let parts: Vec<&str> = table.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(invalid(format!(
                "table_name {table:?} is not a three-part name catalog.schema.table"
            )));
        }
        let store = self
            .shared
            .tables
            .get(&table)
            .ok_or_else(|| Outcome::Status(Status::not_found(format!("table {table} does not exist"))))?;
        match &self.entry.table_header {
            Some(h) if *h == table => {}
            Some(h) => {
                return Err(invalid(format!(
                    "header x-databricks-zerobus-table-name {h:?} does not match table_name {table:?}"
                )))
            }
            None => return Err(invalid("missing header x-databricks-zerobus-table-name")),
        }
        if !grant_allows(&self.grant, &table) {
            return Err(Outcome::Status(Status::permission_denied(format!(
                "the access token was not issued for table {table}"
            ))));
        }
        match create.record_type.map(RecordType::try_from) {
            Some(Ok(RecordType::Json)) => {
                self.kind = RecordKind::Json;
                self.sink = self.open_sink(&table, StreamInput::Json)?;
            }
            Some(Ok(RecordType::Proto)) => {
                let bytes = create
                    .descriptor_proto
                    .ok_or_else(|| invalid("a PROTO stream needs descriptor_proto"))?;
                let descriptor = prost_types::DescriptorProto::decode(bytes).map_err(|e| {
                    invalid(format!("descriptor_proto is not a google.protobuf.DescriptorProto: {e}"))
                })?;
                let mut schema =
                    Schema::new(&descriptor).map_err(|e| invalid(format!("descriptor_proto: {e}")))?;
                if let Some(declared) = self.shared.schemas.get(&table) {
                    // A table with known columns: the descriptor must fit them, and records are
                    // then checked against the table's NOT NULL columns too.
                    let forced = tablecheck::check(&declared.schema, &descriptor)
                        .map_err(|mismatch| Outcome::Status(mismatch.status()))?;
                    schema = Schema::new(&forced).map_err(|e| invalid(format!("descriptor_proto: {e}")))?;
                }
                self.schema = Some(schema);
                self.kind = RecordKind::Proto;
                self.sink = self.open_sink(&table, StreamInput::Proto(&descriptor))?;
            }
            other => {
                return Err(invalid(format!(
                    "record_type {:?} is not supported; use PROTO or JSON",
                    other.map(|r| r.map(|r| r.as_str_name()).unwrap_or("unknown"))
                )))
            }
        }
        self.table = Some(store.clone());
        Ok(())
    }

    /// The store's sink for this stream's table, when there is a store and it keeps the table.
    fn open_sink(&self, table: &str, input: StreamInput<'_>) -> Result<Option<Box<dyn CallSink>>, Outcome> {
        match &self.shared.config.store {
            Some(store) => store.open(table, input).map_err(invalid),
            None => Ok(None),
        }
    }

    async fn ingest(&mut self, message: EphemeralStreamRequest) -> Result<(), Outcome> {
        if self.token_exp_ms.is_some_and(|exp| super::dev_token::now_ms() >= exp) {
            return Err(Outcome::Status(Status::unauthenticated(
                "access token expired on a live stream; fetch a new one",
            )));
        }
        self.messages += 1;
        self.entry.messages.fetch_add(1, Ordering::Relaxed);
        let (offset, batched, kind, records) = match message.payload {
            Some(Payload::IngestRecord(r)) => {
                let (kind, record) = match r.record {
                    Some(Record::JsonRecord(s)) => (Some(RecordKind::Json), Bytes::from(s)),
                    Some(Record::ProtoEncodedRecord(b)) => (Some(RecordKind::Proto), b),
                    Some(Record::AvroEncodedRecord(b)) => (None, b),
                    None => return Err(invalid("ingest_record carries no record")),
                };
                (r.offset_id, false, kind, vec![record])
            }
            Some(Payload::IngestRecordBatch(b)) => {
                let (kind, records) = match b.batch {
                    Some(Batch::JsonBatch(j)) => {
                        (Some(RecordKind::Json), j.records.into_iter().map(Bytes::from).collect())
                    }
                    Some(Batch::ProtoEncodedBatch(p)) => (Some(RecordKind::Proto), p.records),
                    Some(Batch::AvroBatch(a)) => (None, a.records),
                    None => return Err(invalid("ingest_record_batch carries no batch")),
                };
                (b.offset_id, true, kind, records)
            }
            Some(Payload::CreateStream(_)) => return Err(invalid("create_stream sent twice on one stream")),
            None => return Err(invalid("request has no payload")),
        };
        let offset = offset.ok_or_else(|| invalid("ingest request has no offset_id"))?;
        if offset != self.next_offset {
            return Err(invalid(format!(
                "offset_id out of order: expected {}, got {offset}",
                self.next_offset
            )));
        }
        if kind != Some(self.kind) {
            let got = match kind {
                Some(RecordKind::Json) => "JSON",
                Some(RecordKind::Proto) => "proto",
                None => "Avro",
            };
            return Err(invalid(format!(
                "record type mismatch: the stream is {}, got {got} records at offset {offset}",
                if self.kind == RecordKind::Json { "JSON" } else { "PROTO" }
            )));
        }
        if records.is_empty() {
            return Err(invalid(format!("empty batch at offset {offset}")));
        }
        let bytes: usize = records.iter().map(Bytes::len).sum();
        if bytes > MAX_CALL_PAYLOAD_BYTES {
            return Err(invalid(format!(
                "ingest call at offset {offset} carries {bytes} bytes of records, more than the \
                 limit of {MAX_CALL_PAYLOAD_BYTES}"
            )));
        }
        match &self.schema {
            None => {
                for (i, record) in records.iter().enumerate() {
                    check_json_object(record).map_err(|e| {
                        invalid(format!("record {i} at offset {offset} is not a JSON object: {e}"))
                    })?;
                }
            }
            Some(schema) => {
                for (i, record) in records.iter().enumerate() {
                    schema.validate(record).map_err(|e| {
                        invalid(format!("record {i} at offset {offset} does not match the descriptor: {e}"))
                    })?;
                }
            }
        }

        // Stored before it is counted: a call the store refuses is not accepted.
        let position = match &mut self.sink {
            Some(sink) => Some(sink.append_records(&records).map_err(store_refused)?),
            None => None,
        };
        let count = records.len() as u64;
        self.entry.records.fetch_add(count, Ordering::Relaxed);
        if let Some(table) = &self.table {
            let mut data = lock(table);
            data.records += count;
            data.bytes += bytes as u64;
            if self.shared.config.ledger {
                for record in &records {
                    data.ledger.add(record);
                }
            }
            if self.shared.config.keep_payloads {
                data.batches.push(StoredBatch {
                    connection: self.entry.index,
                    wire_offset: offset,
                    batched,
                    kind: self.kind,
                    payloads: records,
                });
            }
        }
        self.next_offset += 1;

        self.throttle(count, bytes as u64).await?;
        if self.faults.withhold_after.is_none_or(|n| self.messages <= n) {
            match self.faults.ack_delay {
                None if !self.shared.config.ack_every_message => self.unsent_ack = Some((offset, position)),
                None => self.send(Event::Ack { offset, due: None, position }).await?,
                Some(d) => self.send(Event::Ack { offset, due: Some(Instant::now() + d), position }).await?,
            }
        }
        self.after_messages(self.messages).await
    }

    /// Sleeps until the stream is back under its quota, so the client sees the server read
    /// (and ack) slower, as with the real service's per-stream limits.
    async fn throttle(&mut self, records: u64, bytes: u64) -> Result<(), Outcome> {
        if self.faults.records_per_sec.is_none() && self.faults.bytes_per_sec.is_none() {
            return Ok(());
        }
        self.rate.records += records;
        self.rate.bytes += bytes;
        let mut wait = Duration::ZERO;
        if let Some(rps) = self.faults.records_per_sec {
            wait = wait.max(Duration::from_secs_f64(self.rate.records as f64 / rps as f64));
        }
        if let Some(bps) = self.faults.bytes_per_sec {
            wait = wait.max(Duration::from_secs_f64(self.rate.bytes as f64 / bps as f64));
        }
        let until = self.rate.start + wait;
        if until > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                // The response side is gone (client left or server stopping): don't linger.
                _ = self.tx.closed() => return Err(Outcome::Gone),
            }
        }
        Ok(())
    }

    /// Scripted faults that fire once `messages` ingest messages have been accepted.
    async fn after_messages(&mut self, messages: u64) -> Result<(), Outcome> {
        if let Some((n, duration)) = self.faults.close_after {
            if n == messages && self.close_deadline.is_none() {
                self.send(Event::Close(duration)).await?;
                self.close_deadline = Some(Instant::now() + duration);
            }
        }
        match self.faults.end_after(messages) {
            None => Ok(()),
            Some(ScriptedEnd::Clean(why)) => Err(Outcome::ServerEnd(why)),
            Some(ScriptedEnd::Status(status)) => Err(Outcome::Status(status)),
            Some(ScriptedEnd::RevokeToken(status)) => {
                self.shared.state().revoked.insert(self.token.clone());
                Err(Outcome::Status(status))
            }
        }
    }
}

/// The JSON check the service does: the record is one JSON object. Parsing into `IgnoredAny`
/// checks the syntax without building a value.
/// A call the store did not take: a record that does not fit the table is the caller's to fix;
/// a store that cannot write ends the stream retryably.
fn store_refused(e: StoreError) -> Outcome {
    match e {
        StoreError::Invalid(message) => invalid(message),
        StoreError::Failed(message) => Outcome::Status(Status::unavailable(format!(
            "the server could not store the call: {message}; retry on a new stream"
        ))),
    }
}

fn check_json_object(record: &[u8]) -> Result<(), String> {
    match record.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        _ => return Err("not an object".into()),
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(record).map(|_| ()).map_err(|e| e.to_string())
}

/// What the reader asks the response body to send.
enum Event {
    Created(String),
    /// `due`: not before this instant (ack delay); dues never decrease, so order holds.
    /// `position`: not before the store has it durable; positions never decrease either.
    Ack {
        offset: i64,
        due: Option<Instant>,
        position: Option<u64>,
    },
    Close(Duration),
    Status(Status),
    /// End the call with OK.
    End,
}

/// Response body of one call. Each poll drains every ack that is ready and sends only the
/// highest (acks are cumulative), so a fast client gets few acks and the server stays cheap.
pub(crate) struct AckStream {
    rx: mpsc::Receiver<Event>,
    /// An event taken from the queue but not sent yet.
    held: Option<Event>,
    sleep: Option<Pin<Box<Sleep>>>,
    done: bool,
    /// `MockServerConfig::ack_every_message`: no coalescing.
    every: bool,
    entry: Arc<ConnEntry>,
    /// With a store: waits for an ack's position to be durable.
    durable: Option<DurableWait>,
}

impl AckStream {
    fn ack(&self, offset: i64) -> Poll<Option<Result<EphemeralStreamResponse, Status>>> {
        self.entry.acked.store(offset, Ordering::Relaxed);
        Poll::Ready(Some(Ok(response(ephemeral_stream_response::Payload::IngestRecordResponse(
            IngestRecordResponse { durability_ack_up_to_offset: Some(offset) },
        )))))
    }
}

fn response(payload: ephemeral_stream_response::Payload) -> EphemeralStreamResponse {
    EphemeralStreamResponse { payload: Some(payload) }
}

impl Stream for AckStream {
    type Item = Result<EphemeralStreamResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut best: Option<i64> = None;
        loop {
            let event = match this.held.take() {
                Some(event) => event,
                None => match this.rx.poll_recv(cx) {
                    Poll::Ready(Some(event)) => event,
                    // The reader always queues a last event unless the client is gone.
                    Poll::Ready(None) => {
                        if let Some(offset) = best {
                            return this.ack(offset);
                        }
                        this.done = true;
                        return Poll::Ready(None);
                    }
                    Poll::Pending => {
                        return match best {
                            Some(offset) => this.ack(offset),
                            None => Poll::Pending,
                        }
                    }
                },
            };
            match event {
                Event::Ack { offset, due, position } => {
                    if let Some(due) = due {
                        if due > Instant::now() {
                            if let Some(ready) = best {
                                this.held = Some(Event::Ack { offset, due: Some(due), position });
                                return this.ack(ready);
                            }
                            let sleep = match &mut this.sleep {
                                Some(sleep) => {
                                    if sleep.deadline() != due {
                                        sleep.as_mut().reset(due);
                                    }
                                    sleep
                                }
                                None => this.sleep.insert(Box::pin(tokio::time::sleep_until(due))),
                            };
                            if sleep.as_mut().poll(cx).is_pending() {
                                this.held = Some(Event::Ack { offset, due: Some(due), position });
                                return Poll::Pending;
                            }
                        }
                    }
                    if let (Some(position), Some(wait)) = (position, this.durable.as_mut()) {
                        match wait.poll(position, cx) {
                            Poll::Ready(Ok(())) => {}
                            Poll::Ready(Err(why)) => {
                                this.done = true;
                                return Poll::Ready(Some(Err(Status::unavailable(format!(
                                    "the server could not make the call at offset {offset} durable: {why}"
                                )))));
                            }
                            Poll::Pending => {
                                // Acks are cumulative: one already durable goes out meanwhile.
                                this.held = Some(Event::Ack { offset, due: None, position: Some(position) });
                                return match best {
                                    Some(ready) => this.ack(ready),
                                    None => Poll::Pending,
                                };
                            }
                        }
                    }
                    if this.every {
                        return this.ack(offset);
                    }
                    best = Some(offset);
                }
                other => {
                    if let Some(offset) = best {
                        this.held = Some(other);
                        return this.ack(offset);
                    }
                    return Poll::Ready(match other {
                        Event::Created(stream_id) => {
                            Some(Ok(response(ephemeral_stream_response::Payload::CreateStreamResponse(
                                CreateIngestStreamResponse { stream_id: Some(stream_id) },
                            ))))
                        }
                        Event::Close(duration) => Some(Ok(response(
                            ephemeral_stream_response::Payload::CloseStreamSignal(CloseStreamSignal {
                                duration: Some(prost_types::Duration {
                                    seconds: duration.as_secs() as i64,
                                    nanos: duration.subsec_nanos() as i32,
                                }),
                            }),
                        ))),
                        Event::Status(status) => {
                            this.done = true;
                            Some(Err(status))
                        }
                        Event::End => {
                            this.done = true;
                            None
                        }
                        Event::Ack { .. } => unreachable!("acks are handled above"),
                    });
                }
            }
        }
    }
}
