//! The taxi part of `make bench`: the taxi-shaped rows ([`crate::taxi`]) on every surface that
//! takes them, against a server that declares the table, as JSON (batches of 1,000), as typed PROTO
//! on a stream from the table (batches of 1,000, core encoding each row by the table's types) and
//! as Arrow record batches of 10,000 rows on an Arrow stream (Flight `DoPut`). The Python drivers
//! pass dicts where the others pass JSON text (what a Python user holds), and the published wheel
//! runs JSON and Arrow (it has no typed stream from a table).
//!
//! The drivers read the rows from a pool directory the runner writes first (`bench/DRIVER.md`,
//! "Taxi rows from the pool directory"), so every surface ingests the same rows.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::runner::{fmt_rate, fmt_ratio, median, ratio, run_driver, Run, Server};
use crate::taxi;

/// Rows per Arrow call (the batches of 10,000; the pool's batch size).
const ARROW_BATCH: usize = 10_000;
/// Rows a run offers: three passes over the 10 M-row table, so that the Arrow runs too
/// last the run's seconds (`--seconds`, where every run stops) instead of a second or less,
/// which measured the JVM drivers' JIT and the machine's noise more than the path.
const ROWS: u64 = 30_000_000;

/// The surfaces whose drivers take the taxi formats with `--pool DIR` (others are skipped).
pub(crate) const SURFACES: [&str; 8] =
    ["rust", "go", "java", "kotlin", "node", "c", "python", "published-python"];

/// A format and call the section runs: (format, label, driver arguments).
#[derive(Clone, Copy)]
struct Form {
    format: &'static str,
    label: &'static str,
    args: &'static str,
}

const JSON: Form = Form { format: "taxi", label: "JSON, 1,000 a call", args: "--mode batch --batch 1000" };
const TYPED: Form =
    Form { format: "taxi-typed", label: "typed PROTO, 1,000 a call", args: "--mode batch --batch 1000" };
const ARROW: Form =
    Form { format: "taxi-arrow", label: "Arrow, 10,000 rows a call", args: "--mode batch --batch 10000" };
/// The Rust core's single-record calls (only it runs them: they show the per-row cost of each path).
const JSON_SINGLE: Form = Form { format: "taxi", label: "JSON, single", args: "--mode single" };
const TYPED_SINGLE: Form = Form { format: "taxi-typed", label: "typed PROTO, single", args: "--mode single" };

/// The forms `surface` runs.
fn forms(surface: &str) -> Vec<Form> {
    match surface {
        "rust" => vec![JSON, TYPED, ARROW, JSON_SINGLE, TYPED_SINGLE],
        "published-python" => vec![JSON, ARROW],
        _ => vec![JSON, TYPED, ARROW],
    }
}

/// Whether a target row reads this case (those get the target rounds, the others the rounds).
fn is_target(surface: &str, form: &Form) -> bool {
    form.format == "taxi-arrow"
        || (form.label == JSON.label && (surface == "rust" || surface == "published-python"))
}

/// One measured case: (surface, form, median run).
type Case = (String, Form, Run);

/// What the taxi runs measured.
pub(crate) struct TaxiResults {
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

/// Runs every surface in `surfaces` that is named in `taxi_surfaces` against `server` (which
/// declares the taxi table): `target_rounds` times for the cases the targets read, `rounds` times
/// for the others, surfaces and forms taking turns within a round.
pub(crate) fn run(
    server: &Server,
    surfaces: &[(String, String)],
    taxi_surfaces: &[String],
    rounds: u32,
    target_rounds: u32,
    seconds: f64,
) -> TaxiResults {
    let row_bytes = taxi::mean_row_bytes();
    let pool = Pool(std::env::temp_dir().join(format!("zerobus-bench-pool-{}", std::process::id())));
    if let Err(e) = taxi::write_pool(&pool.0, ARROW_BATCH) {
        let error = format!("cannot write the taxi pool to {}: {e}", pool.0.display());
        eprintln!("taxi: {error}");
        return TaxiResults { runs: Vec::new(), row_bytes, error: Some(error) };
    }
    let cases: Vec<(&str, &str, Form)> = surfaces
        .iter()
        .filter(|(s, _)| taxi_surfaces.iter().any(|t| t == s))
        .flat_map(|(s, c)| forms(s).into_iter().map(move |f| (s.as_str(), c.as_str(), f)))
        .collect();
    let mut runs: Vec<Vec<Run>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds.max(target_rounds).max(1) {
        for (i, (surface, command, form)) in cases.iter().enumerate() {
            let wanted = if is_target(surface, form) { target_rounds } else { rounds };
            if round >= wanted.max(1) {
                continue;
            }
            let args = format!(
                "{} --format {} --records {ROWS} --seconds {seconds} --pool {}",
                form.args,
                form.format,
                pool.0.display()
            );
            let run = run_driver(command, &args, server, row_bytes, Duration::from_secs_f64(seconds + 120.0));
            eprintln!(
                "{surface:>24} taxi {:<26} round {}: {}",
                form.label,
                round + 1,
                run.error
                    .as_deref()
                    .map(|e| format!("FAILED {e}"))
                    .unwrap_or_else(|| format!("{:>10.0} rows/s", run.rate()))
            );
            runs[i].push(run);
        }
    }
    let runs = cases.into_iter().zip(runs).map(|((s, _, f), r)| (s.to_owned(), f, median(r))).collect();
    TaxiResults { runs, row_bytes, error: None }
}

impl TaxiResults {
    fn rate(&self, surface: &str, form: Form) -> Option<f64> {
        self.runs
            .iter()
            .find(|(s, f, r)| s == surface && f.label == form.label && r.error.is_none())
            .map(|(_, _, r)| r.rate())
    }

