//! Arrow cases: the runner builds the schema and the record batches (rows generated from
//! (seed, seq) as records are), hands them to testees as Arrow IPC streams, and reads back what
//! testees and the server hold. A row of `conformance.arrow.events` is `(seed, seq, pad)`, the pad
//! being [`ARROW_PAD`] letters of the record pad of (seed, seq).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, LargeStringArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde_json::{json, Value};

use super::{hex, unhex};
use crate::mock::zerobus_schema;
use crate::records;

/// The table Arrow cases write to unless a step names another.
pub(super) const ARROW_TABLE: &str = "conformance.arrow.events";

/// Letters of pad per row.
const ARROW_PAD: usize = 16;

/// The schema a `create_arrow_stream` step hands over: the table's mapping (PROTOCOL.md §9), or
/// the columns of `schema_sql` (Delta SQL column syntax) for cases that need a schema the table
/// does not have.
pub(super) fn schema_for(table: &str, schema_sql: Option<&str>) -> Result<SchemaRef, String> {
    let parsed = match schema_sql {
        Some(cols) => zerobus_schema::parse_table(&format!("{table}({cols})")).map_err(|e| e.to_string())?,
        None => super::tables::table(table)?.clone(),
    };
    Ok(Arc::new(zerobus_schema::arrow_schema(&parsed)))
}

fn pad(seed: u64, seq: u64) -> String {
    let mut s = String::with_capacity(ARROW_PAD);
    records::push_pad(&mut s, seed, seq, ARROW_PAD);
    s
}

/// Rows `start..start + rows` of `seed`. `bad`: `seq_as_string` gives the `seq` column the wrong
/// type (the schema says so too, as a producer with the wrong types would write it).
fn batch(seed: u64, start: u64, rows: u64, bad: Option<&str>) -> Result<RecordBatch, String> {
    let seqs = start..start + rows;
    let seed_col: ArrayRef = Arc::new(Int64Array::from_iter_values(seqs.clone().map(|_| seed as i64)));
    let pad_col: ArrayRef = Arc::new(LargeStringArray::from_iter_values(seqs.clone().map(|s| pad(seed, s))));
    let (seq_field, seq_col): (Field, ArrayRef) = match bad {
        None => (
            Field::new("seq", DataType::Int64, false),
            Arc::new(Int64Array::from_iter_values(seqs.map(|s| s as i64))),
        ),
        Some("seq_as_string") => (
            Field::new("seq", DataType::LargeUtf8, false),
            Arc::new(LargeStringArray::from_iter_values(seqs.map(|s| s.to_string()))),
        ),
        Some(other) => return Err(format!("unknown bad {other:?}")),
    };
    let schema = Schema::new(vec![
        Field::new("seed", DataType::Int64, false),
        seq_field,
        Field::new("pad", DataType::LargeUtf8, true),
    ]);
    RecordBatch::try_new(Arc::new(schema), vec![seed_col, seq_col, pad_col]).map_err(|e| e.to_string())
}

/// One Arrow IPC stream holding `batches`.
fn ipc(schema: &Schema, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, schema).map_err(|e| e.to_string())?;
    for b in batches {
        w.write(b).map_err(|e| e.to_string())?;
    }
    w.finish().map_err(|e| e.to_string())?;
    drop(w);
    Ok(out)
}

/// `schema_hex` of a `create_arrow_stream` request: an IPC stream of just the schema.
pub(super) fn schema_hex(schema: &Schema) -> Result<String, String> {
    Ok(hex(&ipc(schema, &[])?))
}

/// Turns an `ingest_arrow` step (`seed`, `start`, `rows`, `batches`: how many record batches the
/// rows are split into, `bad`) into the request's `ipc_hex`.
pub(super) fn ingest_request(step: &Value, request: &mut Value) -> Result<(), String> {
    let seed = step["seed"].as_u64().unwrap_or(1);
    let start = step["start"].as_u64().unwrap_or(0);
    let rows = step["rows"].as_u64().ok_or("ingest_arrow needs rows")?;
    let parts = step["batches"].as_u64().unwrap_or(1).max(1);
    let bad = step["bad"].as_str();
    let mut batches = Vec::new();
    let per = rows.div_ceil(parts).max(1);
    let mut at = start;
    while at < start + rows || batches.is_empty() {
        let n = per.min(start + rows - at);
        batches.push(batch(seed, at, n, bad)?);
        at += n;
    }
    let schema = batches[0].schema();
    request["ipc_hex"] = json!(hex(&ipc(&schema, &batches)?));
    if request["form"].is_null() {
        request["form"] = json!("ipc");
    }
    if let Some(obj) = request.as_object_mut() {
        for key in ["seed", "start", "rows", "batches", "bad"] {
            obj.remove(key);
        }
    }
    Ok(())
}

/// (seed, seq) of every row of `batch`, checking the pad is the generated one.
pub(super) fn row_ids(batch: &RecordBatch) -> Result<Vec<(u64, u64)>, String> {
    let col = |name: &str| batch.column_by_name(name).ok_or(format!("a batch without column {name}"));
    let int = |name: &str| -> Result<Int64Array, String> {
        col(name)?.as_any().downcast_ref::<Int64Array>().cloned().ok_or(format!("column {name} is not Int64"))
    };
    let (seeds, seqs) = (int("seed")?, int("seq")?);
    let pads = col("pad")?;
    let pads = arrow_cast_large(pads.as_ref())?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for (i, got) in pads.iter().enumerate() {
        let (seed, seq) = (seeds.value(i) as u64, seqs.value(i) as u64);
        if *got != pad(seed, seq) {
            return Err(format!("row (seed {seed}, seq {seq}) arrived with a different pad"));
        }
        out.push((seed, seq));
    }
    Ok(out)
}

/// The pad column as strings, whether Utf8 or LargeUtf8.
fn arrow_cast_large(array: &dyn Array) -> Result<Vec<String>, String> {
    if let Some(a) = array.as_any().downcast_ref::<LargeStringArray>() {
        return Ok(a.iter().map(|v| v.unwrap_or_default().to_owned()).collect());
    }
    if let Some(a) = array.as_any().downcast_ref::<arrow_array::StringArray>() {
        return Ok(a.iter().map(|v| v.unwrap_or_default().to_owned()).collect());
    }
    Err(format!("column pad is {}, not a string", array.data_type()))
}

/// The rows of an IPC stream a testee returned (`arrow_unacked`).
pub(super) fn ipc_row_ids(ipc_hex: &str) -> Result<Vec<(u64, u64)>, String> {
    let bytes = unhex(ipc_hex)?;
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| format!("ipc_hex is not an Arrow IPC stream: {e}"))?;
    let mut out = Vec::new();
    for batch in reader {
        out.extend(row_ids(&batch.map_err(|e| format!("ipc_hex: {e}"))?)?);
    }
    Ok(out)
}
