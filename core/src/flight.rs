//! Arrow Flight `DoPut` on the wire (PROTOCOL.md §9): Arrow IPC encoding of record batches, the
//! `FlightData` / `PutResult` messages written and read by hand, and the checks a batch passes
//! before it is queued.
//!
//! A queued Arrow call is one or more *parts*, each one physical record batch: its IPC message
//! header (the flatbuffer, `FlightData.data_header`) and body (`data_body`), encoded once when
//! the call is queued. Sending only adds `app_metadata` `{"offset_id": N}`, N counting physical
//! batches on the connection, so resends cost no re-encoding. Only a batch the server acked in
//! part is decoded again and sliced, to resend from its first unacked row.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::writer::{CompressionContext, DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use arrow_ipc::{MessageHeader, MetadataVersion};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef};
use bytes::{BufMut, Bytes};

use crate::ipc_body::IpcBody;
use crate::options::MAX_CALL_PAYLOAD_BYTES;
use crate::wire::{put_varint, varint_len};
use crate::{ErrorCode, ZerobusError, ZerobusResult};

/// The `DoPut` method (PROTOCOL.md §9).
pub(crate) const DO_PUT_PATH: &str = "/arrow.flight.protocol.FlightService/DoPut";

// FlightData fields.
const TAG_DATA_HEADER: u8 = 0x12; // field 2, length-delimited
const TAG_APP_METADATA: u8 = 0x1a; // field 3, length-delimited
const TAG_DATA_BODY: [u8; 2] = [0xc2, 0x3e]; // field 1000, length-delimited

/// Body compression of the IPC record batches an Arrow stream sends. The server takes all three.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IpcCompression {
    /// Uncompressed bodies (the default, as in the published SDKs but their Rust crate's docs):
    /// the cheapest for the client's CPU; choose LZ4 when the network is the bottleneck.
    #[default]
    None,
    /// LZ4 frame: fast, about half the bytes on typical columns.
    Lz4Frame,
    /// ZSTD: fewer bytes than LZ4 at several times its CPU cost.
    Zstd,
}

impl std::str::FromStr for IpcCompression {
    type Err = ZerobusError;

    /// `none`, `lz4_frame` (or `lz4`) and `zstd`, any case: the names every binding takes.
    fn from_str(name: &str) -> ZerobusResult<IpcCompression> {
        match name.to_ascii_lowercase().as_str() {
            "none" | "" => Ok(IpcCompression::None),
            "lz4_frame" | "lz4" => Ok(IpcCompression::Lz4Frame),
            "zstd" => Ok(IpcCompression::Zstd),
            _ => Err(ZerobusError::invalid_argument(format!(
                "option ipc_compression is {name:?}; it must be one of none, lz4_frame, zstd"
            ))),
        }
    }
}

impl IpcCompression {
    /// The name [`FromStr`](std::str::FromStr) takes.
    pub fn name(self) -> &'static str {
        match self {
            IpcCompression::None => "none",
            IpcCompression::Lz4Frame => "lz4_frame",
            IpcCompression::Zstd => "zstd",
        }
    }

    fn arrow(self) -> Option<arrow_ipc::CompressionType> {
        match self {
            IpcCompression::None => None,
            IpcCompression::Lz4Frame => Some(arrow_ipc::CompressionType::LZ4_FRAME),
            IpcCompression::Zstd => Some(arrow_ipc::CompressionType::ZSTD),
        }
    }
}

/// One physical record batch, encoded.
#[derive(Clone, Debug)]
pub(crate) struct FlightPart {
    pub header: Bytes,
    pub body: IpcBody,
    pub rows: u32,
}

impl FlightPart {
    pub fn size(&self) -> usize {
        self.header.len() + self.body.len()
    }
}

/// What an Arrow stream keeps to encode and decode its batches.
#[derive(Debug)]
pub(crate) struct FlightWire {
    pub schema: SchemaRef,
    pub compression: IpcCompression,
    /// Bound on waiting for the ready signal after the schema message.
    pub connection_timeout_ms: u64,
}

fn ipc_options(compression: IpcCompression) -> IpcWriteOptions {
    IpcWriteOptions::default()
        .try_with_compression(compression.arrow())
        .expect("metadata V5 (the default) supports compression")
}

