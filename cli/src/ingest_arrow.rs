//! `zerobus ingest --file data.parquet | data.arrow`: columnar files through one Arrow stream
//! (Flight `DoPut`), read with the `parquet` / `arrow-ipc` crates a batch at a time, each batch
//! fitted to the table's schema (columns matched by name, types cast where Arrow can) and queued
//! as one call.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{new_null_array, ArrayRef, RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use zerobus_core::{ArrowStreamConfigurationOptions, ArrowTableProperties, IpcCompression};

use crate::ingest::{build_sdk, recovery_options, IngestArgs};
use crate::progress::{self, Progress, Snapshot};
use crate::{CliError, CliResult};

/// Rows per call when `--batch-size` is not given: Arrow calls carry many rows cheaply.
pub const DEFAULT_ARROW_BATCH_ROWS: u64 = 10_000;

/// Whether `path` names a columnar file by its extension.
pub fn is_columnar(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(),
        Some("parquet" | "arrow" | "arrows" | "ipc" | "feather")
    )
}

/// The file's batches, whatever its format: Parquet, Arrow IPC file (`ARROW1` magic) or stream.
fn open(path: &Path, batch_rows: usize) -> CliResult<(Box<dyn RecordBatchReader + Send>, Option<u64>)> {
    let cannot = |e: &dyn std::fmt::Display| CliError(format!("cannot read {}: {e}", path.display()));
    let mut file = File::open(path).map_err(|e| cannot(&e))?;
    let mut magic = [0u8; 6];
    let n = file.read(&mut magic).map_err(|e| cannot(&e))?;
    file.seek(SeekFrom::Start(0)).map_err(|e| cannot(&e))?;
    if n >= 4 && &magic[..4] == b"PAR1" {
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| cannot(&e))?;
        let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let reader = builder.with_batch_size(batch_rows).build().map_err(|e| cannot(&e))?;
        return Ok((Box::new(reader), Some(rows)));
    }
    if n == 6 && &magic == b"ARROW1" {
        let reader =
            arrow_ipc::reader::FileReader::try_new(BufReader::new(file), None).map_err(|e| cannot(&e))?;
        return Ok((Box::new(reader), None));
    }
    let reader = arrow_ipc::reader::StreamReader::try_new(BufReader::new(file), None).map_err(|e| {
        CliError(format!(
            "{} is neither Parquet nor an Arrow IPC file or stream ({e}); pass a .parquet or .arrow file",
            path.display()
        ))
    })?;
    Ok((Box::new(reader), None))
}

