//! `chaos`: drives testees through the fault proxy (resets, outages) and proves with the mock's
//! ledger that every acknowledged record arrived. Prints one row per run and exits non-zero if a
//! run lost an acknowledged record, hung, gave up inside its budget, or missed its faults.
//!
//! ```text
//! chaos --testee rust=target/debug/zerobus-testee-rust [--testee go=…] [--slice] [--seed N]
//! ```
//!
//! The full set (`make chaos`): the `rust` testee (the core) with 1,000,000 records in batches of
//! 1,000 and at least 200 resets, 200,000 single-record calls with at least 100 resets, and three
//! outages of 3–10 s during a busy stream with default options; every other testee with 100,000
//! records and at least 50 resets. `--slice` (inside `make test`): a few seconds per testee, with
//! resets and one short outage.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use zerobus_conformance::chaos::{self, Bench, Faults, Run, Workload};
use zerobus_conformance::fault_proxy::FaultPlan;
use zerobus_conformance::runner::Testee;

fn main() -> ExitCode {
    let mut specs = Vec::new();
    let mut slice = false;
    let mut seed = 11u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--testee" => specs.push(args.next().unwrap_or_default()),
            "--slice" => slice = true,
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(seed),
            other => {
                eprintln!("chaos: unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    let testees: Result<Vec<Testee>, String> =
        specs.iter().map(|s| Testee::parse(s, std::path::Path::new("/nonexistent"))).collect();
    let testees = match testees {
        Ok(t) if !t.is_empty() => t,
        Ok(_) => {
            eprintln!("chaos: name at least one --testee name=command");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::from(2);
        }
    };
    let runs = plan(&testees, slice, seed);
    let bench = match Bench::start() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut reports = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        eprintln!("chaos: {} ({})…", run.name, run.testee.name);
        let report = bench.run(run, 1000 + i as u64);
        eprint!("{}", chaos::table(std::slice::from_ref(&report)));
        reports.push(report);
    }
    drop(bench);
    println!("{}", chaos::table(&reports));
    let failed = reports.iter().filter(|r| r.failure.is_some()).count();
    println!(
        "chaos: {} runs, {} passed, {failed} failed (seed {seed})",
        reports.len(),
        reports.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Resets at random moments: each connection lives 15–60 ms, or ends right after an ack with a
/// small chance, once it carried a few chunks from the server (so every connection can make
/// progress and the client never needs more than a few attempts in a row).
fn resets(seed: u64) -> FaultPlan {
    FaultPlan {
        seed,
        reset_after_ms: Some((15, 60)),
        reset_after_ack_chance: 0.02,
        max_delay_ms: 0,
        min_server_chunks: 4,
    }
}

/// Quick reconnects for reset-heavy runs; the outage run keeps the defaults.
fn fast_recovery() -> serde_json::Value {
    json!({"recovery_backoff_ms": 20, "recovery_backoff_max_ms": 500, "recovery_retries": 10})
}

/// Outage lengths from 3 to 10 s, drawn from `seed`.
fn outage_lengths(seed: u64, n: usize) -> Vec<Duration> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(3000 + x % 7001)
        })
        .collect()
}

fn plan(testees: &[Testee], slice: bool, seed: u64) -> Vec<Run> {
    let hang_after = Duration::from_secs(180);
    let run =
        |name: String, testee: &Testee, workload: Workload, faults: Faults, options: serde_json::Value| Run {
            name,
            testee: testee.clone(),
            workload,
            faults,
            options,
            hang_after,
        };
    let mut runs = Vec::new();
    for (i, t) in testees.iter().enumerate() {
        let seed = seed + i as u64 * 100;
        if slice {
            runs.push(run(
                format!("{}-slice", t.name),
                t,
                Workload { records: 10_000, size: 200, batch: 100, per_op: 2_000 },
                Faults { plan: resets(seed), min_resets: 10, outages: vec![Duration::from_millis(1500)] },
                json!({"recovery_backoff_ms": 100, "recovery_backoff_max_ms": 1000, "recovery_retries": 8}),
            ));
            continue;
        }
        if t.name == "rust" {
            runs.push(run(
                "core-batches".into(),
                t,
                Workload { records: 1_000_000, size: 200, batch: 1000, per_op: 50_000 },
                Faults { plan: resets(seed), min_resets: 200, outages: vec![] },
                fast_recovery(),
            ));
            runs.push(run(
                "core-single".into(),
                t,
                Workload { records: 200_000, size: 100, batch: 1, per_op: 20_000 },
                Faults { plan: resets(seed + 1), min_resets: 100, outages: vec![] },
                fast_recovery(),
            ));
            let outages = outage_lengths(seed, 3);
            let lengths: Vec<String> = outages.iter().map(|d| format!("{:.1}", d.as_secs_f64())).collect();
            runs.push(run(
                format!("core-outages {}s", lengths.join("/")),
                t,
                Workload { records: 300_000, size: 200, batch: 100, per_op: 5_000 },
                Faults { plan: FaultPlan::default(), min_resets: 0, outages },
                json!({}),
            ));
        } else {
            runs.push(run(
                format!("{}-resets", t.name),
                t,
                Workload { records: 100_000, size: 200, batch: 100, per_op: 10_000 },
                Faults { plan: resets(seed), min_resets: 50, outages: vec![] },
                fast_recovery(),
            ));
        }
    }
    runs
}