/// The first `FlightData` of every connection: the schema message, no `app_metadata`.
pub(crate) fn schema_message(schema: &Schema) -> Bytes {
    let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut DictionaryTracker::new(false),
        &IpcWriteOptions::default(),
    );
    let mut out = Vec::with_capacity(encoded.ipc_message.len() + 8);
    out.put_u8(TAG_DATA_HEADER);
    put_varint(&mut out, encoded.ipc_message.len() as u64);
    out.extend_from_slice(&encoded.ipc_message);
    Bytes::from(out)
}

/// Writes one record batch `FlightData`.
pub(crate) fn write_part(dst: &mut impl BufMut, offset_id: i64, header: &[u8], body: &IpcBody) {
    write_part_head(dst, offset_id, header, body.len());
    for segment in body.segments().iter() {
        dst.put_slice(segment);
    }
}

/// [`write_part`] up to the body's bytes, which the caller sends as they are.
pub(crate) fn write_part_head(dst: &mut impl BufMut, offset_id: i64, header: &[u8], body_len: usize) {
    let meta = format!("{{\"offset_id\":{offset_id}}}");
    dst.put_u8(TAG_DATA_HEADER);
    put_varint(dst, header.len() as u64);
    dst.put_slice(header);
    dst.put_u8(TAG_APP_METADATA);
    put_varint(dst, meta.len() as u64);
    dst.put_slice(meta.as_bytes());
    dst.put_slice(&TAG_DATA_BODY);
    put_varint(dst, body_len as u64);
}

/// The size [`write_part`] writes, for the in-flight byte bound and the call size limit.
fn part_wire_size(header: usize, body: usize) -> usize {
    1 + varint_len(header as u64) + header + 2 + varint_len(body as u64) + body + 24
}

/// One `PutResult` answer: its `app_metadata` JSON (PROTOCOL.md §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlightAck {
    pub ack_up_to_offset: i64,
    pub ack_up_to_records: u64,
    pub close_stream_duration_ms: Option<u64>,
}

#[derive(serde::Deserialize)]
struct AckJson {
    ack_up_to_offset: i64,
    ack_up_to_records: u64,
    #[serde(default)]
    close_stream_duration_ms: Option<u64>,
}

/// Reads a `PutResult` message (field 1: `app_metadata`).
pub(crate) fn decode_put_result(mut buf: &[u8]) -> Result<FlightAck, String> {
    let mut metadata: &[u8] = &[];
    while !buf.is_empty() {
        let key = prost::encoding::decode_varint(&mut buf).map_err(|e| e.to_string())?;
        let (field, wire_type) = (key >> 3, key & 7);
        let len = match wire_type {
            2 => prost::encoding::decode_varint(&mut buf).map_err(|e| e.to_string())? as usize,
            0 => {
                prost::encoding::decode_varint(&mut buf).map_err(|e| e.to_string())?;
                continue;
            }
            other => return Err(format!("PutResult field {field} has wire type {other}")),
        };
        if len > buf.len() {
            return Err("PutResult is truncated".into());
        }
        if field == 1 {
            metadata = &buf[..len];
        }
        buf = &buf[len..];
    }
    let ack: AckJson = serde_json::from_slice(metadata)
        .map_err(|e| format!("PutResult app_metadata is not the ack JSON of PROTOCOL.md §9: {e}"))?;
    Ok(FlightAck {
        ack_up_to_offset: ack.ack_up_to_offset,
        ack_up_to_records: ack.ack_up_to_records,
        close_stream_duration_ms: ack.close_stream_duration_ms,
    })
}

