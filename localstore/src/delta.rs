//! The Delta side: a declared table's Delta schema, its table under the data directory (made
//! on first start), and appends that record the log position they reach as the table's
//! application transaction, so a commit replayed after a crash is recognised and skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use deltalake_core::kernel::transaction::CommitProperties;
use deltalake_core::kernel::{
    ArrayType, DataType as DeltaType, MapType, StructField, StructType, Transaction,
};
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter};
use deltalake_core::DeltaTable;
use zerobus_schema::{DataType, TableSchema};

/// The application id under which commits record the log position they include.
pub(crate) const APP_ID: &str = "zerobus-serve";

/// Where `table`'s Delta table lives under `dir`: `dir/catalog/schema/table`.
pub fn table_dir(dir: &Path, table: &str) -> PathBuf {
    table.split('.').fold(dir.to_owned(), |path, part| path.join(part))
}

fn url_of(path: &Path) -> Result<url::Url, String> {
    let absolute = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
    url::Url::from_directory_path(&absolute)
        .map_err(|()| format!("{} is not a directory path", absolute.display()))
}

/// The Delta type of one column type. DECIMAL is a Delta decimal (the Arrow rows carry it as
/// text, cast when committed); VARIANT is stored as its two binary parts.
fn delta_type(ty: &DataType) -> Result<DeltaType, String> {
    Ok(match ty {
        DataType::Boolean => DeltaType::BOOLEAN,
        DataType::Byte => DeltaType::BYTE,
        DataType::Short => DeltaType::SHORT,
        DataType::Int => DeltaType::INTEGER,
        DataType::Long => DeltaType::LONG,
        DataType::Float => DeltaType::FLOAT,
        DataType::Double => DeltaType::DOUBLE,
        DataType::Date => DeltaType::DATE,
        DataType::Timestamp => DeltaType::TIMESTAMP,
        DataType::TimestampNtz => DeltaType::TIMESTAMP_NTZ,
        DataType::String => DeltaType::STRING,
        DataType::Binary => DeltaType::BINARY,
        DataType::Decimal { precision, scale } => {
            DeltaType::decimal(*precision, *scale).map_err(|e| e.to_string())?
        }
        DataType::Variant => StructType::try_new([
            StructField::new("metadata", DeltaType::BINARY, false),
            StructField::new("value", DeltaType::BINARY, false),
        ])
        .map_err(|e| e.to_string())?
        .into(),
        DataType::Array { element, contains_null } => {
            ArrayType::new(delta_type(element)?, *contains_null).into()
        }
        DataType::Map { key, value, value_contains_null } => {
            MapType::new(delta_type(key)?, delta_type(value)?, *value_contains_null).into()
        }
        DataType::Struct(fields) => StructType::try_new(
            fields
                .iter()
                .map(|f| Ok(StructField::new(&f.name, delta_type(&f.data_type)?, f.nullable)))
                .collect::<Result<Vec<_>, String>>()?,
        )
        .map_err(|e| e.to_string())?
        .into(),
    })
}

/// The Delta columns of `table`.
pub(crate) fn delta_columns(table: &TableSchema) -> Result<Vec<StructField>, String> {
    table
        .columns
        .iter()
        .map(|c| Ok(StructField::new(&c.name, delta_type(&c.data_type)?, c.nullable)))
        .collect()
}

/// Opens `table`'s Delta table under `dir`, creating it with its columns when it does not
/// exist; an existing table must have the declared columns.
pub(crate) async fn open_or_create(dir: &Path, table: &TableSchema) -> Result<DeltaTable, String> {
    let name = table.full_name();
    let path = table_dir(dir, &name);
    std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let url = url_of(&path)?;
    let columns = delta_columns(table).map_err(|e| format!("table {name}: {e}"))?;
    let existing = DeltaTable::try_from_url(url.clone()).await.map_err(|e| format!("table {name}: {e}"))?;
    if existing.version().is_some() {
        let schema = existing.snapshot().map_err(|e| e.to_string())?.schema();
        let have: Vec<&StructField> = schema.fields().collect();
        if have.len() != columns.len() || have.iter().zip(&columns).any(|(a, b)| *a != b) {
            return Err(format!(
                "the Delta table of {name} at {} has other columns than its declaration; \
                 declare it as it was, or use a fresh --data-dir",
                path.display()
            ));
        }
        return Ok(existing);
    }
    existing
        .create()
        .with_table_name(&table.name)
        .with_columns(columns)
        .with_comment(format!("{name}, written by zerobus serve"))
        .await
        .map_err(|e| format!("cannot create the Delta table of {name} at {}: {e}", path.display()))
}

/// The log position `table`'s last commit included (0 when none did).
pub(crate) async fn committed_position(table: &DeltaTable) -> Result<u64, String> {
    let snapshot = table.snapshot().map_err(|e| e.to_string())?;
    let version =
        snapshot.transaction_version(table.log_store().as_ref(), APP_ID).await.map_err(|e| e.to_string())?;
    Ok(version.map_or(0, |v| v as u64))
}

/// Appends `batches` to `table` in one commit that records `position` as the app's transaction
/// version. Columns are cast to the table's Arrow types (LargeUtf8 to Utf8, decimal text to
/// decimals) where they differ.
pub(crate) async fn append(
    table: &mut DeltaTable,
    batches: Vec<RecordBatch>,
    position: u64,
) -> Result<u64, String> {
    let properties =
        CommitProperties::default().with_application_transaction(Transaction::new(APP_ID, position as i64));
    let mut writer =
        RecordBatchWriter::for_table(table).map_err(|e| e.to_string())?.with_commit_properties(properties);
    let target = writer.arrow_schema();
    for batch in batches {
        let batch = conform(batch, &target)?;
        writer.write(batch).await.map_err(|e| e.to_string())?;
    }
    writer.flush_and_commit(table).await.map_err(|e| e.to_string())
}

/// `batch` with `target`'s column types and names.
fn conform(batch: RecordBatch, target: &SchemaRef) -> Result<RecordBatch, String> {
    if batch.schema().fields().len() != target.fields().len() {
        return Err(format!(
            "a batch has {} columns, the table {}",
            batch.schema().fields().len(),
            target.fields().len()
        ));
    }
    if batch.schema() == *target {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                arrow_cast::cast(column, field.data_type())
                    .map_err(|e| format!("column {}: {e}", field.name()))
            }
        })
        .collect::<Result<Vec<ArrayRef>, String>>()?;
    RecordBatch::try_new(Arc::clone(target), columns).map_err(|e| e.to_string())
}
