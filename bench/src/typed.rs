//! The typed-encoding part of `make bench`: taxi-shaped rows ([`crate::taxi`]) as JSON lines →
//! proto, our typed encoder against prost-reflect on one core (`zerobus-bench-typed`). Ingesting
//! the same rows on every surface is `crate::taxi_surfaces`.

use std::fmt::Write as _;
use std::process::Command;

use crate::runner::{fmt_rate, fmt_ratio, ratio};
use crate::taxi;

/// Rows the encoder compares on.
const ENCODER_RECORDS: u64 = 200_000;
/// Rounds of the encoder comparison (the best counts: it runs on one core, undisturbed by I/O).
const ENCODER_ROUNDS: u32 = 5;

/// What the typed runs measured.
pub(crate) struct TypedResults {
    /// The encoder comparison, or why it did not run.
    encoder: Result<EncoderRun, String>,
    /// Mean JSON row length in bytes.
    row_bytes: usize,
}

struct EncoderRun {
    records: u64,
    input_mb: f64,
    /// MB of JSON input per CPU second.
    ours: f64,
    peer: f64,
}

/// Runs the encoder comparison with `typed_bin`.
pub(crate) fn run(typed_bin: &str) -> TypedResults {
    let row_bytes = taxi::mean_row_bytes();
    let encoder = run_encoder(typed_bin);
    match &encoder {
        Ok(e) => eprintln!(
            "{:>24} taxi rows, {} MB: ours {:.1} MB/s per core, prost-reflect {:.1}",
            "typed encoder", e.input_mb, e.ours, e.peer
        ),
        Err(e) => eprintln!("{:>24} FAILED {e}", "typed encoder"),
    }
    TypedResults { encoder, row_bytes }
}

fn run_encoder(bin: &str) -> Result<EncoderRun, String> {
    let out = Command::new(bin)
        .args(["--records", &ENCODER_RECORDS.to_string(), "--rounds", &ENCODER_ROUNDS.to_string()])
        .output()
        .map_err(|e| format!("cannot run {bin}: {e} (build it with `make bench-rust`)"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("RESULT ")).ok_or_else(|| {
        format!("{bin} printed no RESULT line: {}", String::from_utf8_lossy(&out.stderr).trim())
    })?;
    let field = |name: &str| -> Result<f64, String> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{bin}: no {name} in {line:?}"))
    };
    Ok(EncoderRun {
        records: field("records")? as u64,
        input_mb: field("input_mb")?,
        ours: field("ours_mb_per_cpu_s")?,
        peer: field("peer_mb_per_cpu_s")?,
    })
}

impl TypedResults {
    /// The encoder target row: (what, measured, holds).
    pub(crate) fn target(&self) -> (String, String, Option<bool>) {
        let what =
            "Typed encoder, taxi-shaped JSON lines → proto: ≥ 3× prost-reflect (MB of input per CPU second)";
        match &self.encoder {
            Ok(e) => {
                let x = ratio(Some(e.ours), Some(e.peer));
                (
                    what.into(),
                    format!("{}× ({:.0} vs {:.0} MB/s per core)", fmt_ratio(x), e.ours, e.peer),
                    x.map(|x| x >= 3.0),
                )
            }
            Err(e) => (what.into(), format!("not measured: {e}"), None),
        }
    }

    /// The report section.
    pub(crate) fn report(&self, w: &mut String) {
        let _ = writeln!(w, "\n## Typed encoding: taxi-shaped rows\n");
        let _ = writeln!(
            w,
            "The table `{}` has 20 columns (INT, SMALLINT, BIGINT, DOUBLE, STRING, TIMESTAMP, \
             DECIMAL(10,2), a nullable DOUBLE): `bench/src/taxi.rs`. Its rows are JSON lines of {} bytes \
             on average, with timestamps as integer µs and the decimal as a string, forms both encoders \
             take. Both must give the same message for the first 1,000 rows before they are timed.\n",
            taxi::TABLE,
            self.row_bytes
        );
        match &self.encoder {
            Ok(e) => {
                let _ = writeln!(
                    w,
                    "| Encoder ({} rows, {:.1} MB of JSON, one core, best of {ENCODER_ROUNDS}) | MB/s of input per CPU second | ÷ prost-reflect |",
                    fmt_rate(e.records as f64),
                    e.input_mb
                );
                let _ = writeln!(w, "|---|---:|---:|");
                let _ = writeln!(
                    w,
                    "| ours: `zerobus_schema::TypedEncoder` (one pass over the text) | {:.1} | {} |",
                    e.ours,
                    fmt_ratio(ratio(Some(e.ours), Some(e.peer)))
                );
                let _ = writeln!(
                    w,
                    "| prost-reflect 0.16: JSON → `DynamicMessage` → encode | {:.1} | 1.00 |",
                    e.peer
                );
            }
            Err(e) => {
                let _ = writeln!(w, "Encoder comparison not measured: {e}");
            }
        }
    }

    /// Failed runs, named for the runner's summary.
    pub(crate) fn failures(&self) -> Vec<String> {
        self.encoder.is_err().then(|| "typed encoder".to_owned()).into_iter().collect()
    }
}