/// Checks a batch's columns against the stream's schema: same names in the same order, the same
/// types, and no nulls in a NOT NULL column. Errors name the table and the column.
pub(crate) fn check_batch(table: &str, schema: &Schema, batch: &RecordBatch) -> ZerobusResult<()> {
    let got = batch.schema();
    let bad = |message: String| {
        Err(ZerobusError::invalid_record(format!(
            "table {table}: {message}; nothing of this batch was queued (the stream carries on)"
        )))
    };
    if got.fields().len() != schema.fields().len() {
        return bad(format!(
            "the batch has {} columns ({}) where the stream's schema has {} ({})",
            got.fields().len(),
            names(&got),
            schema.fields().len(),
            names(schema)
        ));
    }
    for (i, (want, field)) in schema.fields().iter().zip(got.fields()).enumerate() {
        if want.name() != field.name() {
            return bad(format!(
                "column {i} is {:?} where the stream's schema has {:?}",
                field.name(),
                want.name()
            ));
        }
        if !same_type(want.data_type(), field.data_type()) {
            return bad(format!(
                "column {}: expected {}, got {}",
                want.name(),
                want.data_type(),
                field.data_type()
            ));
        }
        if !want.is_nullable() && batch.column(i).null_count() > 0 {
            return bad(format!(
                "column {} is NOT NULL but the batch has {} null values in it",
                want.name(),
                batch.column(i).null_count()
            ));
        }
    }
    Ok(())
}

/// [`check_batch`] that also widens what the table's mapping spells larger: a `Utf8` column
/// becomes `LargeUtf8` and `Binary` becomes `LargeBinary` (pyarrow, Polars and most writers use
/// the small forms; PROTOCOL.md §9 maps STRING and BINARY to the large ones). Only the offsets
/// are rewritten; anything else that differs is refused as `check_batch` refuses it.
pub(crate) fn fit_batch(table: &str, schema: &Schema, batch: &RecordBatch) -> ZerobusResult<RecordBatch> {
    let got = batch.schema();
    let widen = |want: &DataType, have: &DataType| {
        matches!(
            (want, have),
            (DataType::LargeUtf8, DataType::Utf8) | (DataType::LargeBinary, DataType::Binary)
        )
    };
    let casts: Vec<usize> = (0..got.fields().len().min(schema.fields().len()))
        .filter(|&i| widen(schema.field(i).data_type(), got.field(i).data_type()))
        .collect();
    if casts.is_empty() {
        check_batch(table, schema, batch)?;
        return Ok(batch.clone());
    }
    let mut columns = batch.columns().to_vec();
    let mut fields: Vec<arrow_schema::FieldRef> = got.fields().iter().cloned().collect();
    for i in casts {
        let want = schema.field(i).data_type();
        columns[i] =
            arrow_cast::cast(&columns[i], want).map_err(|e| arrow_error(table, "widening a column", e))?;
        fields[i] = Arc::new(got.field(i).clone().with_data_type(want.clone()));
    }
    let widened = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| arrow_error(table, "widening a column", e))?;
    check_batch(table, schema, &widened)?;
    Ok(widened)
}

fn names(schema: &Schema) -> String {
    schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
}

/// Types equal up to the names and nullability of nested fields (which the IPC body does not
/// depend on; the server checks nested nullability against the table itself).
fn same_type(want: &DataType, got: &DataType) -> bool {
    use DataType as T;
    match (want, got) {
        (T::List(w), T::List(g)) | (T::LargeList(w), T::LargeList(g)) => {
            same_type(w.data_type(), g.data_type())
        }
        (T::Struct(w), T::Struct(g)) => {
            w.len() == g.len()
                && w.iter()
                    .zip(g.iter())
                    .all(|(w, g)| w.name() == g.name() && same_type(w.data_type(), g.data_type()))
        }
        (T::Map(w, ws), T::Map(g, gs)) => ws == gs && same_type(w.data_type(), g.data_type()),
        _ => want == got,
    }
}

/// Whether the parts of an encoded batch may share the batch's buffers, keeping them until the
/// server acks the batch, or must copy them before the call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Buffers {
    /// The batch is Arrow data handed over (immutable, reference counted): its uncompressed
    /// parts are its own buffers (`ipc_body.rs`).
    Shared,
    /// The batch borrows memory lent for the call: its parts are an encoded copy.
    Copied,
}

/// Encodes a checked batch into parts, splitting it by rows until every part fits in one call's
/// payload limit. Returns the parts and their wire size.
pub(crate) fn encode_batch(
    table: &str,
    batch: &RecordBatch,
    compression: IpcCompression,
    buffers: Buffers,
) -> ZerobusResult<Vec<FlightPart>> {
    let options = ipc_options(compression);
    let mut context = CompressionContext::default();
    let mut parts = Vec::with_capacity(1);
    let layout = (compression == IpcCompression::None).then_some(buffers);
    encode_into(table, batch, &options, &mut context, layout, &mut parts)?;
    Ok(parts)
}

