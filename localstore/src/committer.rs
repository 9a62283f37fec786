//! The committer: one thread that turns the synced log into Delta commits, every
//! [`StoreOptions::commit_interval`] or sooner once [`StoreOptions::round_bytes`] are waiting,
//! one commit per table per round. Each commit records the log position it reaches ([`delta::APP_ID`]'s transaction
//! version), so entries a table already holds are skipped when the log is read again after a
//! crash; `_wal/checkpoint` says where every table is committed, and segments before it go.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use deltalake_core::DeltaTable;
use zerobus_schema::TableSchema;

use crate::records::{json_rows, split_json};
use crate::wal::{self, Kind, Log, Reader};
use crate::{delta, lock, Progress, StoreOptions};

struct Table {
    delta: DeltaTable,
    /// The log position its last commit reached.
    committed: u64,
    /// Its rows' Arrow schema (JSON entries decode to it).
    arrow: SchemaRef,
}

/// A table's share of one round, in log order.
enum Part {
    Json(Vec<u8>),
    Arrow(Vec<RecordBatch>),
}

pub(crate) struct Committer {
    wal_dir: PathBuf,
    log: Arc<Log>,
    tables: HashMap<String, Table>,
    /// Where the next round starts reading.
    cursor: u64,
    runtime: tokio::runtime::Runtime,
    progress: Arc<std::sync::Mutex<Progress>>,
    options: StoreOptions,
}

impl Committer {
    /// Opens (or creates) every table's Delta table and reads where the log was committed up
    /// to, then commits whatever the log holds past that (the replay after a crash).
    pub fn start(
        dir: &Path,
        log: Arc<Log>,
        declared: &[TableSchema],
        progress: Arc<std::sync::Mutex<Progress>>,
        options: StoreOptions,
    ) -> Result<Committer, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the committer's runtime: {e}"))?;
        let mut tables = HashMap::new();
        for schema in declared {
            let delta = runtime.block_on(delta::open_or_create(dir, schema))?;
            let committed = runtime.block_on(delta::committed_position(&delta))?;
            let arrow = Arc::new(zerobus_schema::arrow_schema(schema));
            tables.insert(schema.full_name(), Table { delta, committed, arrow });
        }
        let wal_dir = dir.join("_wal");
        let cursor = read_checkpoint(&wal_dir)?;
        let mut committer = Committer { wal_dir, log, tables, cursor, runtime, progress, options };
        let end = committer.log.durable_now()?;
        while committer.cursor < end {
            committer.round(end)?;
        }
        Ok(committer)
    }

    /// Commits rounds until `stop` says so (or its sender goes), then commits what is durable
    /// and returns.
    pub fn run(mut self, stop: Receiver<()>) {
        let mut last = Instant::now();
        let mut stopping = false;
        loop {
            // Once asked to stop, rounds follow each other without a pause until all is in.
            if !stopping {
                stopping = match stop.recv_timeout(Duration::from_millis(100)) {
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
                    Err(RecvTimeoutError::Timeout) => false,
                };
            }
            let durable = match self.log.durable_now() {
                Ok(p) => p,
                Err(why) => {
                    tracing::error!("the committer stops: {why}");
                    return;
                }
            };
            let waiting = durable.saturating_sub(self.cursor);
            let due = waiting > 0
                && (stopping
                    || waiting >= self.options.round_bytes
                    || last.elapsed() >= self.options.commit_interval);
            if due {
                last = Instant::now();
                if let Err(why) = self.round(durable) {
                    tracing::error!("commit to Delta failed (retried next round): {why}");
                    if stopping {
                        return;
                    }
                    continue;
                }
            }
            if stopping && self.cursor >= durable {
                return;
            }
        }
    }

    /// Reads up to [`StoreOptions::round_bytes`] of the log (not past `limit`) and commits each table's rows
    /// of it in one commit.
    fn round(&mut self, limit: u64) -> Result<(), String> {
        let started = Instant::now();
        let mut reader = Reader::new(&self.wal_dir, self.cursor);
        let mut parts: HashMap<String, (Vec<Part>, u64)> = HashMap::new();
        let mut read = 0u64;
        while read < self.options.round_bytes {
            let Some(entry) = reader.next(limit)? else { break };
            read += entry.body.len() as u64;
            let table = self.tables.get(&entry.table).ok_or_else(|| {
                format!(
                    "the log holds rows of table {} (up to position {}), which is not declared: \
                     declare it again so they can be committed",
                    entry.table, entry.end
                )
            })?;
            if entry.end <= table.committed {
                continue;
            }
            let part = match entry.kind {
                Kind::JsonRecords => Part::Json(entry.body),
                Kind::ArrowIpc => Part::Arrow(ipc_batches(entry.body, entry.end)?),
            };
            let (list, end) = parts.entry(entry.table).or_default();
            list.push(part);
            *end = entry.end;
        }
        let read_to = reader.position();
        let mut rows_committed = 0u64;
        for (name, (list, end)) in parts {
            let table = self.tables.get_mut(&name).expect("checked when read");
            let batches = to_batches(&table.arrow, list).map_err(|e| format!("table {name}: {e}"))?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let version = self
                .runtime
                .block_on(delta::append(&mut table.delta, batches, end))
                .map_err(|e| format!("table {name}: {e}"))?;
            table.committed = end;
            rows_committed += rows as u64;
            let mut progress = lock(&self.progress);
            *progress.rows.entry(name.clone()).or_default() += rows as u64;
            progress.commits += 1;
            drop(progress);
            tracing::info!("{name}: committed {rows} rows as version {version} (log position {end})");
        }
        self.cursor = read_to;
        write_checkpoint(&self.wal_dir, read_to)?;
        wal::delete_before(&self.wal_dir, read_to)?;
        if rows_committed > 0 {
            tracing::debug!("round of {rows_committed} rows in {:?}", started.elapsed());
        }
        Ok(())
    }
}

