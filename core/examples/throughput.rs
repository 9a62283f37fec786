//! Records/s through the Rust core against a running `zerobus serve`, built exactly like
//! `ffi-c/examples/throughput.c` (same records, same calls) so the two can be compared in one run.
//!
//! ```text
//! cargo run --release -p zerobus-core --example throughput -- RECORDS RECORD_SIZE BATCH
//! ```
//! Reads ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET.

use std::io::Write;
use std::time::Instant;

use zerobus_core::{RecordType, StreamConfigurationOptions, TableProperties, ZerobusSdk};

fn make_record(out: &mut Vec<u8>, size: usize, seq: u64) {
    let start = out.len();
    write!(out, "{{\"seq\":{seq},\"pad\":\"").expect("writing to a Vec cannot fail");
    while out.len() - start + 2 < size {
        out.push(b'x');
    }
    out.extend_from_slice(b"\"}");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().unwrap_or(0)).collect();
    let (records, size, batch) = (
        args.first().copied().unwrap_or(1_000_000),
        args.get(1).copied().unwrap_or(220) as usize,
        args.get(2).copied().unwrap_or(1000).max(1),
    );
    let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set (run `zerobus serve`)"));
    let sdk = ZerobusSdk::new(env("ZEROBUS_ENDPOINT")?, env("ZEROBUS_WORKSPACE_URL")?)?;
    let options = StreamConfigurationOptions { record_type: RecordType::Json, ..Default::default() };
    let stream = sdk
        .create_stream(
            TableProperties::new("main.default.events"),
            env("ZEROBUS_CLIENT_ID")?,
            env("ZEROBUS_CLIENT_SECRET")?,
            options,
        )
        .await?;
    let mut buf = Vec::with_capacity(batch as usize * (size + 1));
    let mut lengths = Vec::with_capacity(batch as usize);
    let started = Instant::now();
    let mut i = 0;
    while i < records {
        let n = (records - i).min(batch);
        buf.clear();
        lengths.clear();
        for j in 0..n {
            let before = buf.len();
            make_record(&mut buf, size, i + j);
            lengths.push(buf.len() - before);
        }
        if batch == 1 {
            stream.ingest_record_offset(std::str::from_utf8(&buf)?).await?;
        } else {
            stream.ingest_records_contiguous_offset(&buf, &lengths).await?;
        }
        i += n;
    }
    stream.flush().await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "rust batch={batch} records={records} seconds={secs:.3} records_per_s={:.0}",
        records as f64 / secs
    );
    stream.close().await?;
    Ok(())
}
