//! A record batch's Arrow IPC body made of the batch's own buffers, not a copy of them.
//!
//! An uncompressed IPC body is the batch's buffers laid end to end, each padded to 64 bytes
//! (arrow-rs's writer copies them into one `Vec`). [`encode_in_place`] writes only the message
//! header (the flatbuffer naming each buffer's offset and length) and keeps the body as a list
//! of segments: slices of the batch's `Buffer`s, shared, plus static padding. The sender writes
//! the segments one after the other (h2 hands large ones to the socket as they are), so the
//! client's only pass over the data is the kernel's copy into the socket. On the bench's taxi
//! batches the copy this avoids was about a seventh of the machine's CPU.
//!
//! Holding the batch's buffers until the server acks it is what makes this free, so it is used
//! only where the caller hands over immutable Arrow data ([`RecordBatch`]es given to core);
//! memory lent for one call (C Data through the C ABI, a JVM's or Node's buffers) is laid out
//! the same way and then copied once, into a body of its exact size, before the call returns.
//! Layouts the walk does not cover (sliced arrays, dictionaries, views, unions, run-ends,
//! fixed-size lists, null columns) return `None` and take arrow-rs's encoder.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_buffer::Buffer;
use arrow_data::ArrayData;
use arrow_schema::DataType;
use bytes::Bytes;

use crate::flight::Buffers;

/// The alignment of each buffer in the body (arrow-rs's writer's default).
const ALIGNMENT: usize = 64;
static PADDING: [u8; ALIGNMENT] = [0; ALIGNMENT];

/// An IPC body: one buffer, or segments sent back to back, none of them empty. Cloning shares
/// the segments.
#[derive(Clone, Debug, Default)]
pub(crate) struct IpcBody {
    segments: Arc<[Bytes]>,
    len: usize,
}

impl From<Bytes> for IpcBody {
    fn from(bytes: Bytes) -> IpcBody {
        let len = bytes.len();
        let segments: Arc<[Bytes]> = if len == 0 { Arc::from([]) } else { Arc::from([bytes]) };
        IpcBody { segments, len }
    }
}

impl IpcBody {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn segments(&self) -> &Arc<[Bytes]> {
        &self.segments
    }

    /// The body in one piece: itself when it is one segment, else a copy (for the rare paths
    /// that decode a queued batch: partial acks, `get_unacked_batches`).
    pub fn contiguous(&self) -> Bytes {
        match &self.segments[..] {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut out = Vec::with_capacity(self.len);
                for s in many {
                    out.extend_from_slice(s);
                }
                Bytes::from(out)
            }
        }
    }
}

/// A `Buffer` as `Bytes`, sharing its memory (the slice keeps the allocation alive).
struct Held(Buffer);

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// One piece of the body: a slice of one of the batch's buffers, or padding after it.
enum Segment {
    Data(Buffer),
    Pad(usize),
}

/// What the walk collects: the IPC field nodes and buffer entries, and the body's segments.
#[derive(Default)]
struct Layout {
    nodes: Vec<arrow_ipc::FieldNode>,
    buffers: Vec<arrow_ipc::Buffer>,
    segments: Vec<Segment>,
    offset: usize,
}

impl Layout {
    /// Appends `len` bytes of `buffer` (from its start) as the next body buffer.
    fn push(&mut self, buffer: &Buffer, len: usize) -> Option<()> {
        if len > buffer.len() {
            return None;
        }
        self.buffers.push(arrow_ipc::Buffer::new(self.offset as i64, len as i64));
        if len > 0 {
            self.segments.push(Segment::Data(buffer.slice_with_length(0, len)));
        }
        let pad = (ALIGNMENT - len % ALIGNMENT) % ALIGNMENT;
        if pad > 0 {
            self.segments.push(Segment::Pad(pad));
        }
        self.offset += len + pad;
        Some(())
    }

    /// The body: the segments as they are (shared), or copied into one buffer of its size.
    fn body(self, buffers: Buffers) -> IpcBody {
        let len = self.offset;
        match buffers {
            Buffers::Shared => {
                let segments = self.segments.into_iter().map(|s| match s {
                    Segment::Data(b) => Bytes::from_owner(Held(b)),
                    Segment::Pad(n) => Bytes::from_static(&PADDING[..n]),
                });
                IpcBody { segments: segments.collect(), len }
            }
            Buffers::Copied => {
                let mut out = Vec::with_capacity(len);
                for s in &self.segments {
                    match s {
                        Segment::Data(b) => out.extend_from_slice(b.as_slice()),
                        Segment::Pad(n) => out.extend_from_slice(&PADDING[..*n]),
                    }
                }
                IpcBody::from(Bytes::from(out))
            }
        }
    }

