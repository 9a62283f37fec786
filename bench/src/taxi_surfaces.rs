//! The Arrow part of `make bench`: the taxi-shaped rows ([`crate::taxi`]) as Arrow record batches
//! of 10,000 rows on every surface that takes `--format taxi-arrow`, against a server that declares
//! the table; and, on the Python surfaces, the same rows as dict batches (what a Python user
//! without Arrow passes, and the published wheel's fastest record path).
//!
//! The drivers read the rows from a pool directory the runner writes first (`bench/DRIVER.md`,
//! "Taxi rows from the pool directory"), so every surface ingests the same bytes.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::runner::{fmt_rate, fmt_ratio, median, ratio, run_driver, Run, Server};
use crate::taxi;

/// Rows per Arrow call (the batches of 10,000).
pub(crate) const ARROW_BATCH: usize = 10_000;
/// Rows an Arrow run offers: the 10 M-row table (runs stop earlier at `--seconds`).
const ROWS: u64 = 10_000_000;
/// Dicts per call in the Python dict runs (the published wheel's batch form).
const DICT_BATCH: usize = 1000;

/// The surfaces whose drivers take `--format taxi-arrow --pool DIR` (others are skipped).
pub(crate) const SURFACES: [&str; 8] =
    ["rust", "go", "java", "kotlin", "node", "c", "python", "published-python"];
/// The surfaces that also run `--format taxi` (dicts from the pool) in batches of 1,000.
const DICT_SURFACES: [&str; 2] = ["python", "published-python"];

