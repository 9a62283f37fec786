//! `zerobus table show`: a table of `zerobus serve --data-dir` read back from its Delta table:
//! row count, columns, version history and the first rows.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::{CliError, CliResult};

/// `zerobus table …`.
#[derive(Debug, Args)]
pub struct TableArgs {
    #[command(subcommand)]
    command: TableCommand,
}

#[derive(Debug, Subcommand)]
enum TableCommand {
    /// Print a table's row count, columns, Delta versions and first rows.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The table, `catalog.schema.table`.
    table: String,
    /// The data directory `zerobus serve --data-dir` wrote.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// How many rows to print.
    #[arg(long, default_value_t = 5)]
    rows: usize,
}

/// Runs `zerobus table …`.
pub async fn run(args: TableArgs) -> CliResult<()> {
    match args.command {
        TableCommand::Show(show) => {
            let report = zerobus_localstore::show_table(&show.data_dir, &show.table, show.rows)
                .await
                .map_err(CliError)?;
            print!("{}", render(&show.table, &report));
            Ok(())
        }
    }
}

fn render(table: &str, r: &zerobus_localstore::TableReport) -> String {
    let mut out = format!("{table}  ({})\n", r.path);
    out.push_str(&format!("rows: {}  in {} files, version {}\n", r.rows, r.files, r.version));
    out.push_str("columns:\n");
    for c in &r.columns {
        out.push_str(&format!("  {c}\n"));
    }
    out.push_str("versions:\n");
    for (version, ms, operation) in &r.history {
        out.push_str(&format!("  {version:>4}  {}  {operation}\n", timestamp(*ms)));
    }
    if let Some((names, rows)) = r.sample.split_first() {
        out.push_str(&format!("first {} rows:\n", rows.len()));
        let widths: Vec<usize> = (0..names.len())
            .map(|i| {
                std::iter::once(names)
                    .chain(rows)
                    .map(|row| row[i].chars().count().min(40))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in std::iter::once(names).chain(rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| {
                    let cell: String = if cell.chars().count() > 40 {
                        cell.chars().take(39).chain(std::iter::once('…')).collect()
                    } else {
                        cell.clone()
                    };
                    format!("{cell:<w$}")
                })
                .collect();
            out.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
        }
    }
    out
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn timestamp(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => format!("{ms} ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::timestamp;

    #[test]
    fn timestamps_print_as_utc_dates() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(timestamp(1_764_633_600_000 + 3_723_000), "2025-12-02 01:02:03 UTC");
    }
}
