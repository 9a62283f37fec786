//! `zerobus table show`: what a table under a data directory holds, read back from its Delta
//! table (the log is not consulted: rows not committed yet are not shown).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use deltalake_core::DeltaTable;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::delta::table_dir;

/// What `show_table` found.
#[derive(Clone, Debug)]
pub struct TableReport {
    /// Where the Delta table is.
    pub path: String,
    /// Rows in the current version (from the Parquet files' footers).
    pub rows: u64,
    /// Data files in the current version.
    pub files: usize,
    /// The current version.
    pub version: u64,
    /// `name TYPE [NOT NULL]` per column, in order.
    pub columns: Vec<String>,
    /// (version, timestamp in ms since the epoch, operation) per commit, newest first.
    pub history: Vec<(u64, i64, String)>,
    /// The first rows, each column formatted as text, with the column names first.
    pub sample: Vec<Vec<String>>,
}

/// Every row of `table`'s current version under `dir`, file by file.
pub async fn read_rows(dir: &Path, table: &str) -> Result<Vec<RecordBatch>, String> {
    let (_, files) = open(dir, table).await?;
    let mut out = Vec::new();
    for file in files {
        let open = File::open(&file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(open)
            .and_then(|b| b.build())
            .map_err(|e| format!("{}: {e}", file.display()))?;
        for batch in reader {
            out.push(batch.map_err(|e| format!("{}: {e}", file.display()))?);
        }
    }
    Ok(out)
}

/// `table`'s Delta table under `dir` and the paths of its current data files.
async fn open(dir: &Path, table: &str) -> Result<(DeltaTable, Vec<PathBuf>), String> {
    let path = table_dir(dir, table);
    if !path.join("_delta_log").is_dir() {
        return Err(format!(
            "no Delta table of {table} under {} (looked in {}); is it declared on `zerobus serve --data-dir`?",
            dir.display(),
            path.display()
        ));
    }
    let absolute = std::path::absolute(&path).map_err(|e| e.to_string())?;
    let url = url::Url::from_directory_path(&absolute)
        .map_err(|()| format!("{}: not a path", absolute.display()))?;
    let delta =
        DeltaTable::try_from_url(url).await.map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let files = delta
        .get_file_uris()
        .map_err(|e| e.to_string())?
        .map(|uri| {
            url::Url::parse(&uri)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .unwrap_or_else(|| PathBuf::from(uri))
        })
        .collect();
    Ok((delta, files))
}

/// Reads `table` (`catalog.schema.table`) under `dir` and up to `rows` of its first rows.
pub async fn show_table(dir: &Path, table: &str, rows: usize) -> Result<TableReport, String> {
    let path = table_dir(dir, table);
    let (delta, files) = open(dir, table).await?;
    let version = delta.version().unwrap_or(0);
    let schema = delta.snapshot().map_err(|e| e.to_string())?.schema();
    let columns = schema
        .fields()
        .map(|f| format!("{} {}{}", f.name(), f.data_type(), if f.is_nullable() { "" } else { " NOT NULL" }))
        .collect();
    let history = delta
        .history(None)
        .await
        .map_err(|e| format!("cannot read the history of {table}: {e}"))?
        .enumerate()
        .map(|(i, info)| {
            (
                version.saturating_sub(i as u64),
                info.timestamp.unwrap_or(0),
                info.operation.unwrap_or_default(),
            )
        })
        .collect();

    let mut total = 0u64;
    let mut sample: Vec<Vec<String>> = Vec::new();
    let mut names_done = false;
    for file_path in &files {
        let open = || File::open(file_path).map_err(|e| format!("cannot open {}: {e}", file_path.display()));
        let reader =
            SerializedFileReader::new(open()?).map_err(|e| format!("{}: {e}", file_path.display()))?;
        total += reader.metadata().file_metadata().num_rows() as u64;
        let wanted = rows.saturating_sub(sample.len().saturating_sub(1));
        if wanted == 0 {
            continue;
        }
        let batches = ParquetRecordBatchReaderBuilder::try_new(open()?)
            .and_then(|b| b.with_limit(wanted).with_batch_size(wanted.max(1)).build())
            .map_err(|e| format!("{}: {e}", file_path.display()))?;
        for batch in batches {
            let batch = batch.map_err(|e| format!("{}: {e}", file_path.display()))?;
            if !names_done {
                sample.push(batch.schema().fields().iter().map(|f| f.name().clone()).collect());
                names_done = true;
            }
            sample.extend(format_rows(&batch, rows + 1 - sample.len())?);
        }
    }
    Ok(TableReport {
        path: path.display().to_string(),
        rows: total,
        files: files.len(),
        version,
        columns,
        history,
        sample,
    })
}

/// Up to `limit` rows of `batch` as text.
fn format_rows(batch: &RecordBatch, limit: usize) -> Result<Vec<Vec<String>>, String> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok((0..batch.num_rows().min(limit))
        .map(|row| formatters.iter().map(|f| f.value(row).to_string()).collect())
        .collect())
}
