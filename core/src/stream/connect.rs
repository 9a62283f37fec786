//! Opening one connection of a stream: call metadata (a token or the caller's headers), a new
//! HTTP/2 connection, the `EphemeralStream` call, and the `create_stream` exchange, all within
//! `recovery_timeout_ms`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use zerobus_proto::ephemeral_stream_response::Payload as ResponsePayload;

use super::flight_body;
use super::sender::RequestStream;
use super::state::Shared;
use crate::auth::Auth;
use crate::wire;
use crate::{ErrorCode, ZerobusError, ZerobusResult};

/// An open connection whose `create_stream` was answered (on an Arrow stream: whose ready
/// signal arrived).
pub(super) struct Live {
    pub inbound: tonic::Streaming<wire::Incoming>,
    /// Kept so the HTTP/2 connection lives exactly as long as this connection of the stream.
    _channel: Channel,
}

impl Shared {
    /// The error for a status on this stream's connection (the server's, or a lost transport).
    pub(super) fn status_error(&self, status: &tonic::Status) -> ZerobusError {
        ZerobusError::from_status(status, &self.transport.endpoint_str())
    }
}

async fn call_headers(shared: &Shared) -> ZerobusResult<Vec<(String, String)>> {
    match &shared.auth {
        Auth::OAuth(oauth) => {
            let (token, fetched) = oauth.token().await?;
            if fetched {
                shared.counters.token_fetches.fetch_add(1, Relaxed);
            }
            let headers = vec![
                ("authorization".to_owned(), format!("Bearer {}", token.0)),
                ("x-databricks-zerobus-table-name".to_owned(), shared.table.table_name.clone()),
            ];
            Ok(headers)
        }
        Auth::Headers(provider) => {
            let provider = provider.clone();
            let headers = tokio::task::spawn_blocking(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| provider.get_headers()))
                    .unwrap_or_else(|_| {
                        Err(ZerobusError::internal("the headers provider panicked; fix the provider"))
                    })
            })
            .await
            .map_err(|e| ZerobusError::internal(format!("headers provider task: {e}")))?;
            // The provider's own code decides whether the stream retries; the message says where
            // the error came from.
            headers.map_err(|e| e.context("the headers provider failed"))
        }
    }
}

/// Opens a connection within `recovery_timeout_ms`: headers, channel, call, `create_stream`.
pub(super) async fn open_connection(shared: &Arc<Shared>) -> ZerobusResult<Live> {
    let bound = Duration::from_millis(shared.opts.recovery_timeout_ms);
    match tokio::time::timeout(bound, open_connection_unbounded(shared)).await {
        Ok(r) => r,
        Err(_) => Err(ZerobusError::new(
            ErrorCode::Timeout,
            format!(
                "opening the stream on {} at {} did not finish within recovery_timeout_ms ({} ms); check that the endpoint is reachable, or raise recovery_timeout_ms",
                shared.table.table_name,
                shared.transport.endpoint_str(),
                shared.opts.recovery_timeout_ms
            ),
        )),
    }
}

async fn open_connection_unbounded(shared: &Arc<Shared>) -> ZerobusResult<Live> {
    let headers = call_headers(shared).await?;
    let channel = shared.transport.connect().await?;
    resend_from_first_unacked_row(shared)?;
    let generation = {
        let mut st = shared.lock();
        let waker = st.retire_connection();
        st.wire_base = st.first_offset;
        st.cursor = 0;
        st.ready = false;
        st.paused = false;
        st.part = 0;
        st.conn_parts = 0;
        st.conn_rows_sent = 0;
        st.conn_rows_acked = 0;
        if let Some(w) = waker {
            w.wake();
        }
        st.generation
    };
    let requests =
        RequestStream { shared: shared.clone(), generation, create: Some(shared.create_message.clone()) };
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (name, value) in &headers {
        let key =
            tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
                ZerobusError::invalid_argument(format!(
                    "header name {name:?} is not a valid HTTP header name"
                ))
            })?;
        let value = value.parse().map_err(|_| {
            ZerobusError::invalid_argument(format!(
                "the value of header {name} is not a valid HTTP header value (no control characters or line breaks)"
            ))
        })?;
        metadata.insert(key, value);
    }
    let lost = |e: tonic::transport::Error| {
        ZerobusError::connection_lost(&shared.transport.endpoint_str(), &crate::error::error_chain(&e))
    };
    let flight = shared.flight.is_some();
    let codec = wire::WireCodec { flight };
    let response = if flight {
        // The body is framed by `flight_body` (record batch bodies go out without a copy); tonic
        // still builds the request and decodes the answers.
        let body = flight_body::FlightFrames::new(requests);
        let mut grpc = tonic::client::Grpc::new(flight_body::WithBody::new(channel.clone(), body));
        grpc.ready().await.map_err(lost)?;
        let path = http::uri::PathAndQuery::from_static(crate::flight::DO_PUT_PATH);
        let request =
            tonic::Request::from_parts(metadata, tonic::Extensions::default(), flight_body::NoMessages);
        grpc.streaming(request, path, codec).await
    } else {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.map_err(lost)?;
        let path = http::uri::PathAndQuery::from_static(zerobus_proto::EPHEMERAL_STREAM_PATH);
        let request = tonic::Request::from_parts(metadata, tonic::Extensions::default(), requests);
        grpc.streaming(request, path, codec).await
    }
    .map_err(|s| shared.status_error(&s))?;
    let mut inbound = response.into_inner();
    let stream_id = match &shared.flight {
        None => create_stream_answer(shared, inbound.message().await.map_err(|s| shared.status_error(&s))?)?,
        Some(f) => {
            let bound = Duration::from_millis(f.connection_timeout_ms);
            let first = tokio::time::timeout(bound, inbound.message()).await.map_err(|_| {
                ZerobusError::new(
                    ErrorCode::Timeout,
                    format!(
                        "server {} did not send the Arrow stream's ready signal within connection_timeout_ms ({} ms)",
                        shared.transport.endpoint_str(),
                        f.connection_timeout_ms
                    ),
                )
            })?;
            ready_signal(shared, first.map_err(|s| shared.status_error(&s))?)?;
            String::new()
        }
    };
    if let Ok(mut id) = shared.stream_id.lock() {
        *id = stream_id;
    }
    let waker = {
        let mut st = shared.lock();
        st.ready = true;
        st.last_heard = Instant::now();
        st.take_sender()
    };
    if let Some(w) = waker {
        w.wake();
    }
    Ok(Live { inbound, _channel: channel })
}

