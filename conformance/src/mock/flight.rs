//! Arrow Flight `DoPut` (PROTOCOL.md §9), served on the gRPC listener next to the record
//! stream, with the same token, table and fault handling.
//!
//! The first `FlightData` is the schema message; once it is accepted (checked against the
//! table's Arrow schema when the table declares its columns) the server sends the ready signal
//! `{"ack_up_to_offset": -1, "ack_up_to_records": 0}`. Every later `FlightData` is one record
//! batch with `app_metadata` `{"offset_id": N}`, N counting from 0 on the connection; each stored
//! batch is answered `{"ack_up_to_offset": N, "ack_up_to_records": <rows so far>}`.

use super::faults::{ConnFaults, ScriptedEnd};
use super::grpc::grant_allows;
use super::store::{until_durable, CallSink, StoreError, StreamInput};
use super::tablecheck::{Cause, Mismatch, Problem};
use super::{lock, ConnEntry, ConnectionEnd, Shared, StoredArrow, TableData};
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// The Flight service; only `DoPut` is real.
pub(crate) struct FlightSvc {
    pub shared: Arc<Shared>,
}

type Unimpl<T> = tokio_stream::Empty<Result<T, Status>>;

fn unimplemented<T>(what: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!("{what} is not implemented by the mock server; use DoPut")))
}

#[tonic::async_trait]
impl FlightService for FlightSvc {
    type HandshakeStream = Unimpl<HandshakeResponse>;
    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        unimplemented("Handshake")
    }

    type ListFlightsStream = Unimpl<FlightInfo>;
    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        unimplemented("ListFlights")
    }

    async fn get_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        unimplemented("GetFlightInfo")
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        unimplemented("PollFlightInfo")
    }

    async fn get_schema(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        unimplemented("GetSchema")
    }

    type DoGetStream = Unimpl<FlightData>;
    async fn do_get(&self, _request: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        unimplemented("DoGet")
    }

    type DoPutStream = ReceiverStream<Result<PutResult, Status>>;
    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let (metadata, _, stream) = request.into_parts();
        let headers = metadata.into_headers();
        let (entry, faults, auth) = self.shared.open_call(&headers);
        let opened = auth.and_then(|auth| {
            let table = entry
                .table_header
                .clone()
                .ok_or_else(|| Status::invalid_argument("missing header x-databricks-zerobus-table-name"))?;
            lock(&entry.opened).table = Some(table.clone());
            let store = self
                .shared
                .tables
                .get(&table)
                .ok_or_else(|| Status::not_found(format!("table {table} does not exist")))?
                .clone();
            if !grant_allows(&auth.grant, &table) {
                return Err(Status::permission_denied(format!(
                    "the access token was not issued for table {table}"
                )));
            }
            Ok((table, store))
        });
        let (table, store) = match opened {
            Ok(opened) => opened,
            Err(status) => {
                entry
                    .set_end(ConnectionEnd::ServerStatus(status.code() as i32, status.message().to_string()));
                return Err(status);
            }
        };
        // The reader queues answers with the instant each is due (the ack delay fault); one
        // forwarder sends them in order.
        let (tx, mut queued) = mpsc::channel::<Queued>(1024);
        let (out, rx) = mpsc::channel(16);
        let durable = self.shared.config.store.as_ref().map(|store| store.durable());
        tokio::spawn(async move {
            while let Some((due, position, mut answer)) = queued.recv().await {
                if let Some(due) = due {
                    tokio::time::sleep_until(due).await;
                }
                // With a store, an ack goes out once its batches are durable.
                if let (Some(position), Some(durable)) = (position, &durable) {
                    if let Err(why) = until_durable(durable.clone(), position).await {
                        answer = Err(Status::unavailable(format!(
                            "the server could not make the batches durable: {why}"
                        )));
                    }
                }
                let failed = answer.is_err();
                if out.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        let put = Put {
            shared: self.shared.clone(),
            entry,
            faults,
            table,
            store,
            stream,
            tx,
            schema: None,
            next_offset: 0,
            rows: 0,
            close_deadline: None,
            sink: None,
            position: None,
        };
        tokio::spawn(put.run());
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type DoExchangeStream = Unimpl<FlightData>;
    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        unimplemented("DoExchange")
    }

    type DoActionStream = Unimpl<arrow_flight::Result>;
    async fn do_action(&self, _request: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        unimplemented("DoAction")
    }

    type ListActionsStream = Unimpl<ActionType>;
    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        unimplemented("ListActions")
    }
}

/// An answer, when it may go out, and the store position that must be durable first.
type Queued = (Option<Instant>, Option<u64>, Result<PutResult, Status>);

enum Outcome {
    HalfClosed,
    Gone,
    ServerEnd(String),
    Status(Status),
}