    fn empty(&mut self) {
        self.buffers.push(arrow_ipc::Buffer::new(self.offset as i64, 0));
    }

    /// One array (and its children, depth first) as IPC lays it out; `None` for a layout this
    /// walk does not cover.
    fn array(&mut self, data: &ArrayData) -> Option<()> {
        if data.offset() != 0 {
            return None; // sliced: arrow-rs's writer re-bases it
        }
        let len = data.len();
        self.nodes.push(arrow_ipc::FieldNode::new(len as i64, data.null_count() as i64));
        match data.nulls() {
            Some(nulls) if data.null_count() > 0 => {
                if nulls.offset() != 0 {
                    return None;
                }
                self.push(nulls.buffer(), len.div_ceil(8))?;
            }
            // No nulls: a zero-length validity buffer, as the format allows.
            _ => self.empty(),
        }
        let buffers = data.buffers();
        match data.data_type() {
            DataType::Boolean => self.push(&buffers[0], len.div_ceil(8)),
            DataType::FixedSizeBinary(width) => self.push(&buffers[0], len * usize::try_from(*width).ok()?),
            t if t.is_primitive() => self.push(&buffers[0], len * t.primitive_width()?),
            DataType::Utf8 | DataType::Binary => {
                let end = offsets_end::<i32>(&buffers[0], len)?;
                self.push(&buffers[0], (len + 1) * 4)?;
                self.push(&buffers[1], end)
            }
            DataType::LargeUtf8 | DataType::LargeBinary => {
                let end = offsets_end::<i64>(&buffers[0], len)?;
                self.push(&buffers[0], (len + 1) * 8)?;
                self.push(&buffers[1], end)
            }
            DataType::List(_) | DataType::Map(_, _) => {
                offsets_end::<i32>(&buffers[0], len)?;
                self.push(&buffers[0], (len + 1) * 4)?;
                self.array(&data.child_data()[0])
            }
            DataType::LargeList(_) => {
                offsets_end::<i64>(&buffers[0], len)?;
                self.push(&buffers[0], (len + 1) * 8)?;
                self.array(&data.child_data()[0])
            }
            DataType::Struct(_) => data.child_data().iter().try_for_each(|child| self.array(child)),
            _ => None,
        }
    }
}

/// The last offset of an offsets buffer of `len` values, when its first is 0 (as every writer
/// leaves an unsliced array) and it is in bounds; `None` otherwise.
fn offsets_end<T: arrow_buffer::ArrowNativeType>(buffer: &Buffer, len: usize) -> Option<usize> {
    let offsets: &[T] = buffer.typed_data::<T>();
    let first = offsets.first()?.to_usize()?;
    let last = offsets.get(len)?.to_usize()?;
    (first == 0).then_some(last)
}