    /// The target rows: (what, measured, holds).
    pub(crate) fn targets(&self) -> Vec<(String, String, Option<bool>)> {
        let mut rows = Vec::new();
        let versus = |x: Option<f64>, a: Option<f64>, b: Option<f64>| {
            format!(
                "{}× ({} vs {} rows/s)",
                fmt_ratio(x),
                a.map(fmt_rate).unwrap_or_default(),
                b.map(fmt_rate).unwrap_or_default()
            )
        };
        let (core, core_json) = (self.rate("rust", ARROW), self.rate("rust", JSON));
        let x = ratio(core, core_json);
        rows.push((
            "Rust core, taxi rows: Arrow (batches of 10,000) ≥ 3× JSON (batches of 1,000) in rows/s".into(),
            versus(x, core, core_json),
            x.map(|x| x >= 3.0),
        ));
        let bindings = self
            .runs
            .iter()
            .filter(|(s, f, _)| f.label == ARROW.label && s != "rust" && !s.starts_with("published"));
        for (surface, _, _) in bindings {
            let x = ratio(self.rate(surface, ARROW), core);
            rows.push((
                format!("`{surface}` Arrow, taxi rows in batches of 10,000: ≥ 0.80 of the Rust core's Arrow"),
                fmt_ratio(x),
                x.map(|x| x >= 0.8),
            ));
        }
        let ours = self.rate("python", ARROW);
        for (form, what, at_least) in [
            (JSON, "dict batches (1,000 taxi rows a call)", 10.0),
            (ARROW, "Arrow stream (the same pyarrow Tables)", 2.0),
        ] {
            let theirs = self.rate("published-python", form);
            let x = ratio(ours, theirs);
            rows.push((
                format!("`python` Arrow (pyarrow Table, 10,000 rows a call) ≥ {at_least}× `published-python`'s {what}"),
                versus(x, ours, theirs),
                x.map(|x| x >= at_least),
            ));
        }
        rows
    }

    /// The report section.
    pub(crate) fn report(&self, w: &mut String) {
        let _ = writeln!(w, "\n## Taxi rows on every surface: JSON, typed PROTO, Arrow\n");
        if let Some(e) = &self.error {
            let _ = writeln!(w, "Not measured: {e}");
            return;
        }
        let _ = writeln!(
            w,
            "The table `{}` (20 columns, `bench/src/taxi.rs`) declared on `zerobus serve --no-payloads \
             --table …`. Every driver reads the same rows (a pool of {} Arrow record batches of {} rows and \
             the same rows as JSON lines of {} bytes on average, written by the runner: `bench/DRIVER.md`) \
             into its language's form before the clock, then ingests up to {} rows (three passes over a \
             10,000,000-row table) or the run's seconds:\n\n\
             - **JSON**: a JSON stream, batches of 1,000 records (the JSON text; in Python, dicts);\n\
             - **typed PROTO**: a PROTO stream created from the table, the same JSON records (dicts in \
             Python), each encoded by core to the table's types;\n\
             - **Arrow**: an Arrow stream (Flight `DoPut`), one call per record batch of 10,000 rows, in \
             each language's Arrow form, through its no-copy call where it has one: Rust `RecordBatch`; \
             Go and C IPC bytes (`IngestIPCNoCopy`, `zerobus_arrow_stream_ingest_ipc_nocopy`); Java and \
             Kotlin a `VectorSchemaRoot` (`ingestBatchTransfer`); Node an apache-arrow `RecordBatch`; \
             Python a pyarrow `Table` (ours and the published wheel's).\n\n\
             MB/s counts the rows' JSON size, so every column compares. Median of the rounds (more rounds \
             for the cases the targets read).\n",
            taxi::TABLE,
            taxi::POOL_BATCHES,
            fmt_rate(ARROW_BATCH as f64),
            self.row_bytes,
            fmt_rate(ROWS as f64),
        );
        let _ = writeln!(
            w,
            "| Surface | Stream, call | rows/s | MB/s of JSON | client CPU s | client CPU s per M rows | peak RSS MiB | server CPU s | ÷ its JSON | ÷ Rust core, same form |"
        );
        let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (surface, form, run) in &self.runs {
            let rate = match &run.error {
                None => fmt_rate(run.rate()),
                Some(e) => format!("failed: {e}"),
            };
            let per_million = if run.records > 0 {
                format!("{:.2}", run.client_cpu / run.records as f64 * 1e6)
            } else {
                String::new()
            };
            let json = if form.args == JSON_SINGLE.args { JSON_SINGLE } else { JSON };
            let vs_json = if form.format == "taxi" {
                String::new()
            } else {
                fmt_ratio(ratio(self.rate(surface, *form), self.rate(surface, json)))
            };
            let _ = writeln!(
                w,
                "| `{surface}` | {} | {rate} | {:.1} | {:.2} | {per_million} | {} | {:.2} | {vs_json} | {} |",
                form.label,
                run.mb_per_s(),
                run.client_cpu,
                run.peak_rss_kib / 1024,
                run.server_cpu,
                fmt_ratio(ratio(self.rate(surface, *form), self.rate("rust", *form)))
            );
        }
    }

    /// Failed runs, named for the runner's summary.
    pub(crate) fn failures(&self) -> Vec<String> {
        let runs = self
            .runs
            .iter()
            .filter(|(_, _, r)| r.error.is_some())
            .map(|(s, f, _)| format!("{s}/taxi/{}", f.label));
        runs.chain(self.error.iter().map(|_| "taxi pool".to_owned())).collect()
    }
}
