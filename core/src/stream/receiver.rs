//! Receiving: acks and control messages of one connection, until it ends. An ack frees the calls
//! it covers from the front of the queue and moves the watermark; a `CloseStreamSignal` pauses
//! sending until what was sent is acked (or the pause ends); silence while records wait past
//! `server_lack_of_ack_timeout_ms`, an error or an unexpected end hands the stream to the
//! supervisor.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zerobus_proto::ephemeral_stream_response::Payload as ResponsePayload;

use super::connect::Live;
use super::state::Shared;
use crate::wire::{EncodedCall, Incoming};
use crate::{ErrorCode, ZerobusError, ZerobusResult};

/// How a connection ended.
pub(super) enum End {
    /// `close()` finished: everything acked and the server ended the call.
    Finished,
    /// The connection failed or must be replaced; `progress` says whether any ack arrived, and
    /// `paused` that the server asked for a new connection (CloseStreamSignal) and got it drained.
    Failed { error: ZerobusError, progress: bool, paused: bool },
}

/// Reads acks and control messages until the connection ends.
pub(super) async fn run_connection(shared: &Arc<Shared>, live: &mut Live) -> End {
    let lack_of_ack = Duration::from_millis(shared.opts.server_lack_of_ack_timeout_ms);
    let mut progress = false;
    let mut pause_deadline: Option<Instant> = None;
    let fail = |error: ZerobusError, progress: bool| End::Failed { error, progress, paused: false };
    let paused = |progress: bool| End::Failed { error: paused_error(), progress, paused: true };
    loop {
        // Wake up for whichever comes first: the lack-of-ack deadline or the pause deadline.
        // With nothing in flight, still wake every `lack_of_ack` so that records sent meanwhile
        // are timed from when they were sent (`last_heard` is set then).
        let now = Instant::now();
        let mut wake_at = now + Duration::from_secs(3600);
        if !lack_of_ack.is_zero() {
            let st = shared.lock();
            wake_at = if st.cursor > 0 { st.last_heard + lack_of_ack } else { now + lack_of_ack };
        }
        if let Some(d) = pause_deadline {
            wake_at = wake_at.min(d);
        }
        let message = tokio::time::timeout_at(wake_at.into(), live.inbound.message()).await;
        let message = match message {
            Err(_) => {
                let now = Instant::now();
                if pause_deadline.is_some_and(|d| now >= d) {
                    return paused(progress);
                }
                let st = shared.lock();
                if st.cursor > 0 && !lack_of_ack.is_zero() && now >= st.last_heard + lack_of_ack {
                    return fail(
                        ZerobusError::new(
                            ErrorCode::Unavailable,
                            format!(
                                "no acknowledgement from the server for {} ms while records wait (server_lack_of_ack_timeout_ms); the server may be overloaded",
                                lack_of_ack.as_millis()
                            ),
                        ),
                        progress,
                    );
                }
                continue;
            }
            Ok(Err(status)) => return fail(shared.status_error(&status), progress),
            Ok(Ok(None)) => {
                let st = shared.lock();
                if st.finishing && st.queue.is_empty() {
                    return End::Finished;
                }
                return fail(
                    ZerobusError::new(
                        ErrorCode::Unavailable,
                        format!(
                            "server {} ended the stream without a status",
                            shared.transport.endpoint_str()
                        ),
                    ),
                    progress,
                );
            }
            Ok(Ok(Some(m))) => m,
        };
        let (ack, close) = match message {
            Incoming::Record(m) => match m.payload {
                Some(ResponsePayload::IngestRecordResponse(ack)) => {
                    let Some(wire_offset) = ack.durability_ack_up_to_offset else { continue };
                    (Some(Ack::Offset(wire_offset)), None)
                }
                Some(ResponsePayload::CloseStreamSignal(signal)) => {
                    let server_wait = signal
                        .duration
                        .map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
                        .unwrap_or_default();
                    (None, Some(server_wait))
                }
                Some(ResponsePayload::CreateStreamResponse(_)) => {
                    return fail(
                        ZerobusError::new(
                            ErrorCode::ProtocolError,
                            "server sent a second create_stream_response; report it to the service",
                        ),
                        progress,
                    );
                }
                None => continue,
            },
            // An Arrow ack may carry the close signal (`close_stream_duration_ms`).
            Incoming::Flight(ack) => (
                Some(Ack::Rows(ack.ack_up_to_records)),
                ack.close_stream_duration_ms.map(Duration::from_millis),
            ),
        };
        if let Some(ack) = ack {
            let applied = match ack {
                Ack::Offset(wire_offset) => apply_ack(shared, wire_offset),
                Ack::Rows(rows) => apply_rows_ack(shared, rows),
            };
            match applied {
                Ok(advanced) => progress |= advanced,
                Err(e) => return fail(e, progress),
            }
            if pause_deadline.is_some() && shared.lock().cursor == 0 {
                // Everything sent before the close signal is durable: reconnect now.
                return paused(progress);
            }
        }
        if let Some(server_wait) = close {
            shared.lock().last_heard = Instant::now();
            if !shared.opts.recovery {
                continue; // the server will end the call; that failure is final.
            }
            let wait =
                shared.opts.stream_paused_max_wait_time_ms.map(Duration::from_millis).unwrap_or(server_wait);
            let mut st = shared.lock();
            st.paused = true;
            if st.cursor == 0 || wait.is_zero() {
                drop(st);
                return paused(progress);
            }
            pause_deadline = Some(Instant::now() + wait);
        }
    }
}