/// The IPC message header and body of `batch`, uncompressed, the body being the batch's own
/// buffers ([`Buffers::Shared`]) or one copy of them ([`Buffers::Copied`]); `None` when a
/// column's layout is not one [`Layout::array`] covers.
pub(crate) fn encode_in_place(batch: &RecordBatch, buffers: Buffers) -> Option<(Bytes, IpcBody)> {
    let mut layout = Layout::default();
    for column in batch.columns() {
        layout.array(&column.to_data())?;
    }
    let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(256 + 32 * layout.buffers.len());
    let nodes = fbb.create_vector(&layout.nodes);
    let entries = fbb.create_vector(&layout.buffers);
    let record_batch = {
        let mut b = arrow_ipc::RecordBatchBuilder::new(&mut fbb);
        b.add_length(batch.num_rows() as i64);
        b.add_nodes(nodes);
        b.add_buffers(entries);
        b.finish()
    };
    let message = {
        let mut m = arrow_ipc::MessageBuilder::new(&mut fbb);
        m.add_version(arrow_ipc::MetadataVersion::V5);
        m.add_header_type(arrow_ipc::MessageHeader::RecordBatch);
        m.add_bodyLength(layout.offset as i64);
        m.add_header(record_batch.as_union_value());
        m.finish()
    };
    fbb.finish(message, None);
    let header = Bytes::copy_from_slice(fbb.finished_data());
    Some((header, layout.body(buffers)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{ListBuilder, MapBuilder, StringBuilder};
    use arrow_array::{
        ArrayRef, BooleanArray, Decimal128Array, FixedSizeBinaryArray, Int32Array, Int64Array,
        LargeStringArray, StructArray, TimestampMicrosecondArray,
    };
    use arrow_schema::{Field, Fields, Schema};
    use std::collections::HashMap;

    fn decode(batch: &RecordBatch, header: &[u8], body: &IpcBody) -> RecordBatch {
        let message = arrow_ipc::root_as_message(header).unwrap();
        assert_eq!(message.bodyLength() as usize, body.len());
        arrow_ipc::reader::read_record_batch(
            &Buffer::from(body.contiguous()),
            message.header_as_record_batch().unwrap(),
            batch.schema(),
            &HashMap::new(),
            None,
            &message.version(),
        )
        .unwrap()
    }

    fn every_layout() -> RecordBatch {
        let rows = 300;
        let ints = Int64Array::from_iter((0..rows).map(|i| (i % 7 != 0).then_some(i)));
        let flags = BooleanArray::from_iter((0..rows).map(|i| (i % 5 != 0).then_some(i % 2 == 0)));
        let text = LargeStringArray::from_iter((0..rows).map(|i| (i % 3 != 0).then(|| format!("row {i}"))));
        let at = TimestampMicrosecondArray::from_iter_values(0..rows).with_timezone("UTC");
        let money = Decimal128Array::from_iter_values((0..rows).map(i128::from))
            .with_precision_and_scale(10, 2)
            .unwrap();
        let fixed = FixedSizeBinaryArray::try_from_iter((0..rows).map(|i| i.to_le_bytes())).unwrap();
        let mut tags = ListBuilder::new(StringBuilder::new());
        let mut attrs = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for i in 0..rows {
            if i % 4 == 0 {
                tags.append_null();
            } else {
                (0..i % 3).for_each(|j| tags.values().append_value(format!("t{j}")));
                tags.append(true);
            }
            attrs.keys().append_value("k");
            attrs.values().append_value(format!("v{i}"));
            attrs.append(true).unwrap();
        }
        let loc = StructArray::new(
            Fields::from(vec![
                Field::new("lat", DataType::Int32, true),
                Field::new("n", DataType::Int32, false),
            ]),
            vec![
                Arc::new(Int32Array::from_iter((0..rows).map(|i| (i % 2 == 0).then_some(i as i32))))
                    as ArrayRef,
                Arc::new(Int32Array::from_iter_values(0..rows as i32)),
            ],
            Some((0..rows).map(|i| i % 9 != 0).collect()),
        );
        let columns: Vec<ArrayRef> = vec![
            Arc::new(ints),
            Arc::new(flags),
            Arc::new(text),
            Arc::new(at),
            Arc::new(money),
            Arc::new(fixed),
            Arc::new(tags.finish()),
            Arc::new(attrs.finish()),
            Arc::new(loc),
        ];
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    #[test]
    fn every_covered_layout_decodes_to_the_same_batch_without_a_copy() {
        let batch = every_layout();
        let (header, body) = encode_in_place(&batch, Buffers::Shared).expect("every layout here is covered");
        assert_eq!(decode(&batch, &header, &body), batch);
        // The int column's values are the batch's own memory, not a copy.
        let values = batch.column(0).to_data().buffers()[0].as_ptr() as usize;
        assert!(body.segments().iter().any(|s| s.as_ptr() as usize == values), "values are shared");
        // Each buffer starts on the alignment.
        let message = arrow_ipc::root_as_message(&header).unwrap();
        let fb = message.header_as_record_batch().unwrap();
        assert!(fb.buffers().unwrap().iter().all(|b| (b.offset() as usize).is_multiple_of(ALIGNMENT)));
    }

    #[test]
    fn sliced_and_uncovered_layouts_take_the_copying_encoder() {
        let batch = every_layout();
        assert!(encode_in_place(&batch.slice(10, 20), Buffers::Shared).is_none(), "sliced arrays");
        let nulls = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("n", DataType::Null, true)])),
            vec![Arc::new(arrow_array::NullArray::new(3))],
        )
        .unwrap();
        assert!(encode_in_place(&nulls, Buffers::Copied).is_none(), "null columns");
    }

    #[test]
    fn a_batch_of_no_rows_has_an_empty_body() {
        let batch = RecordBatch::new_empty(every_layout().schema());
        let (header, body) = encode_in_place(&batch, Buffers::Shared).unwrap();
        assert!(body.len().is_multiple_of(ALIGNMENT));
        assert_eq!(decode(&batch, &header, &body).num_rows(), 0);
    }
}
