//! Ack latency of single-record calls (`make bench-local`, against `zerobus serve --data-dir`,
//! where an ack waits for the log's `fdatasync`): from the call to its ack, with one call in
//! flight at a time and with `--window` calls in flight. Prints
//! `LATENCY inflight=W records=N p50_ms=… p99_ms=… max_ms=…` per window.
//!
//!   zerobus-bench-latency [--records N] [--size BYTES] [--window W]
//!   (env ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET,
//!   ZEROBUS_TABLE: a table with columns `i BIGINT, p STRING`)

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use zerobus_core::{RecordType, StreamConfigurationOptions, TableProperties, ZerobusSdk};

fn flag(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
        .unwrap_or(default)
}

fn report(window: usize, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "LATENCY inflight={window} records={} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        latencies.len(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (records, size, window) =
        (flag(&args, "--records", 2_000), flag(&args, "--size", 220), flag(&args, "--window", 100));
    let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let sdk = ZerobusSdk::new(env("ZEROBUS_ENDPOINT")?, env("ZEROBUS_WORKSPACE_URL")?)?;
    let options = StreamConfigurationOptions { record_type: RecordType::Json, ..Default::default() };
    let stream = sdk
        .create_stream(
            TableProperties::new(env("ZEROBUS_TABLE")?),
            env("ZEROBUS_CLIENT_ID")?,
            env("ZEROBUS_CLIENT_SECRET")?,
            options,
        )
        .await?;
    let record = |k: usize| {
        let head = format!("{{\"i\":{k},\"p\":\"");
        format!("{head}{}\"}}", "x".repeat(size.saturating_sub(head.len() + 2)))
    };

    for w in [1, window] {
        let mut latencies = Vec::with_capacity(records);
        let mut in_flight: VecDeque<(i64, Instant)> = VecDeque::with_capacity(w);
        for k in 0..records {
            if in_flight.len() == w {
                let (offset, sent) = in_flight.pop_front().expect("full");
                stream.wait_for_offset(offset).await?;
                latencies.push(sent.elapsed());
            }
            let sent = Instant::now();
            let offset = stream.ingest_record_offset(record(k).as_str()).await?;
            in_flight.push_back((offset, sent));
        }
        for (offset, sent) in in_flight {
            stream.wait_for_offset(offset).await?;
            latencies.push(sent.elapsed());
        }
        report(w, latencies);
    }
    stream.close().await?;
    Ok(())
}