/// Fits a file batch to the table's schema: each table column taken from the file column of the
/// same name (any case), cast when the types differ; a nullable column the file lacks is null.
fn conform(table: &str, target: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch, String> {
    let source = batch.schema();
    for field in source.fields() {
        if target.fields().iter().all(|t| !t.name().eq_ignore_ascii_case(field.name())) {
            return Err(format!(
                "the file has a column {:?} that table {table} does not have (its columns: {})",
                field.name(),
                target.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        let found = source.fields().iter().position(|f| f.name().eq_ignore_ascii_case(field.name()));
        let column = match found {
            Some(i) if batch.column(i).data_type() == field.data_type() => batch.column(i).clone(),
            Some(i) => arrow_cast::cast(batch.column(i), field.data_type()).map_err(|e| {
                format!(
                    "column {}: the file's {} does not convert to the table's {}: {e}",
                    field.name(),
                    batch.column(i).data_type(),
                    field.data_type()
                )
            })?,
            None if field.is_nullable() => new_null_array(field.data_type(), batch.num_rows()),
            None => {
                return Err(format!("the file has no column {} (NOT NULL in table {table})", field.name()))
            }
        };
        columns.push(column);
    }
    // Built with the file's nullability; core checks NOT NULL columns hold no nulls.
    let fields: Vec<_> = target
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| f.as_ref().clone().with_nullable(f.is_nullable() || c.null_count() > 0))
        .collect();
    RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// Rows queued per offset, to turn the acked offset into acked rows.
struct Tally {
    /// (offset, rows queued up to and including it).
    calls: VecDeque<(i64, u64)>,
    acked_rows: u64,
    queued_rows: u64,
    bytes: u64,
}

impl Tally {
    fn acked(&mut self, last_acked: Option<i64>) -> u64 {
        while let Some(&(offset, rows)) = self.calls.front() {
            if last_acked.is_some_and(|a| offset <= a) {
                self.acked_rows = rows;
                self.calls.pop_front();
            } else {
                break;
            }
        }
        self.acked_rows
    }
}

/// Runs `zerobus ingest` on a columnar file.
pub async fn run(args: &IngestArgs, path: &Path) -> CliResult<()> {
    let batch_rows = args.batch_size.unwrap_or(DEFAULT_ARROW_BATCH_ROWS) as usize;
    let (reader, total) = open(path, batch_rows)?;
    let sdk = build_sdk(
        &args.endpoint,
        &args.workspace_url,
        args.application_name.as_deref(),
        args.ca_cert.as_deref(),
    )?;
    let r = recovery_options(args);
    let options = ArrowStreamConfigurationOptions {
        max_inflight_batches: args
            .max_inflight_requests
            .unwrap_or(zerobus_core::DEFAULT_MAX_INFLIGHT_BATCHES),
        max_inflight_bytes: args.max_inflight_bytes.unwrap_or(zerobus_core::DEFAULT_MAX_INFLIGHT_BYTES),
        recovery: r.recovery,
        recovery_retries: r.recovery_retries,
        recovery_backoff_ms: r.recovery_backoff_ms,
        recovery_backoff_max_ms: r.recovery_backoff_max_ms,
        recovery_timeout_ms: r.recovery_timeout_ms,
        ipc_compression: args
            .ipc_compression
            .parse::<IpcCompression>()
            .map_err(|e| CliError(e.to_string()))?,
        ..Default::default()
    };
    // The table's own schema: the service checks batches against it, and file columns are fitted
    // to it by name.
    let stream = sdk
        .create_arrow_stream(
            ArrowTableProperties::from_table(&args.table),
            &args.client_id,
            &args.client_secret,
            options,
        )
        .await?;
    let target = stream.schema().clone();
    let mut tally = Tally { calls: VecDeque::new(), acked_rows: 0, queued_rows: 0, bytes: 0 };
    let mut progress = Progress::new(total);
    let start = Instant::now();
    let mut failure: Option<String> = None;
    for (index, batch) in reader.enumerate() {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                failure = Some(read_error(path, index, &e));
                break;
            }
        };
        let batch = match conform(&args.table, &target, &batch) {
            Ok(b) => b,
            Err(e) => {
                failure = Some(format!("{} batch {index}: {e}", path.display()));
                break;
            }
        };
        let rows = batch.num_rows() as u64;
        let bytes = batch.get_array_memory_size() as u64;
        match stream.ingest_batch(batch).await {
            Ok(offset) => {
                tally.queued_rows += rows;
                tally.bytes += bytes;
                tally.calls.push_back((offset, tally.queued_rows));
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
        if progress.enabled() {
            let acked = tally.acked(stream.metrics().last_acked_offset);
            progress.update(Snapshot { sent: tally.queued_rows, acked, bytes: tally.bytes });
        }
    }
    let closed = match stream.flush().await {
        Ok(()) => stream.close().await,
        Err(e) => {
            let _ = stream.close().await;
            Err(e)
        }
    };
    progress.clear();
    let metrics = stream.metrics();
    let acked = tally.acked(metrics.last_acked_offset);
    println!(
        "{}",
        progress::summary(&progress::Totals {
            queued: tally.queued_rows,
            acked,
            recoveries: metrics.recoveries,
            resent: metrics.records_resent,
            bytes: tally.bytes,
            elapsed: start.elapsed(),
        })
        .replace(" records/s", " rows/s")
    );
    let failure = match (failure, closed) {
        (None, Ok(())) => return Ok(()),
        (Some(f), Ok(())) => f,
        (Some(f), Err(e)) => format!("{f}; then {e}"),
        (None, Err(e)) => e.to_string(),
    };
    let mut message = format!("{failure} ({acked} of {} queued rows acked", tally.queued_rows);
    let unacked = tally.queued_rows - acked;
    match (&args.failed_records, unacked) {
        (_, 0) => {}
        (Some(out), _) => {
            let ipc = stream.get_unacked_ipc()?;
            std::fs::write(out, ipc).map_err(|e| {
                CliError(format!("cannot write the unacknowledged rows to {}: {e}", out.display()))
            })?;
            message.push_str(&format!(
                "; the {unacked} unacknowledged rows are in {} as an Arrow IPC stream (re-ingest it with --file)",
                out.display()
            ));
        }
        (None, _) => message.push_str(&format!(
            "; {unacked} rows were not acknowledged: rerun with --failed-records PATH to keep them"
        )),
    }
    message.push(')');
    Err(CliError(message))
}

fn read_error(path: &Path, index: usize, e: &ArrowError) -> String {
    format!("{} batch {index} does not read: {e}", path.display())
}
