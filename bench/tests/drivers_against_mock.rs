//! The Rust drivers against the in-process mock server: every mode and format delivers exactly the
//! records it reports, of exactly `--size` bytes, and `fill` stops at the in-flight bound. Keeps
//! `make bench` from rotting between runs (it is too slow for `make test`).

use std::process::Command;

use zerobus_conformance::mock::{
    FaultScript, MockServer, MockServerConfig, StreamAction, StreamFault, DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
};

const TABLE: &str = "main.default.events";

/// Runs a driver binary; returns the `records=` of its RESULT line.
fn run(driver: &str, server: &MockServer, args: &str) -> u64 {
    let out = Command::new(driver)
        .args(args.split_whitespace())
        .env("ZEROBUS_ENDPOINT", server.grpc_url())
        .env("ZEROBUS_WORKSPACE_URL", server.workspace_url())
        .env("ZEROBUS_CLIENT_ID", DEFAULT_CLIENT_ID)
        .env("ZEROBUS_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
        .env("ZEROBUS_TABLE", TABLE)
        .output()
        .expect("driver starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{driver} {args}: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stdout: {stdout:?}");
    let fields = lines[0].strip_prefix("RESULT ").expect("a RESULT line");
    let mut records = None;
    for field in fields.split_whitespace() {
        match field.split_once('=') {
            Some(("records", v)) => records = v.parse().ok(),
            Some(("seconds", v)) => assert!(v.parse::<f64>().is_ok_and(|s| s > 0.0), "{fields}"),
            _ => panic!("unexpected field in {fields}"),
        }
    }
    records.expect("records=")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_and_format_delivers_what_it_reports() {
    let server = MockServer::start(MockServerConfig::default()).await.unwrap();
    let drivers = [env!("CARGO_BIN_EXE_zerobus-bench-core"), env!("CARGO_BIN_EXE_zerobus-bench-raw")];
    for driver in drivers {
        for format in ["json", "proto"] {
            for mode in
                ["--mode single", "--mode nowait", "--mode batch --batch 100", "--mode batch --batch 1000"]
            {
                server.reset();
                let args = format!("{mode} --format {format} --size 64 --records 2500");
                let server2 = server.clone();
                let reported =
                    tokio::task::spawn_blocking(move || run(driver, &server2, &args)).await.unwrap();
                assert_eq!(reported, 2500, "{driver} {mode} {format}");
                let stats = server.table_stats(TABLE);
                assert_eq!((stats.records, stats.bytes), (2500, 2500 * 64), "{driver} {mode} {format}");
                let records = server.records(TABLE);
                assert!(records.iter().all(|r| r.payload.len() == 64));
                // Record k of the pool, in order: the first records carry i = 0, 1, 2, ...
                if format == "json" {
                    assert_eq!(&records[1].payload[..7], b"{\"i\":1,");
                }
            }
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fill_stops_at_the_byte_bound_when_acks_are_withheld() {
    let server = MockServer::start(MockServerConfig { keep_payloads: false, ..MockServerConfig::default() })
        .await
        .unwrap();
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: None,
            action: StreamAction::WithholdAcksAfter { messages: 0 },
        }],
        ..FaultScript::default()
    });
    let server2 = server.clone();
    let accepted = tokio::task::spawn_blocking(move || {
        run(
            env!("CARGO_BIN_EXE_zerobus-bench-core"),
            &server2,
            "--mode fill --batch 1000 --size 220 --records 1000000",
        )
    })
    .await
    .unwrap();
    // The bound counts encoded bytes: 223 per record (3 bytes of protobuf framing), so 64 MiB
    // holds 300 calls of 1,000 records and the 301st does not fit.
    assert_eq!(accepted, 300_000);
    server.shutdown().await;
}