/// A cumulative ack: a record stream's wire offset, or an Arrow stream's row count.
enum Ack {
    Offset(i64),
    Rows(u64),
}

fn paused_error() -> ZerobusError {
    ZerobusError::new(ErrorCode::Unavailable, "server asked to close the stream (CloseStreamSignal)")
}

/// Applies a cumulative ack; returns whether it acknowledged anything new.
fn apply_ack(shared: &Shared, wire_offset: i64) -> ZerobusResult<bool> {
    let mut st = shared.lock();
    let logical = st.wire_base + wire_offset;
    let last_acked = st.first_offset - 1;
    let last_sent = st.first_offset + st.cursor as i64 - 1;
    if logical < last_acked || logical > last_sent {
        return Err(ZerobusError::new(
            ErrorCode::ProtocolError,
            format!(
                "server acknowledged offset {wire_offset} on this connection, outside the acked..sent range {}..={}; report it to the service",
                last_acked - st.wire_base,
                last_sent - st.wire_base
            ),
        ));
    }
    st.last_heard = Instant::now();
    if logical == last_acked {
        return Ok(false);
    }
    ack_calls(shared, st, (logical - last_acked) as usize);
    Ok(true)
}

/// Applies an Arrow stream's `ack_up_to_records` (rows durable on this connection): the calls
/// whose rows are all durable are done; the rows of a call durable in part are remembered, so a
/// reconnect resends from its first unacked row. Returns whether any row was newly acked.
fn apply_rows_ack(shared: &Shared, rows: u64) -> ZerobusResult<bool> {
    let mut st = shared.lock();
    if rows < st.conn_rows_acked || rows > st.conn_rows_sent {
        return Err(ZerobusError::new(
            ErrorCode::ProtocolError,
            format!(
                "server acknowledged {rows} rows on this Arrow connection, outside the acked..sent range {}..={}; report it to the service",
                st.conn_rows_acked, st.conn_rows_sent
            ),
        ));
    }
    st.last_heard = Instant::now();
    let mut delta = rows - st.conn_rows_acked;
    let advanced = delta > 0;
    st.conn_rows_acked = rows;
    let mut done = 0usize;
    let mut partial = st.front_rows_acked;
    // A fully sent call is done once all its rows are durable (a call of no rows, once sent).
    while done < st.cursor {
        let remaining = u64::from(st.queue[done].records) - partial;
        if remaining > delta {
            break;
        }
        delta -= remaining;
        partial = 0;
        done += 1;
    }
    if delta > 0 {
        // Rows of the call being sent (or of the first call not done): durable in part.
        partial += delta;
    }
    st.front_rows_acked = partial;
    if done > 0 {
        ack_calls(shared, st, done);
    }
    Ok(advanced)
}

/// Frees the first `n` queued calls (acked), moves the watermark and tells the waiters.
fn ack_calls(shared: &Shared, mut st: std::sync::MutexGuard<'_, super::state::State>, n: usize) {
    let last_acked = st.first_offset - 1;
    let logical = last_acked + n as i64;
    // Freed after the lock is released, so the lock is held only for bookkeeping.
    let done: Vec<EncodedCall> = st.queue.drain(..n).collect();
    for call in &done {
        st.inflight_bytes -= call.size();
        st.inflight_records -= u64::from(call.records);
    }
    st.cursor -= n;
    st.first_offset = logical + 1;
    let turn = st.take_turn_waker();
    drop(st);
    drop(done);
    // Room appeared: the call whose turn it is may fit now (and flush may be waiting).
    if let Some(w) = turn {
        w.wake();
    }
    shared.space.notify_waiters();
    shared.progress.send_modify(|p| p.acked = logical);
    if let Some(cb) = &shared.callbacks {
        cb.acked(last_acked + 1, logical);
    }
}
