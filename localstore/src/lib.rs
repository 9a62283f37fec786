//! The local Zerobus's durable side (`zerobus serve --data-dir DIR`): what the service does, on
//! one machine. Every call the mock server accepts for a declared table is checked against the
//! table's columns, appended to a write-ahead log ([`wal`]) and synced before its ack goes out
//! (one `fdatasync` for whatever every stream appended meanwhile); a committer thread
//! ([`committer`]) turns the log into Delta commits (delta-rs: Parquet files plus `_delta_log`)
//! every couple of seconds. Both the gRPC record streams and Arrow Flight land in the same
//! table.
//!
//! Crash safety: each commit records the log position it reaches as the table's application
//! transaction (`zerobus-serve`), so on start the log past the last commit is committed again
//! and nothing twice; an entry is acked only once synced, so a `kill -9` after an ack loses
//! nothing.
//!
//! Layout of `DIR`: `catalog/schema/table/` per declared table (a Delta table any Delta reader
//! opens), `_wal/` for the log segments and its checkpoint.
//!
//! ```no_run
//! # fn demo(tables: Vec<zerobus_schema::TableSchema>) -> Result<(), String> {
//! use std::sync::Arc;
//! use zerobus_conformance::mock::{CallStore, MockServerConfig};
//! let store = zerobus_localstore::LocalStore::open(std::path::Path::new("data"), &tables)?;
//! let config = MockServerConfig {
//!     table_schemas: tables,
//!     store: Some(store.clone() as Arc<dyn CallStore>),
//!     ..MockServerConfig::default()
//! };
//! // ... MockServer::start(config), serve, and on the way out:
//! store.shutdown();
//! # Ok(())
//! # }
//! ```

mod committer;
mod delta;
mod records;
mod show;
mod wal;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use arrow_schema::SchemaRef;
use tokio::sync::watch;
use zerobus_conformance::mock::{CallSink, CallStore, Durable, StreamInput};
use zerobus_schema::TableSchema;

pub use delta::table_dir;
pub use show::{read_rows, show_table, TableReport};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the committer has done since the store opened.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Rows committed per table.
    pub rows: HashMap<String, u64>,
    /// Delta commits made.
    pub commits: u64,
}

/// How often the committer commits.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// Longest a durable row waits to be committed while the log is quiet. Default 2 s.
    pub commit_interval: std::time::Duration,
    /// Log bytes one commit round reads at most; this many waiting start a round before the
    /// interval. Default 64 MiB.
    pub round_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { commit_interval: std::time::Duration::from_secs(2), round_bytes: 64 * 1024 * 1024 }
    }
}

/// A data directory's log and committer, serving as the mock's [`CallStore`].
pub struct LocalStore {
    dir: PathBuf,
    log: Arc<wal::Log>,
    tables: HashMap<String, SchemaRef>,
    progress: Arc<Mutex<Progress>>,
    committer: Mutex<Option<(std::sync::mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl LocalStore {
    /// Opens `dir` (made if missing) for `tables`: opens or creates each table's Delta table,
    /// opens the log, commits whatever it holds past the last commit (after a crash), and starts
    /// the committer. Fails when a table's Delta table has other columns than declared, or the
    /// log holds uncommitted rows of a table not declared now.
    pub fn open(dir: &Path, tables: &[TableSchema]) -> Result<Arc<LocalStore>, String> {
        Self::open_with(dir, tables, StoreOptions::default())
    }

    /// [`open`](Self::open) with other [`StoreOptions`].
    pub fn open_with(
        dir: &Path,
        tables: &[TableSchema],
        options: StoreOptions,
    ) -> Result<Arc<LocalStore>, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let (log, _) = wal::Log::open(&dir.join("_wal"))?;
        let log = Arc::new(log);
        let progress = Arc::new(Mutex::new(Progress::default()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = {
            let (dir, log, tables, progress) =
                (dir.to_owned(), log.clone(), tables.to_vec(), progress.clone());
            std::thread::Builder::new()
                .name("zerobus-committer".into())
                .spawn(move || match committer::Committer::start(&dir, log, &tables, progress, options) {
                    Ok(committer) => {
                        let _ = ready_tx.send(Ok(()));
                        committer.run(stop_rx);
                    }
                    Err(why) => {
                        let _ = ready_tx.send(Err(why));
                    }
                })
                .map_err(|e| format!("cannot start the committer: {e}"))?
        };
        let started = ready_rx.recv().unwrap_or_else(|_| Err("the committer ended while starting".into()));
        if let Err(why) = started {
            let _ = thread.join();
            log.stop();
            return Err(why);
        }
        Ok(Arc::new(LocalStore {
            dir: dir.to_owned(),
            log,
            tables: tables
                .iter()
                .map(|t| (t.full_name(), Arc::new(zerobus_schema::arrow_schema(t)) as SchemaRef))
                .collect(),
            progress,
            committer: Mutex::new(Some((stop_tx, thread))),
        }))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the committer has done so far.
    pub fn progress(&self) -> Progress {
        lock(&self.progress).clone()
    }

    /// Syncs what was appended, commits everything durable to Delta, and stops. Later appends
    /// fail (their streams end with `UNAVAILABLE`). Idempotent.
    pub fn shutdown(&self) {
        self.log.stop();
        if let Some((stop, thread)) = lock(&self.committer).take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

impl Drop for LocalStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl CallStore for LocalStore {
    fn open(&self, table: &str, input: StreamInput<'_>) -> Result<Option<Box<dyn CallSink>>, String> {
        let Some(schema) = self.tables.get(table) else { return Ok(None) };
        let (log, table, schema) = (self.log.clone(), table.to_owned(), schema.clone());
        Ok(Some(match input {
            StreamInput::Json => Box::new(records::RecordSink { log, table, schema, proto: None }),
            StreamInput::Proto(descriptor) => {
                let proto = Some(records::RecordSink::proto_descriptor(descriptor)?);
                Box::new(records::RecordSink { log, table, schema, proto })
            }
            StreamInput::Arrow { schema: batches, message } => Box::new(records::ArrowSink {
                log,
                table,
                schema: batches.clone(),
                schema_message: records::frame(message),
            }),
        }))
    }

    fn durable(&self) -> watch::Receiver<Durable> {
        self.log.durable()
    }
}