fn invalid(message: impl Into<String>) -> Outcome {
    Outcome::Status(Status::invalid_argument(message))
}

/// The reader half of one `DoPut` call.
struct Put {
    shared: Arc<Shared>,
    entry: Arc<ConnEntry>,
    faults: ConnFaults,
    table: String,
    store: Arc<Mutex<TableData>>,
    stream: Streaming<FlightData>,
    tx: mpsc::Sender<Queued>,
    schema: Option<SchemaRef>,
    next_offset: i64,
    rows: u64,
    close_deadline: Option<Instant>,
    /// Where accepted batches are kept, with a store that keeps this table.
    sink: Option<Box<dyn CallSink>>,
    /// The store position of the last batch appended: every ack waits for it.
    position: Option<u64>,
}

fn put_result(value: serde_json::Value) -> PutResult {
    PutResult { app_metadata: Bytes::from(value.to_string()) }
}

impl Put {
    async fn run(mut self) {
        let outcome = match self.serve().await {
            Ok(never) => match never {},
            Err(outcome) => outcome,
        };
        match outcome {
            Outcome::HalfClosed => self.entry.set_end(ConnectionEnd::ClientHalfClosed),
            Outcome::ServerEnd(message) => self.entry.set_end(ConnectionEnd::ServerStatus(0, message)),
            Outcome::Status(status) => {
                self.entry
                    .set_end(ConnectionEnd::ServerStatus(status.code() as i32, status.message().to_string()));
                let _ = self.tx.send((None, None, Err(status))).await;
            }
            Outcome::Gone => self.entry.set_end(ConnectionEnd::ClientGone),
        }
    }

    async fn send(&self, result: PutResult) -> Result<(), Outcome> {
        self.tx.send((None, self.position, Ok(result))).await.map_err(|_| Outcome::Gone)
    }

    async fn next(&mut self) -> Result<Option<FlightData>, Outcome> {
        let closed = || Outcome::ServerEnd("stream closed after close_stream_duration_ms".into());
        let result = match self.close_deadline {
            Some(deadline) => tokio::select! {
                r = self.stream.message() => r,
                _ = tokio::time::sleep_until(deadline) => return Err(closed()),
            },
            None => self.stream.message().await,
        };
        result.map_err(|status| {
            if std::error::Error::source(&status).is_some() {
                Outcome::Gone
            } else {
                invalid(format!("undecodable request: {}", status.message()))
            }
        })
    }

    async fn serve(&mut self) -> Result<Infallible, Outcome> {
        let first = self.next().await?.ok_or(Outcome::HalfClosed)?;
        let schema = Schema::try_from(&first)
            .map_err(|e| invalid(format!("the first FlightData must be the schema message: {e}")))?;
        if let Some(declared) = self.shared.schemas.get(&self.table) {
            let expected = zerobus_schema::arrow_schema(&declared.schema);
            check_schema(&self.table, &expected, &schema).map_err(|m| Outcome::Status(m.status()))?;
        }
        let schema = Arc::new(schema);
        if let Some(store) = &self.shared.config.store {
            let input = StreamInput::Arrow { schema: &schema, message: &first.data_header };
            self.sink = store.open(&self.table, input).map_err(invalid)?;
        }
        self.schema = Some(schema);
        if let Some(code) = self.faults.create_status {
            return Err(Outcome::Status(Status::new(code, "stream open failed (scripted fault)")));
        }
        self.entry.acked.store(-1, Ordering::Relaxed);
        self.send(put_result(serde_json::json!({"ack_up_to_offset": -1, "ack_up_to_records": 0}))).await?;
        self.after_messages(0).await?;
        let mut messages = 0u64;
        loop {
            let data = self.next().await?.ok_or(Outcome::HalfClosed)?;
            messages += 1;
            self.entry.messages.fetch_add(1, Ordering::Relaxed);
            self.ingest(data).await?;
            if let Some((n, unacked)) = self.faults.partial_ack_after.filter(|&(n, _)| n == messages) {
                self.forget_last_rows(unacked);
                let ack = serde_json::json!({"ack_up_to_offset": self.next_offset - 1, "ack_up_to_records": self.rows});
                self.send(put_result(ack)).await?;
                let why = format!("connection dropped after a partial ack of {n} batches (scripted)");
                return Err(Outcome::Status(Status::unavailable(why)));
            }
            if self.faults.withhold_after.is_none_or(|n| messages <= n) {
                self.entry.acked.store(self.next_offset - 1, Ordering::Relaxed);
                let ack = put_result(
                    serde_json::json!({"ack_up_to_offset": self.next_offset - 1, "ack_up_to_records": self.rows}),
                );
                // With the ack delay fault each ack waits its delay after its batch arrived.
                let due = self.faults.ack_delay.map(|delay| Instant::now() + delay);
                self.tx.send((due, self.position, Ok(ack))).await.map_err(|_| Outcome::Gone)?;
            }
            self.after_messages(messages).await?;
        }
    }