fn encode_into(
    table: &str,
    batch: &RecordBatch,
    options: &IpcWriteOptions,
    context: &mut CompressionContext,
    layout: Option<Buffers>,
    parts: &mut Vec<FlightPart>,
) -> ZerobusResult<()> {
    let rows = batch.num_rows();
    if rows > u32::MAX as usize {
        let half = rows / 2;
        encode_into(table, &batch.slice(0, half), options, context, layout, parts)?;
        return encode_into(table, &batch.slice(half, rows - half), options, context, layout, parts);
    }
    // Uncompressed, a covered layout is laid out here: shared as it is, or copied in one pass
    // into a body of its exact size (arrow-rs's writer grows its `Vec` as it goes, which moved
    // the bytes about twice on the bench's batches).
    if let Some(buffers) = layout {
        if let Some((header, body)) = crate::ipc_body::encode_in_place(batch, buffers) {
            if part_wire_size(header.len(), body.len()) <= MAX_CALL_PAYLOAD_BYTES {
                parts.push(FlightPart { header, body, rows: rows as u32 });
                return Ok(());
            }
        }
    }
    let (dictionaries, encoded) = IpcDataGenerator::default()
        .encode(batch, &mut DictionaryTracker::new(false), options, context)
        .map_err(|e| arrow_error(table, "encoding the batch as Arrow IPC", e))?;
    if !dictionaries.is_empty() {
        return Err(ZerobusError::invalid_record(format!(
            "table {table}: the batch has dictionary-encoded columns; cast them to their value type (the service takes hydrated dictionaries only)"
        )));
    }
    let size = part_wire_size(encoded.ipc_message.len(), encoded.arrow_data.len());
    if size > MAX_CALL_PAYLOAD_BYTES {
        if rows <= 1 {
            return Err(ZerobusError::new(
                ErrorCode::RecordTooLarge,
                format!(
                    "table {table}: one row encodes to {size} bytes of Arrow IPC, more than the {MAX_CALL_PAYLOAD_BYTES}-byte limit of one message (nothing was queued)"
                ),
            ));
        }
        // Split into pieces that should each fit; a piece that still does not is split again.
        let pieces = size.div_ceil(MAX_CALL_PAYLOAD_BYTES * 3 / 4).max(2).min(rows);
        let step = rows.div_ceil(pieces);
        let mut start = 0;
        while start < rows {
            let len = step.min(rows - start);
            encode_into(table, &batch.slice(start, len), options, context, layout, parts)?;
            start += len;
        }
        return Ok(());
    }
    parts.push(FlightPart {
        header: Bytes::from(encoded.ipc_message),
        body: IpcBody::from(Bytes::from(encoded.arrow_data)),
        rows: rows as u32,
    });
    Ok(())
}

fn arrow_error(table: &str, doing: &str, e: ArrowError) -> ZerobusError {
    ZerobusError::invalid_record(format!(
        "table {table}: {doing} failed: {e}; nothing of this call was queued"
    ))
}

