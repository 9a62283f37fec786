//! `zerobus serve`: the conformance mock server, run as a standalone local Zerobus.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use zerobus_conformance::mock::{
    CallStore, FaultScript, MockServer, MockServerConfig, StreamAction, StreamFault, TableStats,
};

use zerobus_schema::TableSchema;

use crate::{CliError, CliResult};

/// Options of `zerobus serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub grpc_addr: SocketAddr,
    /// OAuth token endpoint (workspace URL) listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub token_addr: SocketAddr,
    /// Another table to serve besides the default ones: a name, `catalog.schema.table`, or a
    /// definition with its columns in Delta SQL syntax, e.g.
    /// 'main.default.air_quality(device_name STRING NOT NULL, temp INT, tags ARRAY<STRING>)'.
    /// A defined table's schema is served at the workspace URL's Unity Catalog API, and PROTO
    /// streams on it must fit its columns. Repeatable.
    #[arg(long = "table", value_name = "NAME|DEF", value_parser = parse_table_arg)]
    pub tables: Vec<TableArg>,
    /// A file of table definitions (as --table takes them), separated by `;` or white space,
    /// with `--` or `#` comments. Repeatable.
    #[arg(long = "tables-file", value_name = "PATH")]
    pub tables_files: Vec<PathBuf>,
    /// Keep only record and byte counts, not payloads (long or large demos).
    #[arg(long)]
    pub no_payloads: bool,
    /// Stop when standard input reaches end of file (for scripts and tests that own the pipe).
    #[arg(long)]
    pub exit_on_stdin_close: bool,
    /// Store records but never acknowledge them (benchmarks' memory case: the client must stop
    /// at its in-flight bound).
    #[arg(long)]
    pub withhold_acks: bool,
    /// One ack per ingest message rather than one per burst (benchmarks: like a server that
    /// acks each request).
    #[arg(long)]
    pub ack_every_message: bool,
    /// On shutdown, write `{"tables": {NAME: {"records": N, "bytes": B}}}` to this file.
    #[arg(long, value_name = "PATH")]
    pub stats_file: Option<PathBuf>,
    /// Keep every declared table (`--table` with columns, `--tables-file`) as a Delta table
    /// under DIR/catalog/schema/table: each call is synced to a write-ahead log in DIR/_wal
    /// before it is acked and committed to Delta every few seconds. On start the log past the
    /// last commit is committed, so a crash loses no acked row. Tables without declared
    /// columns are only counted, and no payloads are kept in memory (as with --no-payloads).
    /// Read a table back with `zerobus table show`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// A `--table` value: a bare name, or a definition with columns.
#[derive(Clone, Debug)]
pub enum TableArg {
    /// A table that takes any records.
    Name(String),
    /// A table with declared columns.
    Defined(TableSchema),
}

/// A clap value parser for `--table`: a definition when it lists columns, otherwise a name.
fn parse_table_arg(value: &str) -> Result<TableArg, String> {
    if value.contains('(') {
        zerobus_schema::parse_table(value).map(TableArg::Defined).map_err(|e| e.to_string())
    } else {
        parse_table(value).map(TableArg::Name)
    }
}

/// The shape the service accepts, so a typo fails at startup rather than as NOT_FOUND on the
/// first stream.
fn parse_table(name: &str) -> Result<String, String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && !p.contains(char::is_whitespace)) {
        Ok(name.to_owned())
    } else {
        Err(format!("{name:?} is not a three-part `catalog.schema.table` name"))
    }
}

