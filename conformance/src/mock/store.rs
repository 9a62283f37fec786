//! What the mock asks of a store that keeps what it acknowledges (`zerobus serve --data-dir`,
//! the `zerobus-localstore` crate): each accepted call is appended to the store before anything
//! is acked, and its ack waits until the store reports the call durable. The mock itself stays
//! storage-free; without a store ([`MockServerConfig::store`](super::MockServerConfig::store))
//! acks go out as soon as a call is accepted, as before.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::watch;

/// A durable home for accepted calls, shared by every stream of a server.
pub trait CallStore: Send + Sync + 'static {
    /// A sink for one stream's calls into `table`, or `None` when the store does not keep that
    /// table (the mock then only counts its calls). An error refuses the stream with
    /// `INVALID_ARGUMENT` and this message.
    fn open(&self, table: &str, input: StreamInput<'_>) -> Result<Option<Box<dyn CallSink>>, String>;

    /// How far appended calls are durable: positions ([`CallSink`]'s answers) at or below
    /// [`Durable::UpTo`] are, and an ack waiting for one may go. [`Durable::Failed`] means no
    /// later position will be: waiting streams end with `UNAVAILABLE` and this message.
    fn durable(&self) -> watch::Receiver<Durable>;
}

/// What a stream sends, as its sink needs to know to store its calls.
pub enum StreamInput<'a> {
    /// JSON records (text of one object each).
    Json,
    /// Protobuf records of this message (the stream's `descriptor_proto`).
    Proto(&'a prost_types::DescriptorProto),
    /// Arrow Flight record batches.
    Arrow {
        /// The batches' schema, as the stream's first `FlightData` declared it.
        schema: &'a arrow_schema::SchemaRef,
        /// That schema's IPC message header (the first `FlightData`'s `data_header`).
        message: &'a [u8],
    },
}

/// One stream's way into a [`CallStore`]. Appending returns at once with the call's position;
/// the ack waits for [`CallStore::durable`] to pass it.
pub trait CallSink: Send + Sync {
    /// Appends one ingest call's records.
    fn append_records(&mut self, records: &[Bytes]) -> Result<u64, StoreError>;

    /// Appends one Flight record batch, its IPC message header and body as received.
    fn append_arrow(&mut self, header: &[u8], body: &[u8]) -> Result<u64, StoreError>;
}

/// Why a call was not stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The call cannot be stored as the table's rows (a record that does not fit its columns):
    /// refused with `INVALID_ARGUMENT` and this message, which names the record and the column.
    Invalid(String),
    /// The store cannot write (disk full, I/O error): the stream ends with `UNAVAILABLE`, so the
    /// client retries on a new one.
    Failed(String),
}

/// How far a store's appended calls are durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Durable {
    /// Every position at or below this one is durable.
    UpTo(u64),
    /// Writing failed for good; nothing later becomes durable.
    Failed(String),
}

/// Waits until `position` is durable, or the store failed (then its message).
pub(crate) async fn until_durable(mut rx: watch::Receiver<Durable>, position: u64) -> Result<(), String> {
    let seen = rx
        .wait_for(|d| match d {
            Durable::UpTo(p) => *p >= position,
            Durable::Failed(_) => true,
        })
        .await
        .map(|d| d.clone());
    match seen {
        Ok(Durable::UpTo(_)) => Ok(()),
        Ok(Durable::Failed(why)) => Err(why),
        Err(_) => Err("the store stopped".into()),
    }
}

/// [`until_durable`] as a boxed future.
type Waiting = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A poll-driven wait for one position, for the gRPC response body: ready at once (no
/// allocation) when the position is already durable.
pub(crate) struct DurableWait {
    rx: watch::Receiver<Durable>,
    waiting: Option<(u64, Waiting)>,
}

impl DurableWait {
    pub(crate) fn new(rx: watch::Receiver<Durable>) -> Self {
        DurableWait { rx, waiting: None }
    }

    pub(crate) fn poll(&mut self, position: u64, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        if self.waiting.as_ref().is_none_or(|(p, _)| *p != position) {
            match &*self.rx.borrow() {
                Durable::UpTo(p) if *p >= position => return Poll::Ready(Ok(())),
                Durable::Failed(why) => return Poll::Ready(Err(why.clone())),
                Durable::UpTo(_) => {}
            }
            self.waiting = Some((position, Box::pin(until_durable(self.rx.clone(), position))));
        }
        let (_, wait) = self.waiting.as_mut().expect("set above");
        let done = wait.as_mut().poll(cx);
        if done.is_ready() {
            self.waiting = None;
        }
        done
    }
}
