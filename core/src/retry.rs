//! The retry budget: whether a failed connection is tried again, and how long to wait first.
//!
//! A run of failures starts when a connection is lost (or the first open fails) and ends at the
//! next ack. Within a run at most `recovery_retries` connection attempts are made (the first open
//! counts its first attempt too, so it makes `recovery_retries` in all, at least one). The first
//! attempt after a connection that delivered acks, or that the server asked the client to replace
//! (CloseStreamSignal), goes at once: the server was just there. Every later attempt waits
//! `recovery_backoff_ms`, doubling each time up to `recovery_backoff_max_ms`, plus up to a quarter
//! more at random so that many clients cut off together do not come back in step. With the
//! defaults (2 s doubling, 4 attempts) the attempts come at about 0, 2, 6 and 14 s after the loss:
//! a 10-second outage is ridden out.
//!
//! Codes decide the rest: a final code ends the run at once; UNAUTHENTICATED from the server gets
//! one immediate retry with a fresh token per run; PERMISSION_DENIED drops the cached token (so
//! the next stream asks anew) and is final.

use std::time::{Duration, Instant};

use crate::options::StreamConfigurationOptions;
use crate::{ErrorCode, ZerobusError};

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Try again after this wait (zero: at once).
    RetryAfter(Duration),
    /// Stop: the stream fails with this error.
    GiveUp(ZerobusError),
}

/// What the budget needs from the caller besides the error: whether the server may be asked for
/// a fresh token.
pub(crate) trait TokenCache {
    /// Drops the cached token so the next attempt fetches a new one.
    fn invalidate_token(&self);
}

/// Counts attempts and waits within one run of failures.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    recovery: bool,
    retries: u32,
    base: Duration,
    cap: Duration,
    /// Attempts that failed in this run.
    failed: u32,
    /// Waits taken in this run (the exponent of the next wait).
    waits: u32,
    /// The one token refresh of this run is still available.
    auth_refresh_left: bool,
    /// When this run began.
    since: Option<Instant>,
    /// Attempts allowed in this run: `recovery_retries`, or at least one for the first open.
    limit: u32,
}

impl RetryBudget {
    /// The budget of a stream's first open.
    pub fn for_open(opts: &StreamConfigurationOptions) -> Self {
        let mut b = Self::new(opts);
        b.limit = b.retries.max(1);
        b
    }

    /// The budget of a stream that is connected (used after the first open succeeded).
    pub fn new(opts: &StreamConfigurationOptions) -> Self {
        RetryBudget {
            recovery: opts.recovery,
            retries: opts.recovery_retries,
            base: Duration::from_millis(opts.recovery_backoff_ms),
            cap: Duration::from_millis(opts.recovery_backoff_max_ms.max(opts.recovery_backoff_ms)),
            failed: 0,
            waits: 0,
            auth_refresh_left: true,
            since: None,
            limit: opts.recovery_retries,
        }
    }

    /// An ack arrived: the next failure starts a new run with the whole budget.
    pub fn progress(&mut self) {
        self.failed = 0;
        self.waits = 0;
        self.auth_refresh_left = true;
        self.since = None;
        self.limit = self.retries;
    }

    /// The current connection was lost (or replaced) with `error`; `immediate` when it delivered
    /// acks or the server asked for a new connection, so the first new attempt need not wait.
    /// Returns what to do before the first new attempt.
    pub fn connection_lost(&mut self, error: ZerobusError, immediate: bool, tokens: &dyn TokenCache) -> Next {
        match self.since {
            // A connection opened within this run and lost before any ack: the attempt that
            // opened it did not help, so it counts as failed.
            Some(_) => self.failed += 1,
            None => self.since = Some(Instant::now()),
        }
        self.decide(error, immediate, tokens)
    }

    /// A connection attempt failed with `error`. Returns what to do next.
    pub fn attempt_failed(&mut self, error: ZerobusError, tokens: &dyn TokenCache) -> Next {
        self.since.get_or_insert_with(Instant::now);
        self.failed += 1;
        self.decide(error, false, tokens)
    }