/// The record stream's first answer must be `create_stream_response`; it carries the stream id.
fn create_stream_answer(shared: &Shared, first: Option<wire::Incoming>) -> ZerobusResult<String> {
    match first {
        Some(wire::Incoming::Record(m)) => match m.payload {
            Some(ResponsePayload::CreateStreamResponse(r)) => Ok(r.stream_id.unwrap_or_default()),
            other => Err(ZerobusError::new(
                ErrorCode::ProtocolError,
                format!(
                    "server answered create_stream with {other:?} instead of create_stream_response; report it to the service"
                ),
            )),
        },
        Some(wire::Incoming::Flight(_)) => unreachable!("a record stream decodes EphemeralStreamResponse"),
        None => Err(ZerobusError::new(
            ErrorCode::Unavailable,
            format!("server {} ended the stream before answering create_stream", shared.transport.endpoint_str()),
        )),
    }
}

/// An Arrow stream's first answer must be the ready signal: `ack_up_to_offset` -1 and
/// `ack_up_to_records` 0 (PROTOCOL.md §9).
fn ready_signal(shared: &Shared, first: Option<wire::Incoming>) -> ZerobusResult<()> {
    match first {
        Some(wire::Incoming::Flight(ack)) if ack.ack_up_to_offset == -1 && ack.ack_up_to_records == 0 => Ok(()),
        Some(other) => Err(ZerobusError::new(
            ErrorCode::ProtocolError,
            format!("server answered the Arrow schema message with {other:?} instead of the ready signal; report it to the service"),
        )),
        None => Err(ZerobusError::new(
            ErrorCode::Unavailable,
            format!("server {} ended the Arrow stream before its ready signal", shared.transport.endpoint_str()),
        )),
    }
}

/// An Arrow call the server acked in part (some of its rows) is replaced, before the next
/// connection, by the slice of its unacked rows: the server counts rows, so the resend starts at
/// the first unacked row. Decoding and re-encoding happen outside the lock; only the supervisor
/// touches the front of the queue between connections.
fn resend_from_first_unacked_row(shared: &Shared) -> ZerobusResult<()> {
    let Some(flight) = &shared.flight else { return Ok(()) };
    let (parts, skip) = {
        let st = shared.lock();
        if st.front_rows_acked == 0 {
            return Ok(());
        }
        match st.queue.front().and_then(|c| c.flight.clone()) {
            Some(parts) => (parts, st.front_rows_acked),
            None => return Ok(()),
        }
    };
    let table = &shared.table.table_name;
    let mut rest = Vec::new();
    for batch in crate::flight::decode_parts(&flight.schema, &parts, skip)? {
        // Decoded into buffers of core's own, so the new parts may keep them.
        let keep = crate::flight::Buffers::Shared;
        rest.extend(crate::flight::encode_batch(table, &batch, flight.compression, keep)?);
    }
    let call = wire::EncodedCall::arrow(rest);
    let mut st = shared.lock();
    let old = std::mem::replace(&mut st.queue[0], call);
    st.inflight_bytes = st.inflight_bytes - old.size() + st.queue[0].size();
    st.inflight_records -= skip;
    st.front_rows_acked = 0;
    // The old parts may hold a caller's buffers, whose release may take a lock of its own
    // (Python's GIL): freed after the stream's lock, as acked calls are.
    drop(st);
    drop(old);
    Ok(())
}
