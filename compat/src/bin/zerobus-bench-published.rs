//! Bench driver for the published Rust crate (`bench/DRIVER.md`), the peer every figure of ours
//! is compared with. Its calls take owned records, so each call clones its records from the pool:
//! that copy is part of what a user of the crate pays. It has no fire-and-forget form, so
//! `nowait` uses `ingest_record_offset` too, which returns once the record is queued. Defaults
//! unless `--max-inflight-requests` is given (the "best setting" runs).

use std::time::Duration;

use databricks_zerobus_ingest_sdk::JsonString;
use zerobus_bench::driver::{run_calls, Clock, DriverArgs, Mode, RecordPool, STALL};
use zerobus_compat::plaintext_sdk;

#[tokio::main]
async fn main() {
    let args = DriverArgs::from_env();
    if let Err(e) = run(args).await {
        eprintln!("zerobus-bench-published: {e}");
        std::process::exit(1);
    }
}

async fn run(args: DriverArgs) -> Result<(), Box<dyn std::error::Error>> {
    let pool = RecordPool::new(args.size);
    let texts: Vec<String> = (0..zerobus_bench::driver::POOL as u64).map(|k| pool.text(k).to_owned()).collect();
    let sdk = plaintext_sdk(&args.endpoint, &args.workspace_url).build()?;
    let mut builder =
        sdk.stream_builder().table(&args.table).oauth(&args.client_id, &args.client_secret).json();
    if let Some(n) = args.max_inflight_requests {
        builder = builder.max_inflight_requests(n);
    }
    let mut stream = builder.build().await?;

    let clock = Clock::start(&args);
    let (s, texts) = (&stream, &texts);
    let batch = move |start: u64, n: usize| {
        let first = (start % texts.len() as u64) as usize;
        texts[first..first + n].iter().cloned().map(JsonString)
    };
    let done = match args.mode {
        Mode::Single | Mode::Nowait => {
            run_calls(&args, &clock, |k, _| async move {
                s.ingest_record_offset(JsonString(texts[(k % texts.len() as u64) as usize].clone())).await.map(drop)
            })
            .await?
        }
        Mode::Batch => {
            run_calls(&args, &clock, |start, n| async move { s.ingest_records_offset(batch(start, n)).await.map(drop) })
                .await?
        }
        Mode::Fill => {
            // No non-blocking form: a call that blocks for STALL has stopped at the bound.
            let mut done = 0u64;
            while done < args.records {
                let n = (args.batch as u64).min(args.records - done) as usize;
                match tokio::time::timeout(STALL, s.ingest_records_offset(batch(done, n))).await {
                    Ok(result) => {
                        result?;
                        done += n as u64;
                    }
                    Err(_) => break,
                }
            }
            clock.report(done);
            eprintln!("fill: stopped after {done} records");
            std::process::exit(0);
        }
    };
    stream.flush().await?;
    clock.report(done);
    tokio::time::timeout(Duration::from_secs(10), stream.close()).await??;
    Ok(())
}
