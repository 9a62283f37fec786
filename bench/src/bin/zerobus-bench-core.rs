//! Bench driver for the Rust core (`bench/DRIVER.md`): JSON or proto records, or taxi rows as
//! JSON, typed PROTO or Arrow batches; default options.

use zerobus_bench::driver::{
    bench_descriptor, run_calls, Clock, DriverArgs, Format, Mode, RecordPool, STALL,
};
use zerobus_bench::taxi;
use zerobus_core::{
    ArrowStreamConfigurationOptions, ArrowTableProperties, ErrorCode, RecordType, StreamConfigurationOptions,
    TableProperties, ZerobusSdk,
};

#[tokio::main]
async fn main() {
    let args = DriverArgs::from_env();
    if let Err(e) = run(args).await {
        eprintln!("zerobus-bench-core: {e}");
        std::process::exit(1);
    }
}

async fn run(args: DriverArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.format == Format::TaxiArrow {
        return run_arrow(args).await;
    }
    let pool = RecordPool::new(args.size, args.format);
    let sdk = ZerobusSdk::new(args.endpoint.clone(), args.workspace_url.clone())?;
    let (record_type, descriptor_proto) = match args.format {
        Format::Json | Format::Taxi | Format::TaxiArrow => (RecordType::Json, None),
        Format::Proto => (RecordType::Proto, Some(bench_descriptor())),
        // No descriptor: the stream is created from the table and core encodes the JSON rows.
        Format::TaxiTyped => (RecordType::Proto, None),
    };
    let options = StreamConfigurationOptions { record_type, ..Default::default() };
    let stream = sdk
        .create_stream(
            TableProperties { table_name: args.table.clone(), descriptor_proto },
            args.client_id.clone(),
            args.client_secret.clone(),
            options,
        )
        .await?;

    let clock = Clock::start(&args);
    let (stream, pool, json) = (&stream, &pool, args.format.is_text());
    let done = match args.mode {
        Mode::Single => {
            run_calls(&args, &clock, |k, _| async move {
                if json {
                    stream.ingest_record_offset(pool.text(k)).await.map(drop)
                } else {
                    stream.ingest_record_offset(pool.record(k)).await.map(drop)
                }
            })
            .await?
        }
        Mode::Nowait => {
            run_calls(&args, &clock, |k, _| async move {
                if json {
                    stream.ingest_record_nowait(pool.text(k)).await
                } else {
                    stream.ingest_record_nowait(pool.record(k)).await
                }
            })
            .await?
        }
        Mode::Batch => {
            run_calls(&args, &clock, |start, n| async move {
                let (data, lengths) = pool.batch(start, n);
                if json {
                    // As text: on a stream from the table core encodes the rows by its types.
                    match stream.queue_records_contiguous_as(RecordType::Json, data, lengths) {
                        Ok(queued) => queued.offset().await.map(drop),
                        Err(e) => Err(e),
                    }
                } else {
                    stream.ingest_records_contiguous_offset(data, lengths).await.map(drop)
                }
            })
            .await?
        }
        Mode::Fill => {
            // The non-blocking form reports "full" at the in-flight bound; a blocking call that
            // stalls would prove the same, less directly.
            let mut done = 0u64;
            while done < args.records {
                let n = (args.batch as u64).min(args.records - done) as usize;
                let (data, lengths) = pool.batch(done, n);
                match stream.try_ingest_records_contiguous_offset(data, lengths) {
                    Ok(_) => done += n as u64,
                    Err(e) if e.code() == ErrorCode::QueueFull => {
                        // Give the sender a moment: "full" must hold, not be a passing state.
                        tokio::time::sleep(STALL).await;
                        if stream.try_ingest_records_contiguous_offset(data, lengths).is_err() {
                            break;
                        }
                        done += n as u64;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            clock.report(done);
            eprintln!("fill: stopped after {done} records; metrics {:?}", stream.metrics());
            // Acks are withheld: flush or close would wait for them. Exit with everything queued.
            std::process::exit(0);
        }
    };
    stream.flush().await?;
    clock.report(done);
    stream.close().await?;
    Ok(())
}

/// Taxi rows as Arrow batches of `--batch` rows on an Arrow stream, one call per batch: the pool
/// of `bench/DRIVER.md` (batch `j` = rows `j*B ..`), built here rather than read from `--pool`.
async fn run_arrow(args: DriverArgs) -> Result<(), Box<dyn std::error::Error>> {
    let sdk = ZerobusSdk::new(args.endpoint.clone(), args.workspace_url.clone())?;
    let pool: Vec<_> =
        (0..taxi::POOL_BATCHES).map(|j| taxi::arrow_batch((j * args.batch) as u64, args.batch)).collect();
    let stream = sdk
        .create_arrow_stream(
            ArrowTableProperties::new(args.table.clone(), taxi::arrow_schema()),
            args.client_id.clone(),
            args.client_secret.clone(),
            ArrowStreamConfigurationOptions::default(),
        )
        .await?;
    // The untimed warm-up the JVM drivers make for their JIT (bench/DRIVER.md), here too, so both
    // sides of the ratio start the clock on a stream in full flow.
    let warm = std::time::Instant::now();
    for j in 0..taxi::ARROW_WARMUP_ROWS / args.batch {
        if warm.elapsed() >= taxi::ARROW_WARMUP {
            break;
        }
        stream.ingest_batch(pool[j % taxi::POOL_BATCHES].clone()).await?;
    }
    stream.flush().await?;
    let clock = Clock::start(&args);
    let (stream, pool) = (&stream, &pool);
    let mut j = 0usize;
    let done = run_calls(&args, &clock, |_, n| {
        let batch = pool[j % taxi::POOL_BATCHES].slice(0, n);
        j += 1;
        async move { stream.ingest_batch(batch).await.map(drop) }
    })
    .await?;
    stream.flush().await?;
    clock.report(done);
    stream.close().await?;
    Ok(())
}
