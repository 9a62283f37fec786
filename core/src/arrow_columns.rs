//! Record batches taken from a caller's column buffers, without an IPC round trip.
//!
//! A binding whose host language holds Arrow columns in memory it can lend for one synchronous
//! call (apache-arrow's `Data` in Node, Arrow Java's `ArrowBuf`s) hands over those buffers
//! instead of writing IPC in the host language, which costs about as much per batch as the whole
//! core path does (apache-arrow's `tableToIPC`: 0.6–0.7 ms for the bench's 10,000 taxi rows;
//! Arrow Java's C Data export about a third of that). The binding walks each batch's column tree
//! depth-first and passes, per node, its length and null count (in `nodes`) and its validity,
//! offsets and values buffers (in `buffers`, empty when absent), after a root node per batch
//! whose length is the batch's row count. Here they become Arrow arrays of the batch's schema
//! **borrowing** that memory, validated in full by arrow-rs as any foreign data is. Then either
//! [`ZerobusArrowStream::queue_columns`](crate::ZerobusArrowStream::queue_columns) encodes them
//! to IPC (the one copy) before it returns, so nothing keeps the borrowed memory, or
//! [`queue_columns_held`](crate::ZerobusArrowStream::queue_columns_held) sends the buffers as
//! they are and keeps them, through an owner the binding gives, until the batch is acked. Layouts this
//! does not take (dictionaries, unions, views, …) are an error naming the column; bindings send
//! those batches another way (IPC, the C Data Interface).

use std::ptr::NonNull;
use std::sync::Arc;

use arrow_array::{make_array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_buffer::alloc::Allocation;
use arrow_buffer::Buffer;
use arrow_data::ArrayData;
use arrow_schema::{DataType, Field, SchemaRef};

/// Numbers per node in `nodes`: length, null count.
pub const NODE_NUMBERS: usize = 2;
/// Buffers per node in `buffers`: validity, offsets, values.
pub const NODE_BUFFERS: usize = 3;

/// The record batches of `schema` that `nodes` and `buffers` describe. Every Arrow buffer made
/// holds a clone of `owner`, so `owner` is dropped when the last of them is.
///
/// # Safety
///
/// The arrays borrow `buffers`' memory without copying it: the memory must stay valid and
/// unwritten until `owner`'s last clone is dropped (for an owner that keeps nothing alive, such
/// as `Arc::new(())`, until every array and anything made from it is dropped). The `&[u8]`s
/// promise that only while they live; the arrow buffers made from them carry no lifetime, so the
/// caller keeps the promise past it.
pub(crate) unsafe fn batches_over(
    schema: &SchemaRef,
    nodes: &[u64],
    buffers: &[&[u8]],
    owner: Arc<dyn Allocation>,
) -> Result<Vec<RecordBatch>, String> {
    if !nodes.len().is_multiple_of(NODE_NUMBERS) || nodes.len() / NODE_NUMBERS * NODE_BUFFERS != buffers.len()
    {
        return Err(format!(
            "{} node numbers and {} buffers do not describe whole nodes (2 numbers and 3 buffers each)",
            nodes.len(),
            buffers.len()
        ));
    }
    let mut cursor = Cursor { nodes, buffers, at: 0, owner };
    let mut batches = Vec::new();
    while !cursor.done() {
        let rows = cursor.next().ok_or("the buffers end before a batch's root node")?.len;
        let columns = schema
            .fields()
            .iter()
            // SAFETY: the caller's promise covers every array built here.
            .map(|field| unsafe { column(field, &mut cursor) }.map(make_array))
            .collect::<Result<Vec<ArrayRef>, String>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let batch = RecordBatch::try_new_with_options(schema.clone(), columns, &options)
            .map_err(|e| format!("batch {}: {e}", batches.len()))?;
        batches.push(batch);
    }
    Ok(batches)
}

/// One node: its numbers and buffers.
struct Node<'a> {
    len: usize,
    nulls: usize,
    validity: &'a [u8],
    offsets: &'a [u8],
    values: &'a [u8],
}

struct Cursor<'a> {
    nodes: &'a [u64],
    buffers: &'a [&'a [u8]],
    /// The next node's index.
    at: usize,
    /// What every buffer made keeps alive.
    owner: Arc<dyn Allocation>,
}

impl<'a> Cursor<'a> {
    fn done(&self) -> bool {
        self.at * NODE_NUMBERS >= self.nodes.len()
    }

