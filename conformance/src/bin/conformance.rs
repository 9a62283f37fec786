//! `conformance`: runs every case against every testee and prints the matrix.
//!
//! ```text
//! conformance --testee rust=target/debug/zerobus-testee-rust [--testee c=…] [--cases DIR]
//!             [--failures DIR] [--filter TEXT] [--jobs N]
//! ```
//!
//! `--jobs N` runs N cases at a time, each lane against its own mock server (default 1).

use std::path::PathBuf;
use std::process::ExitCode;

use zerobus_conformance::runner::{load_cases, run_matrix, Outcome, Testee};

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cases_dir = root.join("cases");
    let mut failures_dir = root.join("testees");
    let mut specs = Vec::new();
    let mut filter = String::new();
    let mut jobs = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--testee" => specs.push(value()),
            "--cases" => cases_dir = PathBuf::from(value()),
            "--failures" => failures_dir = PathBuf::from(value()),
            "--filter" => filter = value(),
            "--jobs" => {
                jobs = match value().parse() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        eprintln!("conformance: --jobs takes a number of lanes, at least 1");
                        return ExitCode::from(2);
                    }
                }
            }
            other => {
                eprintln!("conformance: unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    let cases = match load_cases(&cases_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let testees: Result<Vec<Testee>, String> =
        specs.iter().map(|s| Testee::parse(s, &failures_dir)).collect();
    let testees = match testees {
        Ok(t) if !t.is_empty() => t,
        Ok(_) => {
            eprintln!("conformance: name at least one --testee name=command");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let cases: Vec<_> = cases.into_iter().filter(|c| c.id.contains(&filter)).collect();
    let report = |case: &zerobus_conformance::runner::Case,
                  testee: &Testee,
                  outcome: &Outcome,
                  took: std::time::Duration| {
        let ms = took.as_millis();
        match outcome {
            Outcome::Pass => println!("PASS  {:<8} {} ({ms} ms)", testee.name, case.id),
            Outcome::ExpectedFail(why) => println!("XFAIL {:<8} {}: {why}", testee.name, case.id),
            Outcome::Fail(why) => println!("FAIL  {:<8} {}: {why}", testee.name, case.id),
            Outcome::UnexpectedPass => {
                println!("XPASS {:<8} {}: passes but is listed as an expected failure", testee.name, case.id)
            }
        }
    };
    let outcomes = match run_matrix(&cases, &testees, jobs, &report) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    let failed = outcomes.iter().flatten().filter(|o| o.is_bad()).count();
    let passed = outcomes.iter().flatten().count() - failed;
    let matrix: Vec<_> = cases.iter().map(|c| c.id.clone()).zip(outcomes).collect();

    let width = cases.iter().map(|c| c.id.len()).max().unwrap_or(10);
    println!();
    print!("{:<width$}", "case");
    for t in &testees {
        print!("  {:>6}", t.name);
    }
    println!();
    for (id, row) in &matrix {
        print!("{id:<width$}");
        for outcome in row {
            let cell = match outcome {
                Outcome::Pass => "pass",
                Outcome::ExpectedFail(_) => "xfail",
                Outcome::Fail(_) => "FAIL",
                Outcome::UnexpectedPass => "XPASS",
            };
            print!("  {cell:>6}");
        }
        println!();
    }
    println!();
    println!("conformance: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
