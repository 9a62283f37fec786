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
    data.build().map_err(|e| format!("column {name}: {e}"))
}