    fn decide(&mut self, error: ZerobusError, immediate: bool, tokens: &dyn TokenCache) -> Next {
        let from_server = error.grpc_status().is_some();
        match error.code() {
            ErrorCode::Unauthenticated if from_server => {
                // The server refused the token: drop it and try once, at once, with a fresh one.
                tokens.invalidate_token();
                if self.recovery && self.auth_refresh_left {
                    self.auth_refresh_left = false;
                    return Next::RetryAfter(Duration::ZERO);
                }
                return Next::GiveUp(error);
            }
            ErrorCode::PermissionDenied if from_server => {
                tokens.invalidate_token();
                return Next::GiveUp(error);
            }
            _ => {}
        }
        if !error.is_retryable() || !self.recovery {
            return Next::GiveUp(error);
        }
        if self.failed >= self.limit {
            let elapsed = self.since.map(|s| s.elapsed()).unwrap_or_default();
            return Next::GiveUp(error.context(&format!(
                "recovery gave up after {} connection attempt{} over {:.1} s (recovery_retries {}, recovery_backoff_ms {}, recovery_backoff_max_ms {})",
                self.failed,
                if self.failed == 1 { "" } else { "s" },
                elapsed.as_secs_f64(),
                self.retries,
                self.base.as_millis(),
                self.cap.as_millis()
            )));
        }
        if immediate && self.failed == 0 {
            return Next::RetryAfter(Duration::ZERO);
        }
        let wait = self.base.saturating_mul(1 << self.waits.min(31)).min(self.cap);
        self.waits += 1;
        Next::RetryAfter(wait + jitter(wait))
    }
}