/// Splits an Arrow IPC *stream* (a schema message, then record batch messages, optionally the
/// end-of-stream marker) into parts without re-encoding: each record batch's header and body are
/// slices of `ipc`, unless `compression` is asked for and the batch was written uncompressed (it
/// is then encoded with it). The schema must match the stream's, and each batch is decoded once (without
/// copying its buffers) to check it before anything is queued. `None`: the input's schema needs
/// widening, so its batches cannot pass through (see [`ipc_parts`]).
pub(crate) fn split_ipc_stream(
    table: &str,
    schema: &SchemaRef,
    ipc: &Bytes,
    compression: IpcCompression,
) -> ZerobusResult<Option<Vec<FlightPart>>> {
    let bad = |message: String| {
        ZerobusError::invalid_record(format!(
            "table {table}: the Arrow IPC stream {message}; nothing of this call was queued"
        ))
    };
    let mut pos = 0usize;
    let mut seen_schema = false;
    let mut parts = Vec::new();
    let read_u32 = |at: usize| -> Option<u32> {
        ipc.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    while pos < ipc.len() {
        let Some(mut len) = read_u32(pos) else {
            return Err(bad(format!("is truncated at byte {pos}")));
        };
        pos += 4;
        if len == 0xFFFF_FFFF {
            len = read_u32(pos).ok_or_else(|| bad(format!("is truncated at byte {pos}")))?;
            pos += 4;
        }
        if len == 0 {
            break; // end-of-stream marker
        }
        let meta_end = pos + len as usize;
        if meta_end > ipc.len() {
            return Err(bad(format!("has a message header past its end (byte {pos})")));
        }
        let header = ipc.slice(pos..meta_end);
        let message = arrow_ipc::root_as_message(&header)
            .map_err(|e| bad(format!("has an unreadable message header at byte {pos}: {e}")))?;
        let body_len = usize::try_from(message.bodyLength()).unwrap_or(usize::MAX);
        let body_end = meta_end.checked_add(body_len).filter(|&e| e <= ipc.len());
        let Some(body_end) = body_end else {
            return Err(bad(format!("has a message body past its end (byte {meta_end})")));
        };
        let body = ipc.slice(meta_end..body_end);
        pos = body_end;
        match message.header_type() {
            MessageHeader::Schema => {
                let fb =
                    message.header_as_schema().ok_or_else(|| bad("has an empty schema message".into()))?;
                let got = arrow_ipc::convert::fb_to_schema(fb);
                if needs_widening(schema, &got) {
                    return Ok(None);
                }
                check_schema_fits(table, schema, &got)?;
                seen_schema = true;
            }
            MessageHeader::RecordBatch => {
                if !seen_schema {
                    return Err(bad("starts with a record batch; it must start with its schema message (write it with an IPC stream writer)".into()));
                }
                let fb = message
                    .header_as_record_batch()
                    .ok_or_else(|| bad("has an empty record batch message".into()))?;
                let rows = u32::try_from(fb.length())
                    .map_err(|_| bad(format!("has a batch of {} rows; split it", fb.length())))?;
                let written_compressed = fb.compression().is_some();
                let batch = arrow_ipc::reader::read_record_batch(
                    &Buffer::from(body.clone()),
                    fb,
                    schema.clone(),
                    &HashMap::new(),
                    None,
                    &message.version(),
                )
                .map_err(|e| bad(format!("has a record batch that does not decode: {e}")))?;
                let size = part_wire_size(header.len(), body.len());
                if size > MAX_CALL_PAYLOAD_BYTES {
                    return Err(ZerobusError::new(
                        ErrorCode::RecordTooLarge,
                        format!(
                            "table {table}: an IPC record batch of {rows} rows is {size} bytes, more than the {MAX_CALL_PAYLOAD_BYTES}-byte limit of one message; write smaller batches (nothing was queued)"
                        ),
                    ));
                }
                if compression != IpcCompression::None && !written_compressed {
                    // Asked to compress what was written uncompressed: encode the batch just
                    // decoded (the one decode this batch gets).
                    parts.extend(encode_batch(table, &batch, compression, Buffers::Copied)?);
                    continue;
                }
                parts.push(FlightPart { header, body: body.into(), rows });
            }
            MessageHeader::DictionaryBatch => {
                return Err(bad("has dictionary batches; cast dictionary columns to their value type (the service takes hydrated dictionaries only)".into()));
            }
            other => return Err(bad(format!("has a {other:?} message, which is not part of an IPC stream"))),
        }
    }
    if !seen_schema {
        return Err(bad("has no schema message".into()));
    }
    Ok(Some(parts))
}

/// Whether IPC input spells a column small (`Utf8`, `Binary`) where the stream's schema has the
/// large form: its batches cannot pass through and are widened and encoded again.
fn needs_widening(schema: &Schema, got: &Schema) -> bool {
    schema.fields().iter().zip(got.fields()).any(|(w, g)| {
        matches!(
            (w.data_type(), g.data_type()),
            (DataType::LargeUtf8, DataType::Utf8) | (DataType::LargeBinary, DataType::Binary)
        )
    })
}

/// The parts of an IPC stream: passed through ([`split_ipc_stream`]) when its schema is the
/// stream's, else decoded, widened ([`fit_batch`]) and encoded again with `compression`.
pub(crate) fn ipc_parts(
    table: &str,
    schema: &SchemaRef,
    ipc: &Bytes,
    compression: IpcCompression,
) -> ZerobusResult<Vec<FlightPart>> {
    if let Some(parts) = split_ipc_stream(table, schema, ipc, compression)? {
        return Ok(parts);
    }
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc.as_ref()), None).map_err(|e| {
            ZerobusError::invalid_record(format!(
                "table {table}: the Arrow IPC stream does not read ({e}); nothing of this call was queued"
            ))
        })?;
    let mut parts = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| {
            ZerobusError::invalid_record(format!(
                "table {table}: the Arrow IPC stream has a record batch that does not decode: {e}; nothing of this call was queued"
            ))
        })?;
        // The reader decoded into buffers of its own: the parts may keep them.
        let batch = fit_batch(table, schema, &batch)?;
        parts.extend(encode_batch(table, &batch, compression, Buffers::Shared)?);
    }
    Ok(parts)
}