    fn next(&mut self) -> Option<Node<'a>> {
        if self.done() {
            return None;
        }
        let (n, b) = (self.at * NODE_NUMBERS, self.at * NODE_BUFFERS);
        self.at += 1;
        Some(Node {
            len: usize::try_from(self.nodes[n]).unwrap_or(usize::MAX),
            nulls: usize::try_from(self.nodes[n + 1]).unwrap_or(usize::MAX),
            validity: self.buffers[b],
            offsets: self.buffers[b + 1],
            values: self.buffers[b + 2],
        })
    }

    /// An Arrow buffer over `bytes`, without a copy, holding a clone of the owner.
    ///
    /// # Safety
    ///
    /// As [`batches_over`]: `bytes` stays valid and unwritten until the owner's last clone goes.
    unsafe fn buffer(&self, bytes: &[u8]) -> Buffer {
        let ptr = NonNull::new(bytes.as_ptr() as *mut u8).unwrap_or(NonNull::dangling());
        // SAFETY: `ptr` is valid for `bytes.len()` bytes for as long as the owner lives (the
        // caller's promise); the owner, not arrow, frees the memory, if anyone does.
        unsafe { Buffer::from_custom_allocation(ptr, bytes.len(), self.owner.clone()) }
    }
}

/// The array of `field` from the next nodes (its own, then its children's).
///
/// # Safety
///
/// As [`batches_over`]: the array borrows the cursor's buffers.
unsafe fn column(field: &Field, cursor: &mut Cursor<'_>) -> Result<ArrayData, String> {
    let name = field.name();
    let node = cursor.next().ok_or_else(|| format!("the buffers end before column {name}"))?;
    // SAFETY (each `borrow`): the caller keeps the memory alive and unchanged for as long as the
    // array lives.
    let mut data = ArrayData::builder(field.data_type().clone())
        .len(node.len)
        .null_count(node.nulls)
        // Copies only a buffer whose address does not suit its type (a view at an odd offset).
        .align_buffers(true);
    if node.nulls > 0 {
        data = data.null_bit_buffer(Some(unsafe { cursor.buffer(node.validity) }));
    }
    data = match field.data_type() {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Date32
        | DataType::Date64
        | DataType::Time32(_)
        | DataType::Time64(_)
        | DataType::Timestamp(_, _)
        | DataType::Duration(_)
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _)
        | DataType::FixedSizeBinary(_) => data.add_buffer(unsafe { cursor.buffer(node.values) }),
        DataType::Utf8 | DataType::Binary | DataType::LargeUtf8 | DataType::LargeBinary => data
            .add_buffer(unsafe { cursor.buffer(node.offsets) })
            .add_buffer(unsafe { cursor.buffer(node.values) }),
        DataType::List(child) | DataType::LargeList(child) | DataType::Map(child, _) => data
            .add_buffer(unsafe { cursor.buffer(node.offsets) })
            .add_child_data(unsafe { column(child, cursor) }?),
        DataType::Struct(fields) => {
            for child in fields {
                data = data.add_child_data(unsafe { column(child, cursor) }?);
            }
            data
        }
        other => return Err(format!("column {name}: {other} columns are taken as IPC only")),
    };
    // SAFETY: checked in full right below, before anything reads the array's values, with the
    // checks `build` makes (arrow's `validate_data`), except that offsets and UTF-8 are checked
    // by `check_values`: arrow's per-offset iterator cost the JVM path a tenth of its time.
    let data = unsafe { data.build_unchecked() };
    let checked = data.validate().and_then(|()| data.validate_nulls()).map_err(|e| e.to_string());
    checked.and_then(|()| check_values(&data)).map_err(|e| format!("column {name}: {e}"))?;
    Ok(data)
}

/// What arrow's `validate_values` checks, with a faster pass over offsets: each in bounds and
/// not below the one before, and for strings the bytes they span valid UTF-8 with every offset on
/// a character boundary. `validate` has checked the buffers' sizes first.
fn check_values(data: &ArrayData) -> Result<(), String> {
    let child_len = || data.child_data().first().map_or(0, ArrayData::len);
    let values_len = || data.buffers().get(1).map_or(0, Buffer::len);
    match data.data_type() {
        DataType::Utf8 => check_offsets::<i32>(data, values_len(), true),
        DataType::LargeUtf8 => check_offsets::<i64>(data, values_len(), true),
        DataType::Binary => check_offsets::<i32>(data, values_len(), false),
        DataType::LargeBinary => check_offsets::<i64>(data, values_len(), false),
        DataType::List(_) | DataType::Map(_, _) => check_offsets::<i32>(data, child_len(), false),
        DataType::LargeList(_) => check_offsets::<i64>(data, child_len(), false),
        _ => data.validate_values().map_err(|e| e.to_string()),
    }
}