/// Runs the server until SIGINT, SIGTERM or (with `--exit-on-stdin-close`) end of stdin.
pub async fn run(args: ServeArgs) -> CliResult<()> {
    let mut config = MockServerConfig {
        grpc_addr: args.grpc_addr,
        token_addr: args.token_addr,
        // With a data directory the rows live in Delta; memory keeps only the counts.
        keep_payloads: !args.no_payloads && args.data_dir.is_none(),
        ack_every_message: args.ack_every_message,
        ..MockServerConfig::default()
    };
    let mut declared: Vec<TableSchema> = Vec::new();
    for path in &args.tables_files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError(format!("cannot read tables file {}: {e}", path.display())))?;
        let tables = zerobus_schema::parse_tables(&text)
            .map_err(|e| CliError(format!("tables file {}: {e}", path.display())))?;
        declared.extend(tables);
    }
    for table in args.tables {
        match table {
            TableArg::Name(name) => {
                if !config.tables.contains(&name) {
                    config.tables.push(name);
                }
            }
            TableArg::Defined(schema) => declared.push(schema),
        }
    }
    for (i, schema) in declared.iter().enumerate() {
        let name = schema.full_name();
        if declared[..i].iter().any(|other| other.full_name() == name) {
            return Err(CliError(format!("table {name} is defined twice")));
        }
        if !config.tables.contains(&name) {
            config.tables.push(name);
        }
    }
    let store = match &args.data_dir {
        Some(dir) => {
            if declared.is_empty() {
                return Err(CliError(
                    "--data-dir keeps declared tables, and none is declared: add --table 'catalog.schema.table(col TYPE, …)' or --tables-file".into(),
                ));
            }
            let (dir, tables) = (dir.clone(), declared.clone());
            let store =
                tokio::task::spawn_blocking(move || zerobus_localstore::LocalStore::open(&dir, &tables))
                    .await
                    .map_err(|e| CliError(format!("cannot open the data directory: {e}")))?
                    .map_err(|e| {
                        CliError(format!(
                            "data directory {}: {e}",
                            args.data_dir.as_ref().expect("some").display()
                        ))
                    })?;
            config.store = Some(store.clone() as Arc<dyn CallStore>);
            Some(store)
        }
        None => None,
    };
    config.table_schemas = declared;
    let tables = config.tables.clone();
    let client_id = config.client_id.clone();
    let client_secret = config.client_secret.clone();
    let server =
        MockServer::start(config).await.map_err(|e| CliError(format!("cannot start the server: {e}")))?;
    if args.withhold_acks {
        server.set_faults(FaultScript {
            streams: vec![StreamFault {
                connection: None,
                action: StreamAction::WithholdAcksAfter { messages: 0 },
            }],
            ..FaultScript::default()
        });
    }

    // The dev secret is public by design (it is the mock's fixed default), so printing it is
    // what lets scripts `eval`/grep these lines; real secrets never pass through here.
    let banner = format!(
        "ZEROBUS_ENDPOINT={}\nZEROBUS_WORKSPACE_URL={}\nZEROBUS_CLIENT_ID={client_id}\n\
         ZEROBUS_CLIENT_SECRET={client_secret}\nZEROBUS_TABLES={}\n",
        server.grpc_url(),
        server.workspace_url(),
        tables.join(","),
    );
    {
        let mut out = std::io::stdout().lock();
        out.write_all(banner.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| CliError(format!("cannot write to stdout: {e}")))?;
    }

    wait_for_stop(args.exit_on_stdin_close).await?;

    let stats: Vec<(String, TableStats)> =
        tables.iter().map(|t| (t.clone(), server.table_stats(t))).collect();
    server.shutdown().await;
    if let Some(store) = store {
        // What is synced is committed before the process goes.
        let committed = tokio::task::spawn_blocking(move || {
            store.shutdown();
            store.progress()
        })
        .await
        .map_err(|e| CliError(format!("cannot stop the data directory: {e}")))?;
        let rows: u64 = committed.rows.values().sum();
        eprintln!(
            "zerobus serve: committed {rows} rows in {} Delta commits under {}",
            committed.commits,
            args.data_dir.as_ref().expect("a store has a directory").display()
        );
    }

    let width = tables.iter().map(String::len).max().unwrap_or(0);
    let mut summary = String::from("zerobus serve: stopped; tables hold:\n");
    for (table, s) in &stats {
        summary.push_str(&format!("  {table:<width$}  {:>10} records  {:>13} bytes\n", s.records, s.bytes));
    }
    eprint!("{summary}");

    if let Some(path) = &args.stats_file {
        write_stats(path, &stats)?;
    }
    Ok(())
}

/// Resolves on the first of SIGINT, SIGTERM and, when asked, end of stdin.
async fn wait_for_stop(watch_stdin: bool) -> CliResult<()> {
    let stdin_closed = async move {
        if !watch_stdin {
            return std::future::pending::<()>().await;
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // A plain thread rather than tokio's stdin: a blocking read there would hold up runtime
        // shutdown, while a detached thread simply ends with the process.
        std::thread::spawn(move || {
            let mut sink = [0u8; 4096];
            let mut stdin = std::io::stdin().lock();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = tx.send(());
        });
        let _ = rx.await;
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(|e| CliError(format!("cannot listen for Ctrl-C: {e}")))?,
        () = terminate => {}
        () = stdin_closed => {}
    }
    Ok(())
}

/// Writes through a temporary file and a rename, so a script polling for the file never reads
/// half of it.
fn write_stats(path: &Path, stats: &[(String, TableStats)]) -> CliResult<()> {
    let tables: serde_json::Map<String, serde_json::Value> = stats
        .iter()
        .map(|(t, s)| (t.clone(), serde_json::json!({ "records": s.records, "bytes": s.bytes })))
        .collect();
    let body = serde_json::json!({ "tables": tables });
    let mut text = serde_json::to_string_pretty(&body).expect("JSON values always serialize");
    text.push('\n');
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError(format!("cannot write stats file {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_need_three_parts() {
        assert!(parse_table("a.b.c").is_ok());
        assert!(parse_table("a.b").is_err());
        assert!(parse_table("a..c").is_err());
        assert!(parse_table("a.b.c.d").is_err());
        assert!(parse_table("a.b c.d").is_err());
    }

    #[test]
    fn table_args_are_names_or_definitions() {
        assert!(matches!(parse_table_arg("a.b.c"), Ok(TableArg::Name(n)) if n == "a.b.c"));
        match parse_table_arg("a.b.c(id BIGINT NOT NULL, tags ARRAY<STRING>)") {
            Ok(TableArg::Defined(t)) => {
                assert_eq!(t.full_name(), "a.b.c");
                assert_eq!(t.columns.len(), 2);
                assert!(!t.columns[0].nullable);
            }
            other => panic!("{other:?}"),
        }
        let err = parse_table_arg("a.b.c(id BIGNUM)").unwrap_err();
        assert!(err.contains("unknown type BIGNUM"), "{err}");
        assert!(parse_table_arg("a.b").is_err());
    }
}
