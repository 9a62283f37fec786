//! Stream options: the names and defaults of the published SDKs (PROTOCOL.md §6), plus a byte
//! bound on in-flight data that they lack.

use std::fmt;
use std::sync::Arc;

/// How records are encoded on the wire. Values equal the wire enum `RecordType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(i32)]
pub enum RecordType {
    /// Protocol buffer messages described by the descriptor sent when the stream opens.
    #[default]
    Proto = 1,
    /// One JSON object per record, sent as text.
    Json = 2,
}

/// Receives the outcome of every ingest call, once per offset, in offset order.
///
/// Callbacks run on an SDK thread, never while the SDK holds a lock, and never after `close()`
/// has returned. A panic inside a callback is caught and logged; the stream carries on.
pub trait AckCallback: Send + Sync {
    /// Offset `offset` (and with it every earlier one) is durable.
    fn on_ack(&self, offset: i64);
    /// Offset `offset` failed for good: the stream hit a terminal error before it was acked.
    /// The records stay available from `get_unacked_records()` / `get_unacked_batches()`.
    fn on_error(&self, offset: i64, message: &str);
}

/// Default bound on unacknowledged ingest calls.
///
/// The published SDKs default to 1,000,000 calls with no byte bound, which lets a slow server grow
/// the queue to gigabytes. 50,000 calls covers the service's per-stream rate (about 100,000
/// records/s) times a typical ack latency (150–500 ms), so a stream stays saturated.
pub const DEFAULT_MAX_INFLIGHT_REQUESTS: usize = 50_000;

/// Default bound on unacknowledged record bytes: 64 MiB covers the service's 100 MB/s per-stream
/// limit over 500 ms of ack latency with room to spare, and caps memory whatever the record size.
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 64 * 1024 * 1024;

/// Default cap on the wait between connection attempts: 30 s.
pub const DEFAULT_RECOVERY_BACKOFF_MAX_MS: u64 = 30_000;

/// Longest any time option may be: 24 hours. Larger values are almost certainly a mistake (a
/// negative number passed as unsigned, seconds taken for milliseconds) and would overflow timers.
pub const MAX_OPTION_MS: u64 = 24 * 60 * 60 * 1000;

/// Largest payload one ingest call (a record or a batch) may carry: 10 MiB − 64 KiB.
pub const MAX_CALL_PAYLOAD_BYTES: usize = 10 * 1024 * 1024 - 64 * 1024;

/// Options for one stream. Field names follow the published SDKs; every value, including zero,
/// can be set.
#[derive(Clone)]
pub struct StreamConfigurationOptions {
    /// At most this many ingest calls (a record or a batch each) wait for acks; past it, ingest
    /// waits (or the `try_` form returns `QUEUE_FULL`). Default [`DEFAULT_MAX_INFLIGHT_REQUESTS`].
    pub max_inflight_requests: usize,
    /// At most this many record bytes wait for acks. Default [`DEFAULT_MAX_INFLIGHT_BYTES`]. A
    /// single call larger than the bound is still accepted when nothing else is in flight.
    pub max_inflight_bytes: usize,
    /// Reconnect and resend unacked calls after a retryable failure. Default true.
    pub recovery: bool,
    /// Bound on each connection attempt (token, connect, create_stream answer). Default 15,000.
    pub recovery_timeout_ms: u64,
    /// Wait before the second connection attempt in a row; each later attempt waits twice as
    /// long as the one before, up to [`recovery_backoff_max_ms`](Self::recovery_backoff_max_ms),
    /// plus up to a quarter more at random (jitter, so many clients do not reconnect in step).
    /// The first attempt after a connection that delivered acks (or that the server asked to
    /// replace) does not wait. Default 2,000.
    pub recovery_backoff_ms: u64,
    /// Cap on the exponential wait between connection attempts (before jitter). Default
    /// [`DEFAULT_RECOVERY_BACKOFF_MAX_MS`]: with the other defaults the attempts come at about
    /// 0, 2, 6 and 14 s, so a stream rides out an outage of 10 s.
    pub recovery_backoff_max_ms: u64,
    /// Connection attempts in a row without an ack before the stream fails for good (an ack
    /// restores the budget). Default 4.
    pub recovery_retries: u32,
    /// Records waiting for acks and nothing heard from the server for this long: reconnect.
    /// Default 60,000.
    pub server_lack_of_ack_timeout_ms: u64,
    /// Bound on `flush()` and `close()`'s flush. Default 300,000.
    pub flush_timeout_ms: u64,
    /// JSON or PROTO. Default PROTO (as published); JSON when chosen.
    pub record_type: RecordType,
    /// After a `CloseStreamSignal`, wait at most this long for outstanding acks before
    /// reconnecting. `None` = the server's announced duration; `Some(0)` = reconnect at once.
    pub stream_paused_max_wait_time_ms: Option<u64>,
    /// How long `close()` waits for ack callbacks still running. `None` = no bound. Default 5,000.
    pub callback_max_wait_time_ms: Option<u64>,
    /// Per-offset ack and error notifications. Default none.
    pub ack_callback: Option<Arc<dyn AckCallback>>,
}