/// One measured case: (surface, format, median run).
type Case = (String, &'static str, Run);

/// What the Arrow runs measured.
pub(crate) struct ArrowResults {
    runs: Vec<Case>,
    /// Mean JSON row length in bytes (MB/s counts the rows' JSON size, so the columns compare).
    row_bytes: usize,
    /// Why nothing ran, if so.
    error: Option<String>,
}

/// A pool directory that is removed when dropped.
struct Pool(PathBuf);

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs every surface in `surfaces` that is named in `arrow_surfaces` against `server` (which
/// declares the taxi table), `rounds` times each, surfaces taking turns within a round.
pub(crate) fn run(
    server: &Server,
    surfaces: &[(String, String)],
    arrow_surfaces: &[String],
    rounds: u32,
    seconds: f64,
) -> ArrowResults {
    let row_bytes = (0..1000).map(|i| taxi::row(i).len()).sum::<usize>() / 1000;
    let pool = Pool(std::env::temp_dir().join(format!("zerobus-bench-pool-{}", std::process::id())));
    if let Err(e) = taxi::write_pool(&pool.0, ARROW_BATCH) {
        let error = format!("cannot write the taxi pool to {}: {e}", pool.0.display());
        eprintln!("arrow: {error}");
        return ArrowResults { runs: Vec::new(), row_bytes, error: Some(error) };
    }
    let cases: Vec<(&str, &str, &'static str, String)> = surfaces
        .iter()
        .filter(|(s, _)| arrow_surfaces.iter().any(|a| a == s))
        .flat_map(|(surface, command)| {
            let arrow = (surface.as_str(), command.as_str(), "taxi-arrow", format!("--batch {ARROW_BATCH}"));
            let dicts = DICT_SURFACES
                .contains(&surface.as_str())
                .then(|| (surface.as_str(), command.as_str(), "taxi", format!("--batch {DICT_BATCH}")));
            std::iter::once(arrow).chain(dicts)
        })
        .collect();
    let mut runs: Vec<Vec<Run>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds.max(1) {
        for (i, (surface, command, format, batch)) in cases.iter().enumerate() {
            let args = format!(
                "--mode batch {batch} --format {format} --records {ROWS} --seconds {seconds} --pool {}",
                pool.0.display()
            );
            let run = run_driver(command, &args, server, row_bytes, Duration::from_secs_f64(seconds + 120.0));
            eprintln!(
                "{surface:>24} {format:<10} {batch:<13} round {}: {}",
                round + 1,
                run.error
                    .as_deref()
                    .map(|e| format!("FAILED {e}"))
                    .unwrap_or_else(|| format!("{:>10.0} rows/s", run.rate()))
            );
            runs[i].push(run);
        }
    }
    let runs = cases.into_iter().zip(runs).map(|((s, _, f, _), r)| (s.to_owned(), f, median(r))).collect();
    ArrowResults { runs, row_bytes, error: None }
}

impl ArrowResults {
    fn rate(&self, surface: &str, format: &str) -> Option<f64> {
        self.runs
            .iter()
            .find(|(s, f, r)| s == surface && *f == format && r.error.is_none())
            .map(|(_, _, r)| r.rate())
    }

    /// The target rows, given the Rust core's taxi JSON rate (batches of 1,000) from the typed
    /// runs: (what, measured, holds).
    pub(crate) fn targets(&self, rust_json: Option<f64>) -> Vec<(String, String, Option<bool>)> {
        let mut rows = Vec::new();
        let core = self.rate("rust", "taxi-arrow");
        let x = ratio(core, rust_json);
        rows.push((
            "Rust core, taxi rows: Arrow (batches of 10,000) ≥ 3× JSON (batches of 1,000) in rows/s".into(),
            format!(
                "{}× ({} vs {} rows/s)",
                fmt_ratio(x),
                core.map(fmt_rate).unwrap_or_default(),
                rust_json.map(fmt_rate).unwrap_or_default()
            ),
            x.map(|x| x >= 3.0),
        ));
        for (surface, _, _) in self
            .runs
            .iter()
            .filter(|(s, f, _)| *f == "taxi-arrow" && s != "rust" && !s.starts_with("published"))
        {
            let x = ratio(self.rate(surface, "taxi-arrow"), core);
            rows.push((
                format!("`{surface}` Arrow, taxi rows in batches of 10,000: ≥ 0.80 of the Rust core's Arrow"),
                fmt_ratio(x),
                x.map(|x| x >= 0.8),
            ));
        }
        let ours = self.rate("python", "taxi-arrow");
        for (format, what, at_least) in [
            ("taxi", "its dict batches (1,000 taxi rows a call)", 10.0),
            ("taxi-arrow", "its Arrow stream (the same pyarrow Tables)", 2.0),
        ] {
            let theirs = self.rate("published-python", format);
            let x = ratio(ours, theirs);
            rows.push((
                format!("`python` Arrow (pyarrow Table, 10,000 rows a call) ≥ {at_least}× `published-python` {what}"),
                format!(
                    "{}× ({} vs {} rows/s)",
                    fmt_ratio(x),
                    ours.map(fmt_rate).unwrap_or_default(),
                    theirs.map(fmt_rate).unwrap_or_default()
                ),
                x.map(|x| x >= at_least),
            ));
        }
        rows
    }

    /// The report section.
    pub(crate) fn report(&self, w: &mut String) {
        let _ = writeln!(w, "\n## Arrow: taxi-shaped rows on every surface\n");
        if let Some(e) = &self.error {
            let _ = writeln!(w, "Not measured: {e}");
            return;
        }
        let _ = writeln!(
            w,
            "The same table and server as the typed section. Every driver reads the same pool of {} record \
             batches of {} rows (Arrow IPC files the runner writes, `bench/DRIVER.md`) into its language's \
             Arrow form before the clock, then makes one Arrow call per batch on an Arrow stream (Flight \
             `DoPut`), up to {} rows or the run's seconds. The forms: Rust `RecordBatch`; Go and C the IPC \
             bytes; Java and Kotlin a `VectorSchemaRoot`; Node an apache-arrow `RecordBatch`; Python a pyarrow \
             `Table` (ours and the published wheel's). `dicts` rows are the Python drivers' JSON streams fed \
             lists of 1,000 dicts parsed from the same rows. MB/s counts the rows' JSON size ({} bytes on \
             average), so every column compares. Median of the rounds.\n",
            taxi::POOL_BATCHES,
            fmt_rate(ARROW_BATCH as f64),
            fmt_rate(ROWS as f64),
            self.row_bytes
        );
        let _ = writeln!(
            w,
            "| Surface | Call | rows/s | MB/s of JSON | client CPU s | peak RSS MiB | server CPU s | client CPU s per M rows | ÷ Rust core Arrow |"
        );
        let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        let core = self.rate("rust", "taxi-arrow");
        for (surface, format, run) in &self.runs {
            let call = if *format == "taxi-arrow" {
                "Arrow, 10,000 rows a call"
            } else {
                "dicts, 1,000 a call (JSON stream)"
            };
            let rate = match &run.error {
                None => fmt_rate(run.rate()),
                Some(e) => format!("failed: {e}"),
            };
            let per_million = if run.records > 0 {
                format!("{:.2}", run.client_cpu / run.records as f64 * 1e6)
            } else {
                String::new()
            };
            let _ = writeln!(
                w,
                "| `{surface}` | {call} | {rate} | {:.1} | {:.2} | {} | {:.2} | {per_million} | {} |",
                run.mb_per_s(),
                run.client_cpu,
                run.peak_rss_kib / 1024,
                run.server_cpu,
                fmt_ratio(ratio(self.rate(surface, format), core))
            );
        }
    }

    /// Failed runs, named for the runner's summary.
    pub(crate) fn failures(&self) -> Vec<String> {
        let runs = self.runs.iter().filter(|(_, _, r)| r.error.is_some()).map(|(s, f, _)| format!("{s}/{f}"));
        runs.chain(self.error.iter().map(|_| "arrow pool".to_owned())).collect()
    }
}
