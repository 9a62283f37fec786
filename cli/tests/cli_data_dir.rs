//! `zerobus serve --data-dir`: a server killed (`kill -9`) mid-ingest and started again on the
//! same directory and ports loses no acked record and commits none twice; the client rides
//! out the restart, and `zerobus table show` reads the Delta table back.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::{Array, Int64Array};
use common::{field, free_ports, scratch, text, wait, Serve, BIN};

const TABLE: &str = "main.demo.events";
const DEFINITION: &str = "main.demo.events(seed BIGINT NOT NULL, seq BIGINT NOT NULL, pad STRING)";

fn serve_on(grpc: u16, token: u16, dir: &Path) -> Serve {
    Serve::start(&[
        "--grpc-addr",
        &format!("127.0.0.1:{grpc}"),
        "--token-addr",
        &format!("127.0.0.1:{token}"),
        "--no-payloads",
        "--data-dir",
        dir.to_str().unwrap(),
        "--table",
        DEFINITION,
    ])
}

/// How many times each seq is in the table's Delta table.
fn committed_seqs(dir: &Path, records: usize) -> Vec<u32> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let batches = runtime.block_on(zerobus_localstore::read_rows(dir, TABLE)).unwrap();
    let mut counts = vec![0u32; records];
    for batch in batches {
        let seqs = batch.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        for seq in seqs.iter() {
            counts[seq.unwrap() as usize] += 1;
        }
    }
    counts
}

/// Writes records `seqs` as JSON lines, the shape `ingest --generate` makes.
fn write_records(to: &mut impl Write, seqs: std::ops::Range<usize>) {
    let pad = "p".repeat(80);
    let mut text = String::new();
    for seq in seqs {
        text.push_str(&format!("{{\"seed\":1,\"seq\":{seq},\"pad\":\"{pad}\"}}\n"));
    }
    to.write_all(text.as_bytes()).unwrap();
}

/// Waits until the server has committed a Delta version after the table's creation (version
/// 0), which it does only for records it has acked.
fn wait_for_first_commit(dir: &Path) {
    let first = zerobus_localstore::table_dir(dir, TABLE).join("_delta_log").join(format!("{:020}.json", 1));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !first.exists() {
        assert!(Instant::now() < deadline, "no Delta commit after 60 s: {}", first.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_server_loses_no_acked_record_and_commits_none_twice() {
    const RECORDS: usize = 400_000;
    let dir = scratch("data-dir-crash");
    let (grpc, token) = free_ports();
    let first = serve_on(grpc, token, &dir);
    // The test feeds the client through a pipe, so the crash lands mid-run on any machine: after
    // the server has acked and committed the first part, with the client still open.
    let mut ingest = first
        .ingest_command(TABLE, &["--batch-size", "100"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = ingest.stdin.take().unwrap();
    write_records(&mut input, 0..RECORDS / 2);
    wait_for_first_commit(&dir);
    write_records(&mut input, RECORDS / 2..RECORDS * 5 / 8);
    first.kill();
    std::thread::sleep(Duration::from_millis(500));
    let second = serve_on(grpc, token, &dir);
    write_records(&mut input, RECORDS * 5 / 8..RECORDS);
    drop(input);
    wait(&mut ingest, Duration::from_secs(120));
    let out = ingest.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(field(&stdout, "acked"), RECORDS as u64, "{stdout}");
    assert!(field(&stdout, "recoveries") >= 1, "the server was killed mid-run: {stdout}");
    let resent = field(&stdout, "resent");
    let serve_err = second.stop();
    assert!(serve_err.contains("committed"), "{serve_err}");

    // Every record is there; the only extra copies are of records the client sent again after
    // the reconnect (sent before the crash, logged, but not acked yet).
    let counts = committed_seqs(&dir, RECORDS);
    let missing: Vec<usize> = (0..RECORDS).filter(|&s| counts[s] == 0).take(5).collect();
    assert!(missing.is_empty(), "acked records missing from the table, first {missing:?}");
    let duplicates: u64 = counts.iter().map(|&n| u64::from(n.saturating_sub(1))).sum();
    assert!(duplicates <= resent, "{duplicates} duplicates, but only {resent} records were sent again");
    eprintln!("{RECORDS} records, {resent} resent after the restart, {duplicates} duplicates in the table");

    let show = Command::new(BIN)
        .args(["table", "show", TABLE, "--data-dir", dir.to_str().unwrap(), "--rows", "3"])
        .output()
        .unwrap();
    let report = text(&show.stdout);
    assert!(show.status.success(), "{report}{}", text(&show.stderr));
    assert!(report.contains(&format!("rows: {}", RECORDS as u64 + duplicates)), "{report}");
    assert!(report.contains("seq long NOT NULL") && report.contains("CREATE TABLE"), "{report}");
    assert_eq!(report.lines().filter(|l| l.starts_with("  1 ")).count(), 3, "three rows of seed 1: {report}");
    let _ = std::fs::remove_dir_all(&dir);
}
