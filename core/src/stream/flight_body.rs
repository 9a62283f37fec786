//! The request body of an Arrow stream's `DoPut`, framed here instead of by tonic's codec.
//!
//! tonic encodes every message into its own buffer, so each record batch's IPC body (megabytes a
//! call) would be copied once more on its way to the socket: on the bench's taxi batches that
//! copy was about a fifth of the client's CPU. Here each `FlightData` goes out as frames of the
//! HTTP/2 body: its gRPC prefix and fields (a few hundred bytes, written here), then the IPC
//! body's segments (one buffer, or the batch's own column buffers and their padding:
//! `ipc_body.rs`), which h2 writes to the socket as they are. tonic still builds the
//! request (path, headers, metadata) and decodes the answers: [`WithBody`] only swaps the body
//! of the one request it carries.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;
use http_body::Frame;
use tonic::transport::Channel;

use super::sender::RequestStream;
use crate::wire::Outgoing;

/// The gRPC length prefix: a compression flag (0, none) and the message length, big-endian.
const PREFIX: usize = 5;

/// The `DoPut` body: the connection's [`RequestStream`], each message framed for gRPC.
pub(super) struct FlightFrames {
    requests: RequestStream,
    /// The IPC body of the message whose head went out last, and its next segment to send.
    body: Option<(Arc<[Bytes]>, usize)>,
}

impl FlightFrames {
    pub(super) fn new(requests: RequestStream) -> FlightFrames {
        FlightFrames { requests, body: None }
    }

    /// The body's next segment, if any is left (segments are never empty: `IpcBody`).
    fn next_segment(&mut self) -> Option<Bytes> {
        let (segments, next) = self.body.as_mut()?;
        let segment = segments[*next].clone();
        *next += 1;
        if *next == segments.len() {
            self.body = None;
        }
        Some(segment)
    }
}

/// `head` (which starts with [`PREFIX`] bytes to fill) with its prefix written for a message of
/// `len` bytes after the prefix.
fn prefixed(mut head: BytesMut, len: usize) -> Result<Bytes, tonic::Status> {
    let len = u32::try_from(len)
        .map_err(|_| tonic::Status::internal(format!("a {len}-byte message is past gRPC's 4 GiB frame")))?;
    head[1..PREFIX].copy_from_slice(&len.to_be_bytes());
    Ok(head.freeze())
}

impl http_body::Body for FlightFrames {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        if let Some(segment) = self.next_segment() {
            return Poll::Ready(Some(Ok(Frame::data(segment))));
        }
        let item = match Pin::new(&mut self.requests).poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(item)) => item,
        };
        let frame = match item {
            Outgoing::Flight { offset_id, header, body } => {
                let mut head = BytesMut::with_capacity(PREFIX + header.len() + 48);
                head.put_bytes(0, PREFIX);
                crate::flight::write_part_head(&mut head, offset_id, &header, body.len());
                let len = head.len() - PREFIX + body.len();
                if !body.is_empty() {
                    self.body = Some((body.segments().clone(), 0));
                }
                prefixed(head, len)
            }
            // The schema message (and any other whole message): small, written in one frame.
            other => {
                let mut head = BytesMut::with_capacity(PREFIX + 256);
                head.put_bytes(0, PREFIX);
                crate::wire::write_outgoing(&mut head, other);
                let len = head.len() - PREFIX;
                prefixed(head, len)
            }
        };
        Poll::Ready(Some(frame.map(Frame::data)))
    }
}

/// A channel whose next request goes out with `body` in place of the one tonic built (from a
/// stream of no messages). Carries one request: later ones keep their own bodies.
#[derive(Clone)]
pub(super) struct WithBody {
    channel: Channel,
    body: Arc<Mutex<Option<tonic::body::Body>>>,
}

impl WithBody {
    pub(super) fn new(channel: Channel, body: FlightFrames) -> WithBody {
        WithBody { channel, body: Arc::new(Mutex::new(Some(tonic::body::Body::new(body)))) }
    }
}

impl tower_service::Service<http::Request<tonic::body::Body>> for WithBody {
    type Response = <Channel as tower_service::Service<http::Request<tonic::body::Body>>>::Response;
    type Error = <Channel as tower_service::Service<http::Request<tonic::body::Body>>>::Error;
    type Future = <Channel as tower_service::Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.channel.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let (parts, built) = request.into_parts();
        let body = self.body.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or(built);
        self.channel.call(http::Request::from_parts(parts, body))
    }
}

/// The message stream tonic is given for a `DoPut` whose body [`WithBody`] replaces.
pub(super) struct NoMessages;

impl Stream for NoMessages {
    type Item = Outgoing;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        Poll::Ready(None)
    }
}