/// The schema of IPC input against the stream's, with the same rules as [`check_batch`].
fn check_schema_fits(table: &str, schema: &Schema, got: &Schema) -> ZerobusResult<()> {
    let empty = RecordBatch::new_empty(Arc::new(got.clone()));
    check_batch(table, schema, &empty)?;
    // Nullability is checked per batch when decoding against the stream's schema.
    Ok(())
}

/// Decodes parts back into batches (for `get_unacked_batches`, and to slice a partly acked
/// batch); the first `skip` rows are left out.
pub(crate) fn decode_parts(
    schema: &SchemaRef,
    parts: &[FlightPart],
    mut skip: u64,
) -> ZerobusResult<Vec<RecordBatch>> {
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let rows = u64::from(part.rows);
        if skip >= rows && rows > 0 {
            skip -= rows;
            continue;
        }
        let batch = decode_part(schema, part)?;
        let from = skip as usize;
        skip = 0;
        out.push(if from == 0 { batch } else { batch.slice(from, batch.num_rows() - from) });
    }
    Ok(out)
}

fn decode_part(schema: &SchemaRef, part: &FlightPart) -> ZerobusResult<RecordBatch> {
    let internal = |e: String| ZerobusError::internal(format!("decoding a queued Arrow batch: {e}"));
    let message = arrow_ipc::root_as_message(&part.header).map_err(|e| internal(e.to_string()))?;
    let fb = message.header_as_record_batch().ok_or_else(|| internal("not a record batch".into()))?;
    let version =
        if message.version() < MetadataVersion::V4 { MetadataVersion::V5 } else { message.version() };
    arrow_ipc::reader::read_record_batch(
        &Buffer::from(part.body.contiguous()),
        fb,
        schema.clone(),
        &HashMap::new(),
        None,
        &version,
    )
    .map_err(|e| internal(e.to_string()))
}

/// The schema an Arrow IPC stream starts with: how bindings without Arrow types of their own (C,
/// Go, Java) hand a schema over. Only the schema message is read; batches after it are ignored.
pub fn schema_from_ipc(ipc: &[u8]) -> ZerobusResult<SchemaRef> {
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None).map_err(|e| {
        ZerobusError::invalid_argument(format!(
            "the schema is not an Arrow IPC stream ({e}); write it with an IPC stream writer (a schema message, batches optional)"
        ))
    })?;
    Ok(reader.schema())
}

