//! The live progress line (stderr, terminals only) and the final summary line.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the progress line may be redrawn.
pub const REFRESH: Duration = Duration::from_millis(100);

/// Window over which the live rates are measured: long enough to be steady, short enough to show
/// a stall within a second.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Counters at one moment, for the progress line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    /// Records handed to the stream.
    pub sent: u64,
    /// Records acknowledged as durable.
    pub acked: u64,
    /// Payload bytes handed to the stream.
    pub bytes: u64,
}

/// A one-line progress display, redrawn in place. Does nothing unless stderr is a terminal, so
/// logs and pipes never see carriage returns.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    total: Option<u64>,
    last_draw: Option<Instant>,
    samples: VecDeque<(Instant, Snapshot)>,
    drawn: bool,
}

impl Progress {
    /// A progress line for `total` records when known.
    pub fn new(total: Option<u64>) -> Self {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            total,
            last_draw: None,
            samples: VecDeque::new(),
            drawn: false,
        }
    }

    /// Whether anything will be drawn.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Redraws the line with `now`'s counters, at most every [`REFRESH`].
    pub fn update(&mut self, now: Snapshot) {
        if !self.enabled {
            return;
        }
        let t = Instant::now();
        if self.last_draw.is_some_and(|last| t - last < REFRESH) {
            return;
        }
        self.last_draw = Some(t);
        self.samples.push_back((t, now));
        while self.samples.len() > 2 && t - self.samples[1].0 >= RATE_WINDOW {
            self.samples.pop_front();
        }
        let (t0, then) = self.samples[0];
        let secs = (t - t0).as_secs_f64();
        let (rps, mbps) = if secs > 0.0 {
            ((now.sent - then.sent) as f64 / secs, (now.bytes - then.bytes) as f64 / secs / 1e6)
        } else {
            (0.0, 0.0)
        };
        let of_total = match self.total {
            Some(total) if total > 0 => {
                format!("/{total} ({:.0}%)", now.sent as f64 * 100.0 / total as f64)
            }
            _ => String::new(),
        };
        let line = format!(
            "sent {}{of_total}  acked {}  {:.0} records/s  {:.2} MB/s",
            now.sent, now.acked, rps, mbps
        );
        let mut err = std::io::stderr().lock();
        // \r + "erase line" keeps a shorter line from leaving the tail of a longer one behind.
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erases the line, so the summary and errors start on a clean line.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// What the final line of `zerobus ingest` reports.
pub struct Totals {
    /// Records handed to the stream.
    pub queued: u64,
    /// Records acknowledged as durable.
    pub acked: u64,
    /// Reconnects.
    pub recoveries: u64,
    /// Records sent again after a reconnect.
    pub resent: u64,
    /// Record payload bytes queued.
    pub bytes: u64,
    /// From the first record to the end of close.
    pub elapsed: Duration,
}

/// The final line of `zerobus ingest`:
/// `queued: N  acked: N  recoveries: R  resent: N  elapsed: 1.23s  rate: 812345 records/s  19.87 MB/s`,
/// where the rate counts acknowledged records and MB is 10^6 bytes of record payload queued.
pub fn summary(t: &Totals) -> String {
    let secs = t.elapsed.as_secs_f64();
    let (rps, mbps) =
        if secs > 0.0 { (t.acked as f64 / secs, t.bytes as f64 / secs / 1e6) } else { (0.0, 0.0) };
    format!(
        "queued: {}  acked: {}  recoveries: {}  resent: {}  elapsed: {secs:.2}s  rate: {rps:.0} records/s  {mbps:.2} MB/s",
        t.queued, t.acked, t.recoveries, t.resent
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_format() {
        let t = Totals {
            queued: 1000,
            acked: 1000,
            recoveries: 1,
            resent: 20,
            bytes: 220_000,
            elapsed: Duration::from_millis(500),
        };
        assert_eq!(
            summary(&t),
            "queued: 1000  acked: 1000  recoveries: 1  resent: 20  elapsed: 0.50s  rate: 2000 records/s  0.44 MB/s"
        );
        let zero =
            Totals { queued: 0, acked: 0, recoveries: 0, resent: 0, bytes: 0, elapsed: Duration::ZERO };
        assert!(summary(&zero).contains("rate: 0 records/s  0.00 MB/s"));
    }
}