    async fn ingest(&mut self, data: FlightData) -> Result<(), Outcome> {
        let meta: serde_json::Value = serde_json::from_slice(&data.app_metadata).map_err(|e| {
            invalid(format!("record batch app_metadata must be JSON {{\"offset_id\": N}}: {e}"))
        })?;
        let offset = meta
            .get("offset_id")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| invalid("record batch app_metadata has no integer offset_id"))?;
        if offset != self.next_offset {
            return Err(invalid(format!(
                "offset_id out of order: expected {}, got {offset}",
                self.next_offset
            )));
        }
        let bytes = data.data_body.len() as u64;
        // Counting only (`keep_payloads` off: benchmarks, long demos), the rows come from the
        // message header, as the record path skips decoding records; otherwise every batch is
        // decoded against the stream's schema and kept.
        let (rows, stored) = if self.shared.config.keep_payloads {
            let schema = self.schema.clone().expect("schema read first");
            let batch = arrow_flight::utils::flight_data_to_arrow_batch(&data, schema, &HashMap::new())
                .map_err(|e| invalid(format!("record batch at offset_id {offset} does not decode: {e}")))?;
            let compression = body_compression(&data.data_header);
            let rows = batch.num_rows() as u64;
            (
                rows,
                Some(StoredArrow { connection: self.entry.index, wire_offset: offset, batch, compression }),
            )
        } else {
            (
                header_rows(&data)
                    .map_err(|e| invalid(format!("record batch at offset_id {offset}: {e}")))?,
                None,
            )
        };
        // Stored before it is counted: a batch the store refuses is not accepted.
        if let Some(sink) = &mut self.sink {
            let position = sink.append_arrow(&data.data_header, &data.data_body).map_err(|e| match e {
                StoreError::Invalid(message) => invalid(format!("record batch at offset_id {offset}: {message}")),
                StoreError::Failed(message) => Outcome::Status(Status::unavailable(format!(
                    "the server could not store the batch at offset_id {offset}: {message}; retry on a new stream"
                ))),
            })?;
            self.position = Some(position);
        }
        self.entry.records.fetch_add(rows, Ordering::Relaxed);
        {
            let mut table = lock(&self.store);
            table.records += rows;
            table.bytes += bytes;
            table.arrow.extend(stored);
        }
        self.rows += rows;
        self.next_offset += 1;
        Ok(())
    }

    /// Forgets the last `rows` rows received on this connection (the partial ack fault): they
    /// leave the table's counts and its stored batches, as if never made durable.
    fn forget_last_rows(&mut self, rows: u64) {
        let rows = rows.min(self.rows);
        self.rows -= rows;
        self.entry.records.fetch_sub(rows, Ordering::Relaxed);
        let mut table = lock(&self.store);
        table.records -= rows;
        let mut left = rows as usize;
        while left > 0 {
            let Some(last) = table.arrow.iter().rposition(|a| a.connection == self.entry.index) else {
                break;
            };
            let n = table.arrow[last].batch.num_rows();
            if n <= left {
                table.arrow.remove(last);
                left -= n;
            } else {
                let kept = table.arrow[last].batch.slice(0, n - left);
                table.arrow[last].batch = kept;
                left = 0;
            }
        }
    }

    /// The record stream's scripted faults, counted in record batches.
    async fn after_messages(&mut self, messages: u64) -> Result<(), Outcome> {
        if let Some((n, duration)) = self.faults.close_after {
            if n == messages && self.close_deadline.is_none() {
                self.send(put_result(serde_json::json!({
                    "ack_up_to_offset": self.next_offset - 1,
                    "ack_up_to_records": self.rows,
                    "close_stream_duration_ms": duration.as_millis() as u64,
                })))
                .await?;
                self.close_deadline = Some(Instant::now() + duration);
            }
        }
        match self.faults.end_after(messages) {
            None => Ok(()),
            Some(ScriptedEnd::Clean(why)) => Err(Outcome::ServerEnd(why)),
            Some(ScriptedEnd::Status(status)) => Err(Outcome::Status(status)),
            Some(ScriptedEnd::RevokeToken(status)) => {
                if let Some(token) =
                    self.entry.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer "))
                {
                    self.shared.state().revoked.insert(token.trim().to_string());
                }
                Err(Outcome::Status(status))
            }
        }
    }
}

