//! Delivers ack and error notifications to the caller's [`AckCallback`] on a dedicated thread.
//!
//! The thread exists so that user code never runs on a tokio worker or under one of the stream's
//! locks, and so a slow callback delays only other callbacks, never acks or sends. Events are
//! ranges, so one cumulative ack costs one message whatever the number of offsets it covers.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::options::AckCallback;

enum Event {
    Acked { from: i64, to: i64 },
    Failed { from: i64, to: i64, message: Arc<str> },
    Drained(mpsc::Sender<()>),
}

/// Handle to the callback thread of one stream.
pub(crate) struct Callbacks {
    tx: mpsc::Sender<Event>,
    disabled: Arc<AtomicBool>,
}

impl Callbacks {
    pub fn spawn(callback: Arc<dyn AckCallback>) -> Self {
        let (tx, rx) = mpsc::channel::<Event>();
        let disabled = Arc::new(AtomicBool::new(false));
        let off = disabled.clone();
        let spawned = std::thread::Builder::new().name("zerobus-callbacks".into()).spawn(move || {
            for event in rx {
                match event {
                    Event::Drained(done) => {
                        let _ = done.send(());
                    }
                    Event::Acked { from, to } => {
                        for offset in from..=to {
                            if off.load(Ordering::Acquire) {
                                break;
                            }
                            guard("on_ack", || callback.on_ack(offset));
                        }
                    }
                    Event::Failed { from, to, message } => {
                        for offset in from..=to {
                            if off.load(Ordering::Acquire) {
                                break;
                            }
                            guard("on_error", || callback.on_error(offset, &message));
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!("could not start the ack callback thread: {e}; callbacks are off");
            disabled.store(true, Ordering::Release);
        }
        Callbacks { tx, disabled }
    }

    pub fn acked(&self, from: i64, to: i64) {
        let _ = self.tx.send(Event::Acked { from, to });
    }

    pub fn failed(&self, from: i64, to: i64, message: &str) {
        if from <= to {
            let _ = self.tx.send(Event::Failed { from, to, message: message.into() });
        }
    }

    /// Waits until every event queued so far was delivered (at most `bound`), then turns
    /// delivery off so no callback starts after `close()` returns.
    pub async fn drain_and_stop(&self, bound: Option<Duration>) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Event::Drained(done_tx)).is_ok() {
            let wait = tokio::task::spawn_blocking(move || match bound {
                Some(b) => done_rx.recv_timeout(b).is_ok(),
                None => done_rx.recv().is_ok(),
            });
            if !wait.await.unwrap_or(false) {
                tracing::warn!("ack callbacks still running when close() gave up waiting for them");
            }
        }
        self.disabled.store(true, Ordering::Release);
    }
}

fn guard(what: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        tracing::error!("the {what} callback panicked; the stream carries on");
    }
}
