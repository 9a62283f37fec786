//! Bench driver for the published Rust crate (`bench/DRIVER.md`), the peer every figure of ours
//! is compared with. Its calls take owned records, so each call clones its records from the pool:
//! that copy is part of what a user of the crate pays. It has no fire-and-forget form, so
//! `nowait` uses `ingest_record_offset` too, which returns once the record is queued. Defaults
//! unless `--max-inflight-requests` is given (the "best setting" runs).

use std::time::Duration;

use databricks_zerobus_ingest_sdk::{EncodedRecord, JsonString, ProtoBytes};
use zerobus_bench::driver::{
    bench_descriptor, run_calls, Clock, DriverArgs, Format, Mode, RecordPool, POOL, STALL,
};
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
    let pool = RecordPool::new(args.size, args.format);
    let format = args.format;
    // What a user of the crate holds: owned records, cloned into each call.
    let records: Vec<Vec<u8>> = (0..POOL as u64).map(|k| pool.record(k).to_vec()).collect();
    let owned = move |r: &Vec<u8>| -> EncodedRecord {
        match format {
            Format::Proto => ProtoBytes(r.clone()).into(),
            _ => JsonString(String::from_utf8(r.clone()).expect("JSON records are ASCII")).into(),
        }
    };
    let sdk = plaintext_sdk(&args.endpoint, &args.workspace_url).build()?;
    let builder = sdk.stream_builder().table(&args.table).oauth(&args.client_id, &args.client_secret);
    let mut builder = match format {
        Format::Json | Format::Taxi => builder.json(),
        Format::Proto => builder.compiled_proto(bench_descriptor()),
        Format::TaxiTyped => return Err("the published crate has no streams from the table".into()),
        Format::TaxiArrow => {
            return Err("this driver runs record streams only; taxi-arrow is not driven here".into())
        }
    };
    if let Some(n) = args.max_inflight_requests {
        builder = builder.max_inflight_requests(n);
    }
    let mut stream = builder.build().await?;

    let clock = Clock::start(&args);
    let (s, records) = (&stream, &records);
    let batch = move |start: u64, n: usize| {
        let first = (start % POOL as u64) as usize;
        records[first..first + n].iter().map(owned)
    };
    let done = match args.mode {
        Mode::Single | Mode::Nowait => {
            run_calls(&args, &clock, |k, _| async move {
                s.ingest_record_offset(owned(&records[(k % POOL as u64) as usize])).await.map(drop)
            })
            .await?
        }
        Mode::Batch => {
            run_calls(&args, &clock, |start, n| async move {
                s.ingest_records_offset(batch(start, n)).await.map(drop)
            })
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