/// The row count of a record batch message, read from its header without decoding the body; the
/// body must be as long as the header says.
fn header_rows(data: &FlightData) -> Result<u64, String> {
    let message = arrow_ipc::root_as_message(&data.data_header)
        .map_err(|e| format!("the data_header is not an Arrow IPC message: {e}"))?;
    let batch = message
        .header_as_record_batch()
        .ok_or_else(|| format!("expected a RecordBatch message, got {:?}", message.header_type()))?;
    let body = message.bodyLength();
    if body < 0 || body as u64 > data.data_body.len() as u64 {
        return Err(format!(
            "the header says a {body}-byte body, the data_body has {}",
            data.data_body.len()
        ));
    }
    u64::try_from(batch.length()).map_err(|_| format!("negative row count {}", batch.length()))
}

/// The body compression a record batch message declares: `none`, `lz4_frame` or `zstd`.
fn body_compression(header: &[u8]) -> &'static str {
    let codec = arrow_ipc::root_as_message(header)
        .ok()
        .and_then(|m| m.header_as_record_batch())
        .and_then(|b| b.compression())
        .map(|c| c.codec());
    match codec {
        None => "none",
        Some(arrow_ipc::CompressionType::LZ4_FRAME) => "lz4_frame",
        Some(arrow_ipc::CompressionType::ZSTD) => "zstd",
        Some(_) => "unknown",
    }
}

/// Checks a stream's Arrow schema against the table's (PROTOCOL.md §9): the same fields in the
/// same order (names compared case-insensitively), each of a type the column allows, nullable
/// only where the column is.
pub(crate) fn check_schema(table: &str, expected: &Schema, got: &Schema) -> Result<(), Mismatch> {
    let mut problems = Vec::new();
    let mut problem = |path: &str, cause: Cause, detail: String| {
        problems.push(Problem { path: path.to_string(), cause, detail })
    };
    let position = |name: &str| expected.fields().iter().position(|f| f.name().eq_ignore_ascii_case(name));
    for (i, field) in got.fields().iter().enumerate() {
        let Some(at) = position(field.name()) else {
            problem(field.name(), Cause::FieldNotInTable, "no column of that name".into());
            continue;
        };
        let column = &expected.fields()[at];
        if at != i {
            problem(field.name(), Cause::FieldOutOfOrder, format!("field {i} is column {at} of the table"));
        }
        if let Err(detail) = field_fits(column, field) {
            problem(field.name(), Cause::TypeIncompatible, detail);
        }
    }
    for column in expected.fields() {
        let present = got.fields().iter().any(|f| f.name().eq_ignore_ascii_case(column.name()));
        if !present && !column.is_nullable() {
            problem(column.name(), Cause::MissingRequiredColumn, "NOT NULL column has no field".into());
        }
    }
    if got.fields().len() != expected.fields().len() {
        problem(
            "*",
            Cause::FieldCountMismatch,
            format!(
                "the batch has {} fields, the table {} columns",
                got.fields().len(),
                expected.fields().len()
            ),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Mismatch { table: table.to_string(), problems })
    }
}

fn field_fits(column: &Field, got: &Field) -> Result<(), String> {
    if got.is_nullable() && !column.is_nullable() {
        return Err(format!("nullable, but the column is NOT NULL ({})", column.data_type()));
    }
    if type_fits(column.data_type(), got.data_type()) {
        Ok(())
    } else {
        Err(format!("{} where the column wants {}", got.data_type(), column.data_type()))
    }
}

fn item_fits(column: &Field, got: &Field) -> bool {
    (column.is_nullable() || !got.is_nullable()) && type_fits(column.data_type(), got.data_type())
}

fn type_fits(want: &DataType, got: &DataType) -> bool {
    use DataType as T;
    match (want, got) {
        // STRING (and DECIMAL as text) may come as Utf8.
        (T::LargeUtf8, T::LargeUtf8 | T::Utf8) => true,
        (T::Timestamp(TimeUnit::Microsecond, Some(_)), T::Timestamp(TimeUnit::Microsecond, Some(tz))) => {
            matches!(tz.as_ref(), "UTC" | "+00:00" | "Etc/UTC" | "Z")
        }
        // List item names are not compared.
        (T::List(w), T::List(g)) => item_fits(w, g),
        (T::Struct(w), T::Struct(g)) => {
            w.len() == g.len()
                && w.iter()
                    .zip(g.iter())
                    .all(|(w, g)| w.name().eq_ignore_ascii_case(g.name()) && item_fits(w, g))
        }
        (T::Map(w, _), T::Map(g, _)) => match (w.data_type(), g.data_type()) {
            (T::Struct(wkv), T::Struct(gkv)) => {
                wkv.len() == 2 && gkv.len() == 2 && wkv.iter().zip(gkv.iter()).all(|(w, g)| item_fits(w, g))
            }
            _ => false,
        },
        _ => want == got,
    }
}