/// Batches as one Arrow IPC stream (schema message, the batches, end marker), uncompressed.
pub fn batches_to_ipc(schema: &Schema, batches: &[RecordBatch]) -> ZerobusResult<Vec<u8>> {
    let mut out = Vec::new();
    let write = |out: &mut Vec<u8>| -> Result<(), ArrowError> {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(out, schema)?;
        for b in batches {
            w.write(b)?;
        }
        w.finish()
    };
    write(&mut out).map_err(|e| ZerobusError::internal(format!("writing batches as Arrow IPC: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::Field;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    fn batch(rows: i64) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("n{i}")))),
            ],
        )
        .unwrap()
    }

    #[test]
    fn parts_decode_back_and_slice() {
        for (compression, buffers) in [
            (IpcCompression::None, Buffers::Shared),
            (IpcCompression::None, Buffers::Copied),
            (IpcCompression::Lz4Frame, Buffers::Shared),
            (IpcCompression::Zstd, Buffers::Copied),
        ] {
            let parts = encode_batch("t", &batch(100), compression, buffers).unwrap();
            // Shared uncompressed: the batch's buffers and padding; otherwise one body.
            let segments = parts[0].body.segments().len();
            assert_eq!(segments > 1, (compression, buffers) == (IpcCompression::None, Buffers::Shared));
            assert_eq!(parts.len(), 1);
            assert_eq!(parts[0].rows, 100);
            let back = decode_parts(&schema(), &parts, 0).unwrap();
            assert_eq!(back, vec![batch(100)]);
            let sliced = decode_parts(&schema(), &parts, 30).unwrap();
            assert_eq!(sliced[0].num_rows(), 70);
            assert_eq!(sliced[0], batch(100).slice(30, 70));
        }
    }

    #[test]
    fn an_ipc_stream_is_split_without_copying() {
        let mut ipc = Vec::new();
        {
            let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &schema()).unwrap();
            w.write(&batch(3)).unwrap();
            w.write(&batch(5)).unwrap();
            w.finish().unwrap();
        }
        let ipc = Bytes::from(ipc);
        let parts = split_ipc_stream("t", &schema(), &ipc, IpcCompression::None).unwrap().unwrap();
        assert_eq!(parts.iter().map(|p| p.rows).collect::<Vec<_>>(), vec![3, 5]);
        let range = ipc.as_ptr() as usize..ipc.as_ptr() as usize + ipc.len();
        assert!(
            parts.iter().all(|p| range.contains(&(p.body.contiguous().as_ptr() as usize))),
            "bodies are slices of the input"
        );
        assert_eq!(decode_parts(&schema(), &parts, 4).unwrap(), vec![batch(5).slice(1, 4)]);
        // Asked for compression, uncompressed input is compressed; the rows stay the same.
        let zstd = split_ipc_stream("t", &schema(), &ipc, IpcCompression::Zstd).unwrap().unwrap();
        let codec = |p: &FlightPart| {
            arrow_ipc::root_as_message(&p.header)
                .unwrap()
                .header_as_record_batch()
                .unwrap()
                .compression()
                .map(|c| c.codec())
        };
        assert!(zstd.iter().all(|p| codec(p) == Some(arrow_ipc::CompressionType::ZSTD)));
        assert_eq!(decode_parts(&schema(), &zstd, 0).unwrap(), vec![batch(3), batch(5)]);
        assert!(parts.iter().all(|p| codec(p).is_none()));
        // A truncated stream fails and names the problem.
        let e =
            split_ipc_stream("t", &schema(), &ipc.slice(..ipc.len() - 20), IpcCompression::None).unwrap_err();
        assert!(e.message().contains("past its end") || e.message().contains("truncated"), "{e}");
    }

    #[test]
    fn mismatched_batches_are_refused_by_column() {
        let other = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let e = check_batch("main.t", &other, &batch(1)).unwrap_err();
        assert!(e.message().contains("column id: expected Int32, got Int64"), "{e}");
        let nulls = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("name", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec!["a", "b"])),
            ],
        )
        .unwrap();
        let e = check_batch("main.t", &schema(), &nulls).unwrap_err();
        assert!(e.message().contains("column id is NOT NULL but the batch has 1 null"), "{e}");
    }

    #[test]
    fn compression_names() {
        assert_eq!("LZ4_FRAME".parse::<IpcCompression>().unwrap(), IpcCompression::Lz4Frame);
        assert_eq!("zstd".parse::<IpcCompression>().unwrap().name(), "zstd");
        let e = "gzip".parse::<IpcCompression>().unwrap_err();
        assert!(
            e.message()
                .contains("option ipc_compression is \"gzip\"; it must be one of none, lz4_frame, zstd"),
            "{e}"
        );
    }

    #[test]
    fn put_results_are_read() {
        let meta = br#"{"ack_up_to_offset": 3, "ack_up_to_records": 40, "close_stream_duration_ms": 5}"#;
        let mut msg = vec![0x0a];
        put_varint(&mut msg, meta.len() as u64);
        msg.extend_from_slice(meta);
        let ack = decode_put_result(&msg).unwrap();
        assert_eq!(
            ack,
            FlightAck { ack_up_to_offset: 3, ack_up_to_records: 40, close_stream_duration_ms: Some(5) }
        );
        assert!(decode_put_result(&[0x0a, 2, b'{', b'}']).is_err());
    }
}