impl Default for StreamConfigurationOptions {
    fn default() -> Self {
        StreamConfigurationOptions {
            max_inflight_requests: DEFAULT_MAX_INFLIGHT_REQUESTS,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            recovery: true,
            recovery_timeout_ms: 15_000,
            recovery_backoff_ms: 2_000,
            recovery_backoff_max_ms: DEFAULT_RECOVERY_BACKOFF_MAX_MS,
            recovery_retries: 4,
            server_lack_of_ack_timeout_ms: 60_000,
            flush_timeout_ms: 300_000,
            record_type: RecordType::Proto,
            stream_paused_max_wait_time_ms: None,
            callback_max_wait_time_ms: Some(5_000),
            ack_callback: None,
        }
    }
}

impl fmt::Debug for StreamConfigurationOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConfigurationOptions")
            .field("max_inflight_requests", &self.max_inflight_requests)
            .field("max_inflight_bytes", &self.max_inflight_bytes)
            .field("recovery", &self.recovery)
            .field("recovery_timeout_ms", &self.recovery_timeout_ms)
            .field("recovery_backoff_ms", &self.recovery_backoff_ms)
            .field("recovery_backoff_max_ms", &self.recovery_backoff_max_ms)
            .field("recovery_retries", &self.recovery_retries)
            .field("server_lack_of_ack_timeout_ms", &self.server_lack_of_ack_timeout_ms)
            .field("flush_timeout_ms", &self.flush_timeout_ms)
            .field("record_type", &self.record_type)
            .field("stream_paused_max_wait_time_ms", &self.stream_paused_max_wait_time_ms)
            .field("callback_max_wait_time_ms", &self.callback_max_wait_time_ms)
            .field("ack_callback", &self.ack_callback.as_ref().map(|_| "set"))
            .finish()
    }
}

impl StreamConfigurationOptions {
    /// Checks every option against its range (see each field), once, for every binding: the
    /// error names the option, the value and the range. `create_stream` calls it; nothing is sent
    /// with options out of range.
    pub fn validate(&self) -> crate::ZerobusResult<()> {
        let ms = |name: &str, value: u64, min: u64| check(name, value, min, MAX_OPTION_MS, " ms");
        check(
            "max_inflight_requests",
            self.max_inflight_requests as u64,
            0,
            MAX_INFLIGHT_REQUESTS_LIMIT,
            "",
        )?;
        check("max_inflight_bytes", self.max_inflight_bytes as u64, 0, MAX_INFLIGHT_BYTES_LIMIT, " bytes")?;
        ms("recovery_timeout_ms", self.recovery_timeout_ms, 1)?;
        ms("recovery_backoff_ms", self.recovery_backoff_ms, 0)?;
        ms("recovery_backoff_max_ms", self.recovery_backoff_max_ms, 0)?;
        if self.recovery_backoff_max_ms < self.recovery_backoff_ms {
            return Err(crate::ZerobusError::invalid_argument(format!(
                "option recovery_backoff_max_ms ({} ms) is below recovery_backoff_ms ({} ms); raise the cap or lower the first wait",
                self.recovery_backoff_max_ms, self.recovery_backoff_ms
            )));
        }
        check("recovery_retries", u64::from(self.recovery_retries), 0, MAX_RECOVERY_RETRIES, "")?;
        ms("server_lack_of_ack_timeout_ms", self.server_lack_of_ack_timeout_ms, 0)?;
        ms("flush_timeout_ms", self.flush_timeout_ms, 1)?;
        if let Some(v) = self.stream_paused_max_wait_time_ms {
            ms("stream_paused_max_wait_time_ms", v, 0)?;
        }
        if let Some(v) = self.callback_max_wait_time_ms {
            ms("callback_max_wait_time_ms", v, 0)?;
        }
        Ok(())
    }
}

/// Largest `max_inflight_requests` accepted (100 million calls).
pub const MAX_INFLIGHT_REQUESTS_LIMIT: u64 = 100_000_000;
/// Largest `max_inflight_bytes` accepted (1 TiB).
pub const MAX_INFLIGHT_BYTES_LIMIT: u64 = 1 << 40;
/// Largest `recovery_retries` accepted.
pub const MAX_RECOVERY_RETRIES: u64 = 10_000;