/// Up to a quarter of `wait`, at random.
fn jitter(wait: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS per instance: enough randomness to spread reconnects.
    let r = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let quarter = wait.as_nanos() as u64 / 4;
    if quarter == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(r % quarter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[derive(Default)]
    struct Tokens(Cell<u32>);
    impl TokenCache for Tokens {
        fn invalidate_token(&self) {
            self.0.set(self.0.get() + 1);
        }
    }

    fn unavailable() -> ZerobusError {
        ZerobusError::new(ErrorCode::Unavailable, "connection refused")
    }

    fn opts(retries: u32, base: u64, cap: u64) -> StreamConfigurationOptions {
        StreamConfigurationOptions {
            recovery_retries: retries,
            recovery_backoff_ms: base,
            recovery_backoff_max_ms: cap,
            ..Default::default()
        }
    }

    fn wait_ms(next: Next) -> u64 {
        match next {
            Next::RetryAfter(d) => d.as_millis() as u64,
            Next::GiveUp(e) => panic!("gave up: {e}"),
        }
    }

    /// The restart seen in the field: a busy stream loses its server; every attempt is refused
    /// until the server is back. The first attempt goes at once, then the waits grow.
    #[test]
    fn waits_grow_after_the_immediate_first_attempt() {
        let t = Tokens::default();
        let mut b = RetryBudget::new(&opts(4, 2000, 30_000));
        let first = wait_ms(b.connection_lost(unavailable(), true, &t));
        assert_eq!(first, 0);
        let waits: Vec<u64> = (0..3).map(|_| wait_ms(b.attempt_failed(unavailable(), &t))).collect();
        for (w, nominal) in waits.iter().zip([2000, 4000, 8000]) {
            assert!((nominal..nominal + nominal / 4).contains(w), "wait {w}, nominal {nominal}");
        }
        // With the defaults, the fourth attempt comes at least 14 s after the loss: a 10 s
        // outage is covered.
        assert!(waits.iter().sum::<u64>() >= 14_000);
        match b.attempt_failed(unavailable(), &t) {
            Next::GiveUp(e) => {
                assert_eq!(e.code(), ErrorCode::Unavailable);
                assert!(e.message().contains("after 4 connection attempts over"), "{}", e.message());
                assert!(e.message().contains("connection refused"), "{}", e.message());
            }
            other => panic!("expected to give up, got {other:?}"),
        }
    }

    /// A server that accepts connections and drops them before any ack: each such connection
    /// spends budget, so the stream ends after 1 + recovery_retries connections.
    #[test]
    fn connections_lost_before_any_ack_spend_the_budget() {
        let t = Tokens::default();
        let mut b = RetryBudget::new(&opts(2, 1, 1));
        wait_ms(b.connection_lost(unavailable(), false, &t));
        wait_ms(b.connection_lost(unavailable(), false, &t));
        assert!(matches!(b.connection_lost(unavailable(), false, &t), Next::GiveUp(_)));
        // Pauses without progress count as well, and only the first goes at once.
        let mut b = RetryBudget::new(&opts(3, 50, 50));
        assert_eq!(wait_ms(b.connection_lost(unavailable(), true, &t)), 0);
        assert!(wait_ms(b.connection_lost(unavailable(), true, &t)) >= 50);
    }

    #[test]
    fn a_connection_without_progress_waits_before_the_first_attempt() {
        let t = Tokens::default();
        let mut b = RetryBudget::new(&opts(4, 100, 1000));
        assert!(wait_ms(b.connection_lost(unavailable(), false, &t)) >= 100);
    }

    #[test]
    fn the_wait_is_capped() {
        let t = Tokens::default();
        let mut b = RetryBudget::new(&opts(100, 100, 450));
        b.connection_lost(unavailable(), false, &t);
        let waits: Vec<u64> = (0..10).map(|_| wait_ms(b.attempt_failed(unavailable(), &t))).collect();
        // A quarter of 450 ms is 112.5 ms, so a whole-millisecond wait can be 562.
        assert!(waits.iter().skip(3).all(|w| (450..=562).contains(w)), "{waits:?}");
    }

    #[test]
    fn progress_restores_the_budget() {
        let t = Tokens::default();
        let mut b = RetryBudget::new(&opts(2, 10, 10));
        // recovery_retries 0: no reconnect at all.
        let mut none = RetryBudget::new(&opts(0, 10, 10));
        assert!(matches!(none.connection_lost(unavailable(), true, &t), Next::GiveUp(_)));
        for _ in 0..5 {
            assert_eq!(wait_ms(b.connection_lost(unavailable(), true, &t)), 0);
            wait_ms(b.attempt_failed(unavailable(), &t));
            b.progress();
        }
    }

    #[test]
    fn first_open_counts_its_first_attempt() {
        let t = Tokens::default();
        let mut b = RetryBudget::for_open(&opts(3, 1, 1));
        wait_ms(b.attempt_failed(unavailable(), &t));
        wait_ms(b.attempt_failed(unavailable(), &t));
        assert!(matches!(b.attempt_failed(unavailable(), &t), Next::GiveUp(_)));
        // recovery_retries 0 still makes the one first attempt.
        let mut b = RetryBudget::for_open(&opts(0, 1, 1));
        assert!(matches!(b.attempt_failed(unavailable(), &t), Next::GiveUp(_)));
    }

    #[test]
    fn final_codes_and_disabled_recovery_give_up_at_once() {
        let t = Tokens::default();
        let final_error = ZerobusError::with_grpc(ErrorCode::InvalidArgument, 3, "bad");
        let mut b = RetryBudget::new(&opts(4, 1, 1));
        assert_eq!(b.connection_lost(final_error.clone(), true, &t), Next::GiveUp(final_error));
        let mut off = RetryBudget::new(&StreamConfigurationOptions { recovery: false, ..Default::default() });
        match off.connection_lost(unavailable(), true, &t) {
            Next::GiveUp(e) => assert!(!e.message().contains("recovery gave up"), "{}", e.message()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unauthenticated_refreshes_the_token_once_per_run() {
        let t = Tokens::default();
        let refused = ZerobusError::with_grpc(ErrorCode::Unauthenticated, 16, "token expired");
        let mut b = RetryBudget::new(&opts(4, 1000, 1000));
        assert_eq!(wait_ms(b.connection_lost(refused.clone(), false, &t)), 0);
        assert!(matches!(b.attempt_failed(refused.clone(), &t), Next::GiveUp(_)));
        assert_eq!(t.0.get(), 2);
        b.progress();
        assert_eq!(wait_ms(b.connection_lost(refused, false, &t)), 0);
    }

    #[test]
    fn permission_denied_drops_the_token_and_is_final() {
        let t = Tokens::default();
        let denied = ZerobusError::with_grpc(ErrorCode::PermissionDenied, 7, "no MODIFY");
        let mut b = RetryBudget::new(&opts(4, 1, 1));
        assert!(matches!(b.connection_lost(denied, false, &t), Next::GiveUp(_)));
        assert_eq!(t.0.get(), 1);
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        for ms in [0u64, 1, 3, 4, 100, 2000] {
            let j = jitter(Duration::from_millis(ms));
            assert!(j <= Duration::from_millis(ms) / 4, "{ms}: {j:?}");
        }
    }
}
