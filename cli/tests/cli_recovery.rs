//! `zerobus ingest` through a server restart: a busy stream rides out a killed server that comes
//! back (a new process, on the same ports) with default options, and a run whose server never
//! comes back fails with every unacknowledged record kept in `--failed-records`.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{field, free_ports, scratch, text, wait, Serve};

fn serve_on(grpc: u16, token: u16) -> Serve {
    Serve::start(&[
        "--grpc-addr",
        &format!("127.0.0.1:{grpc}"),
        "--token-addr",
        &format!("127.0.0.1:{token}"),
        "--no-payloads",
    ])
}

#[test]
fn a_busy_stream_rides_out_a_server_restart_with_defaults() {
    let (grpc, token) = free_ports();
    let first = serve_on(grpc, token);
    let mut ingest = first
        .ingest_command(
            "main.default.events",
            &["--generate", "1500000", "--size", "220", "--batch-size", "1"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    first.kill();
    std::thread::sleep(Duration::from_millis(1500));
    let second = serve_on(grpc, token);
    let status = wait(&mut ingest, Duration::from_secs(120));
    let out = ingest.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(status.success(), "{stdout}{stderr}");
    assert_eq!(field(&stdout, "queued"), 1_500_000, "{stdout}");
    assert_eq!(field(&stdout, "acked"), 1_500_000, "{stdout}");
    assert!(field(&stdout, "recoveries") >= 1, "the server was killed mid-run: {stdout}");
    second.stop();
}

#[test]
fn a_server_that_never_comes_back_leaves_the_unacked_records_in_a_file() {
    let dir = scratch("failed-records");
    let failed = dir.join("failed.jsonl");
    let serve = Serve::start(&["--no-payloads"]);
    let mut ingest = serve
        .ingest_command(
            "main.default.events",
            &[
                "--generate",
                "3000000",
                "--size",
                "120",
                "--batch-size",
                "100",
                "--recovery-retries",
                "2",
                "--recovery-backoff-ms",
                "100",
                "--failed-records",
                failed.to_str().unwrap(),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    serve.kill();
    let status = wait(&mut ingest, Duration::from_secs(60));
    let out = ingest.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("UNAVAILABLE"), "{stderr}");
    assert!(stderr.contains("connection attempts"), "{stderr}");
    assert!(stderr.contains(failed.to_str().unwrap()), "the message names the file: {stderr}");
    let (queued, acked) = (field(&stdout, "queued"), field(&stdout, "acked"));
    assert!(queued > acked, "{stdout}");
    // Every record queued and not acked is in the file, in order, byte for byte.
    let kept = std::fs::read_to_string(&failed).unwrap();
    let lines: Vec<&str> = kept.lines().collect();
    assert_eq!(lines.len() as u64, queued - acked, "{stderr}");
    for (i, line) in lines.iter().enumerate() {
        let seq = acked + i as u64;
        assert_eq!(*line, zerobus_conformance::records::json_record(1, seq, 120), "record {seq}");
    }
}
