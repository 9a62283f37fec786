//! The caller's JavaScript callbacks as the core's traits: per-offset ack and error events, and
//! the headers provider asked on every connect.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Either, Promise};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use zerobus_core::{AckCallback, ErrorCode, HeadersProvider, ZerobusError, ZerobusResult};

/// Ack / error / barrier events for the JavaScript dispatcher: `(kind, offset, message)` with
/// kind 0 = ack, 1 = error, 2 = barrier. Weak: it never keeps the process alive by itself.
pub(crate) type EventFn = ThreadsafeFunction<(u32, i64, String), (), (u32, i64, String), Status, false, true>;

/// The JavaScript headers provider, wrapped by `index.js` so it always returns a promise of
/// either a flat `[name, value, name, value, …]` list or `CODE|message`. Weak, like [`EventFn`].
pub(crate) type HeadersFn =
    ThreadsafeFunction<(), Promise<Either<Vec<String>, String>>, (), Status, false, true>;

const EVENT_ACK: u32 = 0;
const EVENT_ERROR: u32 = 1;
const EVENT_BARRIER: u32 = 2;

/// Forwards the core's per-offset callbacks to JavaScript. Released on `close()`.
#[derive(Default)]
pub(crate) struct JsEvents {
    pub(crate) tsfn: Mutex<Option<Arc<EventFn>>>,
}

impl JsEvents {
    pub(crate) fn get(&self) -> Option<Arc<EventFn>> {
        self.tsfn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn release(&self) {
        self.tsfn.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    pub(crate) fn send(&self, kind: u32, offset: i64, message: String) {
        if let Some(f) = self.get() {
            f.call((kind, offset, message), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// Resolves once every event sent before it has run on the JavaScript thread (one queue,
    /// FIFO), then releases the function so nothing runs after `close()`.
    pub(crate) async fn barrier_and_release(&self) {
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
pub(crate) struct JsHeaders {
    pub(crate) tsfn: Mutex<Option<Arc<HeadersFn>>>,
    closed: tokio::sync::watch::Sender<bool>,
}

impl JsHeaders {
    pub(crate) fn new(f: HeadersFn) -> Self {
        JsHeaders { tsfn: Mutex::new(Some(Arc::new(f))), closed: tokio::sync::watch::Sender::new(false) }
    }

    /// Lets go of the JavaScript function and ends any wait for it.
    pub(crate) fn release(&self) {
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