/// A table's parts of a round as record batches; consecutive JSON entries decode together.
fn to_batches(schema: &SchemaRef, parts: Vec<Part>) -> Result<Vec<RecordBatch>, String> {
    let mut out = Vec::new();
    let mut json: Vec<Vec<u8>> = Vec::new();
    let flush = |json: &mut Vec<Vec<u8>>, out: &mut Vec<RecordBatch>| -> Result<(), String> {
        if json.is_empty() {
            return Ok(());
        }
        let mut records = Vec::new();
        for body in json.iter() {
            records.extend(split_json(body)?);
        }
        out.extend(json_rows(schema, &records)?);
        json.clear();
        Ok(())
    };
    for part in parts {
        match part {
            Part::Json(body) => json.push(body),
            Part::Arrow(batches) => {
                flush(&mut json, &mut out)?;
                out.extend(batches);
            }
        }
    }
    flush(&mut json, &mut out)?;
    Ok(out)
}

/// The batches of an [`Kind::ArrowIpc`] entry (an IPC stream without its end marker).
fn ipc_batches(mut body: Vec<u8>, end: u64) -> Result<Vec<RecordBatch>, String> {
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    let reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(body), None)
        .map_err(|e| format!("the Arrow entry ending at log position {end} does not decode: {e}"))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the Arrow entry ending at log position {end} does not decode: {e}"))
}

fn checkpoint_path(wal_dir: &Path) -> PathBuf {
    wal_dir.join("checkpoint")
}

/// Where every table is committed up to (0 without a checkpoint).
fn read_checkpoint(wal_dir: &Path) -> Result<u64, String> {
    match std::fs::read_to_string(checkpoint_path(wal_dir)) {
        Ok(text) => text.trim().parse().map_err(|e| {
            format!(
                "{} is damaged ({e}): delete it to replay the whole log",
                checkpoint_path(wal_dir).display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Without a checkpoint, the oldest segment is where the log starts.
            Ok(wal::segments(wal_dir)?.first().map_or(0, |(start, _)| *start))
        }
        Err(e) => Err(format!("cannot read {}: {e}", checkpoint_path(wal_dir).display())),
    }
}

/// Through a temporary file and a rename. Not synced: a lost checkpoint only means reading
/// more of the log again, whose committed entries the tables' positions skip.
fn write_checkpoint(wal_dir: &Path, position: u64) -> Result<(), String> {
    let path = checkpoint_path(wal_dir);
    let tmp = wal_dir.join("checkpoint.tmp");
    std::fs::write(&tmp, format!("{position}\n"))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
