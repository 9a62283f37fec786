//! The typed-encoding part of `make bench`: taxi-shaped rows ([`crate::taxi`]) as JSON lines →
//! proto, our typed encoder against prost-reflect on one core (`zerobus-bench-typed`), and the
//! Rust core ingesting the same rows as JSON and as typed PROTO (a stream from the table) against
//! a server that declares the table.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use crate::runner::{fmt_rate, fmt_ratio, median, ratio, run_driver, Run, Server};
use crate::taxi;

/// Rows the encoder compares on.
const ENCODER_RECORDS: u64 = 200_000;
/// Rounds of the encoder comparison (the best counts: it runs on one core, undisturbed by I/O).
const ENCODER_ROUNDS: u32 = 5;

/// What the typed runs measured.
pub(crate) struct TypedResults {
    /// The encoder comparison, or why it did not run.
    encoder: Result<EncoderRun, String>,
    /// Rust core ingest runs: (format, call label, median run).
    ingest: Vec<(&'static str, &'static str, Run)>,
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

const CALLS: [(&str, &str); 2] = [("batch 1000", "--mode batch --batch 1000"), ("single", "--mode single")];
const FORMATS: [&str; 2] = ["taxi", "taxi-typed"];
/// Runs the encoder comparison with `typed_bin` and the ingest runs with the `rust` surface's
/// `command` (if there is one) against `server`, which declares the taxi table.
pub(crate) fn run(
    typed_bin: &str,
    server: Result<&Server, &String>,
    command: Option<&str>,
    rounds: u32,
    seconds: f64,
) -> TypedResults {
    let row_bytes = (0..1000).map(|i| taxi::row(i).len()).sum::<usize>() / 1000;
    let encoder = run_encoder(typed_bin);
    match &encoder {
        Ok(e) => eprintln!(
            "{:>24} taxi rows, {} MB: ours {:.1} MB/s per core, prost-reflect {:.1}",
            "typed encoder", e.input_mb, e.ours, e.peer
        ),
        Err(e) => eprintln!("{:>24} FAILED {e}", "typed encoder"),
    }
    let mut ingest = Vec::new();
    if let Some(command) = command {
        match server {
            Err(e) => eprintln!("typed ingest: {e}"),
            Ok(server) => {
                let records = 1_000_000;
                for ((label, call), format) in CALLS.iter().flat_map(|c| FORMATS.map(|f| (*c, f))) {
                    let runs: Vec<Run> = (0..rounds.max(1))
                        .map(|round| {
                            let args =
                                format!("{call} --format {format} --records {records} --seconds {seconds}");
                            let run = run_driver(
                                command,
                                &args,
                                server,
                                row_bytes,
                                Duration::from_secs_f64(seconds + 90.0),
                            );
                            eprintln!(
                                "{:>24} {format:<10} {label:<10} round {}: {}",
                                "rust taxi",
                                round + 1,
                                run.error
                                    .as_deref()
                                    .map(|e| format!("FAILED {e}"))
                                    .unwrap_or_else(|| format!("{:>10.0} rec/s", run.rate()))
                            );
                            run
                        })
                        .collect();
                    ingest.push((format, label, median(runs)));
                }
            }
        }
    }
    TypedResults { encoder, ingest, row_bytes }
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
    fn ingest_rate(&self, format: &str, label: &str) -> Option<f64> {
        self.ingest
            .iter()
            .find(|(f, l, r)| *f == format && *l == label && r.error.is_none())
            .map(|(_, _, r)| r.rate())
    }

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

    /// The Rust core's rows/s for taxi JSON in batches of 1,000 (the Arrow target's baseline).
    pub(crate) fn json_batch_rate(&self) -> Option<f64> {
        self.ingest_rate("taxi", "batch 1000")
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
        if self.ingest.is_empty() {
            return;
        }
        let _ = writeln!(
            w,
            "\nThe Rust core ingesting the same rows against `zerobus serve --no-payloads --table …`: \
             `taxi` on a JSON stream (the server takes the text), `taxi-typed` on a PROTO stream created \
             from the table (core encodes each row by the table's types; the server decodes it against \
             the columns). Median of the rounds.\n"
        );
        let _ = writeln!(
            w,
            "| Stream | Call | rows/s | MB/s of JSON | client CPU s | server CPU s | client CPU s per M rows | ÷ JSON |"
        );
        let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|");
        for (label, _) in CALLS {
            for format in FORMATS {
                if let Some((_, _, run)) = self.ingest.iter().find(|(f, l, _)| *f == format && *l == label) {
                    let vs_json = if format == "taxi" {
                        String::new()
                    } else {
                        fmt_ratio(ratio(self.ingest_rate(format, label), self.ingest_rate("taxi", label)))
                    };
                    let per_million = if run.records > 0 {
                        format!("{:.2}", run.client_cpu / run.records as f64 * 1e6)
                    } else {
                        String::new()
                    };
                    let rate = match &run.error {
                        None => fmt_rate(run.rate()),
                        Some(e) => format!("failed: {e}"),
                    };
                    let stream = if format == "taxi" { "JSON" } else { "typed PROTO (from the table)" };
                    let _ = writeln!(
                        w,
                        "| {stream} | {label} | {rate} | {:.1} | {:.2} | {:.2} | {per_million} | {vs_json} |",
                        run.mb_per_s(),
                        run.client_cpu,
                        run.server_cpu
                    );
                }
            }
        }
    }

    /// Failed runs, named for the runner's summary.
    pub(crate) fn failures(&self) -> Vec<String> {
        let mut failed: Vec<String> = self
            .ingest
            .iter()
            .filter(|(_, _, r)| r.error.is_some())
            .map(|(f, l, _)| format!("rust/{f}/{l}"))
            .collect();
        if self.encoder.is_err() {
            failed.push("typed encoder".into());
        }
        failed
    }
}
