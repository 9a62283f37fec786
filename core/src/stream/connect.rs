//! Opening one connection of a stream: call metadata (a token or the caller's headers), a new
//! HTTP/2 connection, the `EphemeralStream` call, and the `create_stream` exchange, all within
//! `recovery_timeout_ms`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use zerobus_proto::ephemeral_stream_response::Payload as ResponsePayload;

use super::sender::RequestStream;
use super::state::Shared;
use crate::auth::Auth;
use crate::wire;
use crate::{ErrorCode, ZerobusError, ZerobusResult};

/// An open connection whose `create_stream` was answered.
pub(super) struct Live {
    pub inbound: tonic::Streaming<zerobus_proto::EphemeralStreamResponse>,
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
    let generation = {
        let mut st = shared.lock();
        let waker = st.retire_connection();
        st.wire_base = st.first_offset;
        st.cursor = 0;
        st.ready = false;
        st.paused = false;
        if let Some(w) = waker {
            w.wake();
        }
        st.generation
    };
    let mut request = tonic::Request::new(RequestStream {
        shared: shared.clone(),
        generation,
        create: Some(shared.create_message.clone()),
    });
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
        request.metadata_mut().insert(key, value);
    }
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.map_err(|e| {
        ZerobusError::connection_lost(&shared.transport.endpoint_str(), &crate::error::error_chain(&e))
    })?;
    let path = http::uri::PathAndQuery::from_static(zerobus_proto::EPHEMERAL_STREAM_PATH);
    let response =
        grpc.streaming(request, path, wire::WireCodec).await.map_err(|s| shared.status_error(&s))?;
    let mut inbound = response.into_inner();
    let first = inbound.message().await.map_err(|s| shared.status_error(&s))?;
    let stream_id = match first.and_then(|m| m.payload) {
        Some(ResponsePayload::CreateStreamResponse(r)) => r.stream_id.unwrap_or_default(),
        Some(other) => {
            return Err(ZerobusError::new(
                ErrorCode::ProtocolError,
                format!(
                    "server answered create_stream with {other:?} instead of create_stream_response; report it to the service"
                ),
            ))
        }
        None => {
            return Err(ZerobusError::new(
                ErrorCode::Unavailable,
                format!("server {} ended the stream before answering create_stream", shared.transport.endpoint_str()),
            ))
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
