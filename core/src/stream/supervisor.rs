//! The supervisor: runs each connection of a stream, and when one ends reconnects and resends
//! what is unacked within the retry budget (`crate::retry`), or fails the stream for good so that
//! every pending offset fails and the records stay available from `get_unacked_*`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::connect::{open_connection, Live};
use super::receiver::{run_connection, End};
use super::state::Shared;
use crate::retry::{Next, RetryBudget};
use crate::{ZerobusError, ZerobusResult};

/// The first open of a stream, under the same budget as recovery, so a server that is briefly
/// unavailable does not fail stream creation.
pub(super) async fn open_first(shared: &Arc<Shared>) -> ZerobusResult<Live> {
    let mut budget = RetryBudget::for_open(&shared.opts);
    loop {
        let error = match open_connection(shared).await {
            Ok(live) => return Ok(live),
            Err(e) => e,
        };
        match budget.attempt_failed(error, &shared.auth) {
            Next::GiveUp(e) => return Err(e),
            Next::RetryAfter(wait) => tokio::time::sleep(wait).await,
        }
    }
}

/// Keeps the stream connected until `close()` finishes or the budget runs out.
pub(super) async fn supervise(shared: Arc<Shared>, first: Live) {
    let mut budget = RetryBudget::new(&shared.opts);
    let mut live = first;
    loop {
        let (error, progress, paused) = match run_connection(&shared, &mut live).await {
            End::Finished => return,
            End::Failed { error, progress, paused } => (error, progress, paused),
        };
        drop(live);
        {
            let st = shared.lock();
            if st.finishing && st.queue.is_empty() {
                return; // closing and nothing left to deliver: a failed END_STREAM loses nothing.
            }
        }
        if progress {
            budget.progress();
        }
        tracing::debug!("stream on {} lost its connection: {error}", shared.table.table_name);
        let mut next = budget.connection_lost(error, progress || paused, &shared.auth);
        live = loop {
            match next {
                Next::GiveUp(error) => {
                    fail_stream(&shared, error);
                    return;
                }
                Next::RetryAfter(wait) => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    match open_connection(&shared).await {
                        Ok(next_live) => {
                            shared.counters.recoveries.fetch_add(1, Relaxed);
                            break next_live;
                        }
                        Err(e) => next = budget.attempt_failed(e, &shared.auth),
                    }
                }
            }
        };
    }
}

/// Terminal failure: every pending offset fails, records stay for `get_unacked_*`.
pub(super) fn fail_stream(shared: &Shared, error: ZerobusError) {
    let (error, from, to, waiting) = {
        let mut st = shared.lock();
        if st.failed.is_some() {
            return;
        }
        let unacked: u64 = st.queue.iter().map(|c| u64::from(c.records)).sum();
        let error = if unacked > 0 {
            error.context_after(&format!(
                "{unacked} unacknowledged record{} in {} call{} stay available from get_unacked_batches(); re-ingest them on a new stream",
                if unacked == 1 { "" } else { "s" },
                st.queue.len(),
                if st.queue.len() == 1 { "" } else { "s" }
            ))
        } else {
            error
        };
        st.failed = Some(error.clone());
        if let Some(w) = st.retire_connection() {
            w.wake();
        }
        (error, st.first_offset, st.next_offset - 1, st.take_all_waiting())
    };
    tracing::warn!("stream on {} failed: {error}", shared.table.table_name);
    shared.progress.send_modify(|p| p.failed = Some(error.clone()));
    // Every waiting call fails now.
    for w in waiting {
        w.wake();
    }
    shared.space.notify_waiters();
    if let Some(cb) = &shared.callbacks {
        cb.failed(from, to, error.message());
    }
}
