//! Sending: the request stream tonic polls for one connection. It yields `create_stream` (the
//! schema message on an Arrow stream), then the queued calls from the cursor once the server
//! answered (an Arrow call as one message per physical batch), and ends (END_STREAM) when
//! `close()` has everything acked, or when a newer connection replaced it.

use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;

use super::state::Shared;
use crate::wire::Outgoing;

/// The requests of one connection: `create_stream`, then queued calls from the cursor.
pub(super) struct RequestStream {
    pub shared: Arc<Shared>,
    pub generation: u64,
    pub create: Option<Bytes>,
}

impl futures_core::Stream for RequestStream {
    type Item = Outgoing;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        if let Some(create) = self.create.take() {
            return Poll::Ready(Some(Outgoing::Raw(create)));
        }
        let shared = self.shared.clone();
        let mut st = shared.lock();
        if st.generation != self.generation {
            return Poll::Ready(None);
        }
        if st.ready && !st.paused && st.cursor < st.queue.len() {
            let logical = st.first_offset + st.cursor as i64;
            if st.cursor == 0 && st.part == 0 {
                // Records start waiting for acks now: the lack-of-ack clock starts here.
                st.last_heard = Instant::now();
            }
            let call = &st.queue[st.cursor];
            let (item, records, last_part) = match &call.flight {
                None => {
                    let item = Outgoing::Call {
                        wire_offset: logical - st.wire_base,
                        batch: call.is_batch(),
                        body: call.body.clone(),
                    };
                    (item, u64::from(call.records), true)
                }
                Some(parts) => {
                    let part = &parts[st.part];
                    let item = Outgoing::Flight {
                        offset_id: st.conn_parts,
                        header: part.header.clone(),
                        body: part.body.clone(),
                    };
                    let rows = u64::from(part.rows);
                    let last = st.part + 1 == parts.len();
                    st.conn_parts += 1;
                    st.conn_rows_sent += rows;
                    st.part = if last { 0 } else { st.part + 1 };
                    (item, rows, last)
                }
            };
            let resent = logical <= st.max_sent;
            if last_part {
                st.cursor += 1;
                // Set once the whole call is out, so the later parts of a call are not resends.
                st.max_sent = st.max_sent.max(logical);
            }
            drop(st);
            shared.counters.records_sent.fetch_add(records, Relaxed);
            if resent {
                shared.counters.records_resent.fetch_add(records, Relaxed);
            }
            return Poll::Ready(Some(item));
        }
        if st.finishing && st.cursor == st.queue.len() {
            return Poll::Ready(None); // END_STREAM
        }
        if !st.sender.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.sender = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}