/// Checks the offsets of `data` (i32 or i64) against `limit`, and with `utf8` the strings they
/// cut out of its values buffer.
fn check_offsets<O: arrow_buffer::ArrowNativeType>(
    data: &ArrayData,
    limit: usize,
    utf8: bool,
) -> Result<(), String> {
    if data.is_empty() {
        return Ok(());
    }
    // `validate` checked that the buffer holds offset + len + 1 of them.
    let offsets = &data.buffers()[0].typed_data::<O>()[data.offset()..=data.offset() + data.len()];
    let value = |o: &O| o.to_i64().unwrap_or(-1);
    let first = value(&offsets[0]);
    // One pass without early exits, which the compiler vectorizes; the slow pass below only
    // names the culprit.
    let ordered = offsets.windows(2).fold(first >= 0, |ok, w| ok & (w[0] <= w[1]));
    if !ordered {
        let at = offsets.windows(2).position(|w| value(&w[1]) < value(&w[0])).map_or(0, |i| i + 1);
        return Err(format!("offset {at} ({}) is negative or below the one before", value(&offsets[at])));
    }
    let prev = value(&offsets[offsets.len() - 1]);
    let last = prev as usize;
    if last > limit {
        return Err(format!("the last offset ({last}) is beyond the {limit} values there are"));
    }
    if utf8 {
        let first = first as usize;
        let bytes = &data.buffers()[1].as_slice()[first..last];
        if let Err(e) = std::str::from_utf8(bytes) {
            let byte = first + e.valid_up_to();
            let row = offsets.partition_point(|o| value(o) as usize <= byte).saturating_sub(1);
            return Err(format!("row {row} is not valid UTF-8 (at byte {byte})"));
        }
        // A continuation byte (0b10xx_xxxx) where a string starts means an offset splits a
        // character. Every offset but the last lies inside `bytes` or at its end.
        let split = offsets.iter().fold(false, |split, o| {
            let at = value(o) as usize - first;
            split | bytes.get(at).is_some_and(|&b| (b as i8) < -64)
        });
        if split {
            let row = offsets
                .iter()
                .position(|o| bytes.get(value(o) as usize - first).is_some_and(|&b| (b as i8) < -64));
            return Err(format!("offset {} splits a UTF-8 character", row.unwrap_or(0)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, LargeStringArray};
    use arrow_schema::Schema;

    /// One batch of a single LargeUtf8 column over `offsets` and `values`, and the offsets' bytes,
    /// which the batch borrows: keep them alive while it lives.
    fn strings(offsets: &[i64], values: &'static [u8]) -> (Vec<u8>, Result<Vec<RecordBatch>, String>) {
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::LargeUtf8, false)]));
        let rows = offsets.len().saturating_sub(1) as u64;
        let offsets: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
        let buffers: [&[u8]; 6] = [&[], &[], &[], &[], &offsets, values];
        // SAFETY: `values` is static and the caller keeps the offsets' bytes (moving the Vec
        // does not move them) until the batches are dropped.
        let batches = unsafe { batches_over(&schema, &[rows, 0, rows, 0], &buffers, Arc::new(())) };
        (offsets, batches)
    }

    fn error(offsets: &[i64], values: &'static [u8]) -> String {
        strings(offsets, values).1.unwrap_err()
    }

    #[test]
    fn strings_are_read_in_place_and_bad_offsets_or_utf8_name_the_problem() {
        let (_offsets, batches) = strings(&[0, 1, 3, 3], "aé".as_bytes());
        let column =
            batches.unwrap()[0].column(0).as_any().downcast_ref::<LargeStringArray>().unwrap().clone();
        assert_eq!(column.iter().collect::<Vec<_>>(), [Some("a"), Some("é"), Some("")]);

        let e = error(&[0, 2, 1], b"abc");
        assert!(e.contains("column s: offset 2 (1) is negative or below the one before"), "{e}");
        let e = error(&[-1, 1], b"abc");
        assert!(e.contains("column s: ") && e.contains("(-1)"), "{e}");
        let e = error(&[0, 4], b"abc");
        // (arrow's layout check catches an end past the values first, naming both numbers)
        assert!(e.starts_with("column s: ") && e.contains('4') && e.contains('3'), "{e}");
        let e = error(&[0, 1, 2], b"a\xff");
        assert!(e.contains("row 1 is not valid UTF-8 (at byte 1)"), "{e}");
        // "é" is two bytes: an offset between them splits it.
        let e = error(&[0, 2, 3], "aé".as_bytes());
        assert!(e.contains("offset 1 splits a UTF-8 character"), "{e}");
        // Offsets that start past 0: only the bytes they span are read (the 0xff is not).
        let (_offsets, batches) = strings(&[1, 3], b"\xff\xc3\xa9");
        let column =
            batches.unwrap()[0].column(0).as_any().downcast_ref::<LargeStringArray>().unwrap().clone();
        assert_eq!(column.value(0), "é");
    }
}
