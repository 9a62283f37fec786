//! `zerobus`: a local Zerobus server for development (`serve`), a loader that streams JSON
//! lines or generated records into a table (`ingest`), a table's record message as `.proto`
//! (`schema`), and a table `serve --data-dir` keeps, read back from Delta (`table show`).
//!
//! Exit codes: 0 success, 1 failure (one `error: …` line on stderr), 2 usage error (clap).

mod ingest;
mod ingest_arrow;
mod input;
mod progress;
mod schema;
mod serve;
mod table;

use std::fmt;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Command line of the `zerobus` binary. No `Debug`: it holds the client secret.
#[derive(Parser)]
#[command(name = "zerobus", version = zerobus_core::VERSION, about = "Zerobus Ingest tools: a local server, a record loader and table schemas")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local Zerobus server (gRPC + OAuth token endpoint) until interrupted.
    Serve(serve::ServeArgs),
    /// Stream records (JSON lines or generated) into a table and report the rate.
    Ingest(Box<ingest::IngestArgs>),
    /// Print a table's record message (from its Unity Catalog schema) as a proto2 `.proto`.
    Schema(Box<schema::SchemaArgs>),
    /// Read back a table `serve --data-dir` keeps: rows, columns, Delta versions, first rows.
    Table(table::TableArgs),
    /// Print the version.
    Version,
}

/// A failure reported as one `error: …` line and exit code 1.
#[derive(Debug)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<zerobus_core::ZerobusError> for CliError {
    fn from(e: zerobus_core::ZerobusError) -> Self {
        CliError(e.to_string())
    }
}

impl From<String> for CliError {
    fn from(message: String) -> Self {
        CliError(message)
    }
}

/// Result of a subcommand.
pub type CliResult<T> = Result<T, CliError>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Ingest(args) = &cli.command {
        if let Some(message) = args.usage_error() {
            let mut cmd = Cli::command();
            let sub = cmd.find_subcommand_mut("ingest").expect("ingest is a subcommand").clone();
            sub.bin_name("zerobus ingest").error(clap::error::ErrorKind::ArgumentConflict, message).exit();
        }
    }
    if let Command::Version = cli.command {
        println!("zerobus {}", zerobus_core::VERSION);
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Ingest(args) => ingest::run(*args).await,
            Command::Schema(args) => schema::run(*args).await,
            Command::Table(args) => table::run(args).await,
            Command::Version => unreachable!("handled above"),
        }
    });
    // Background SDK tasks may still hold connections; don't let them delay the exit.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