fn check(name: &str, value: u64, min: u64, max: u64, unit: &str) -> crate::ZerobusResult<()> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    // A value past i64::MAX is almost always a negative number that a binding passed as unsigned.
    let hint = if value > i64::MAX as u64 { " (a negative number?)" } else { "" };
    Err(crate::ZerobusError::invalid_argument(format!(
        "option {name} is {value}{unit}{hint}; it must be between {min} and {max}{unit}"
    )))
}

/// The table a stream writes to and, for PROTO streams, the record schema.
#[derive(Clone, Debug, Default)]
pub struct TableProperties {
    /// Three-part Unity Catalog name, `catalog.schema.table`.
    pub table_name: String,
    /// The record message type of a PROTO stream (ignored for JSON). `None` on a PROTO stream
    /// means "from the table": the SDK reads the table's schema from Unity Catalog when it
    /// creates the stream, derives the descriptor from it, and encodes JSON records given to the
    /// stream by the columns' types.
    pub descriptor_proto: Option<prost_types::DescriptorProto>,
}

impl TableProperties {
    /// A JSON table (no descriptor).
    pub fn new(table_name: impl Into<String>) -> Self {
        TableProperties { table_name: table_name.into(), descriptor_proto: None }
    }
}

/// Splits and checks a `catalog.schema.table` name.
pub(crate) fn parse_table_name(name: &str) -> crate::ZerobusResult<(&str, &str, &str)> {
    let mut parts = name.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(c), Some(s), Some(t), None)
            if [c, s, t].iter().all(|p| !p.is_empty() && !p.chars().any(char::is_whitespace)) =>
        {
            Ok((c, s, t))
        }
        _ => Err(crate::ZerobusError::invalid_argument(format!(
            "table name {name:?} is not a three-part `catalog.schema.table` name"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each option out of its range is refused with a message naming the option, the value and
    /// the range (docs/bad-input.md lists these rows).
    #[test]
    fn every_option_is_range_checked() {
        let d = StreamConfigurationOptions::default;
        let cases: Vec<(&str, StreamConfigurationOptions)> = vec![
            (
                "max_inflight_requests",
                StreamConfigurationOptions { max_inflight_requests: 200_000_000, ..d() },
            ),
            ("max_inflight_bytes", StreamConfigurationOptions { max_inflight_bytes: usize::MAX, ..d() }),
            ("recovery_timeout_ms", StreamConfigurationOptions { recovery_timeout_ms: 0, ..d() }),
            (
                "recovery_backoff_ms",
                StreamConfigurationOptions { recovery_backoff_ms: MAX_OPTION_MS + 1, ..d() },
            ),
            ("recovery_backoff_max_ms", StreamConfigurationOptions { recovery_backoff_max_ms: 10, ..d() }),
            ("recovery_retries", StreamConfigurationOptions { recovery_retries: 10_001, ..d() }),
            (
                "server_lack_of_ack_timeout_ms",
                StreamConfigurationOptions { server_lack_of_ack_timeout_ms: u64::MAX, ..d() },
            ),
            ("flush_timeout_ms", StreamConfigurationOptions { flush_timeout_ms: 0, ..d() }),
            (
                "stream_paused_max_wait_time_ms",
                StreamConfigurationOptions { stream_paused_max_wait_time_ms: Some(u64::MAX - 1), ..d() },
            ),
            (
                "callback_max_wait_time_ms",
                StreamConfigurationOptions { callback_max_wait_time_ms: Some(MAX_OPTION_MS + 1), ..d() },
            ),
        ];
        for (name, options) in cases {
            let e = options.validate().unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::InvalidArgument, "{name}");
            assert!(e.message().contains(name), "{name}: {}", e.message());
        }
        assert!(StreamConfigurationOptions::default().validate().is_ok());
        // Zeros that mean something stay allowed.
        let zeros = StreamConfigurationOptions {
            max_inflight_requests: 0,
            max_inflight_bytes: 0,
            recovery_retries: 0,
            recovery_backoff_ms: 0,
            server_lack_of_ack_timeout_ms: 0,
            stream_paused_max_wait_time_ms: Some(0),
            ..d()
        };
        assert!(zeros.validate().is_ok());
    }

    #[test]
    fn a_negative_number_passed_as_unsigned_is_called_out() {
        let o = StreamConfigurationOptions { flush_timeout_ms: -1i64 as u64, ..Default::default() };
        assert!(o.validate().unwrap_err().message().contains("a negative number?"));
    }
}
