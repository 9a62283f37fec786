//! Hand-written encoding of ingest requests.
//!
//! Each ingest call is encoded once, when it is queued, into a `Bytes` "body": the `record` /
//! `batch` oneof field of `IngestRecordRequest` / `IngestRecordBatchRequest`, which holds the one
//! copy of the caller's data. Sending (and resending after a reconnect, when wire offsets restart
//! at 0) only prepends the envelope and the per-connection offset, so no record is re-encoded or
//! copied again before it reaches tonic's buffer. Field numbers are PROTOCOL.md §2's.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use zerobus_proto::EphemeralStreamResponse;

use crate::flight::FlightPart;
use crate::options::RecordType;

// EphemeralStreamRequest.payload
const TAG_CREATE: u8 = 0x0a; // field 1, length-delimited
const TAG_INGEST_RECORD: u8 = 0x12; // field 2, length-delimited
const TAG_INGEST_BATCH: u8 = 0x1a; // field 3, length-delimited
                                   // IngestRecordRequest / IngestRecordBatchRequest
const TAG_OFFSET: u8 = 0x08; // field 1, varint
const TAG_PROTO: u8 = 0x12; // field 2: proto_encoded_record / proto_encoded_batch
const TAG_JSON: u8 = 0x1a; // field 3: json_record / json_batch
                           // *RecordBatch.records
const TAG_BATCH_RECORD: u8 = 0x0a; // field 1, length-delimited

/// One queued ingest call, encoded except for its envelope and wire offset.
#[derive(Clone, Debug)]
pub(crate) struct EncodedCall {
    /// The oneof field, tag included.
    pub body: Bytes,
    /// Records in the call (1 for `ingest_record`); rows for an Arrow call.
    pub records: u32,
    /// An Arrow call's physical record batches (`body` is then empty).
    pub flight: Option<Box<[FlightPart]>>,
}

impl EncodedCall {
    /// Whether this call goes on the wire as `ingest_record_batch`.
    pub fn is_batch(&self) -> bool {
        self.records != 1
    }

    /// An Arrow call of `parts`.
    pub fn arrow(parts: Vec<FlightPart>) -> EncodedCall {
        let records = parts.iter().map(|p| p.rows).sum();
        EncodedCall { body: Bytes::new(), records, flight: Some(parts.into_boxed_slice()) }
    }

    /// The bytes this call holds: what `max_inflight_bytes` bounds.
    pub fn size(&self) -> usize {
        match &self.flight {
            None => self.body.len(),
            Some(parts) => parts.iter().map(FlightPart::size).sum(),
        }
    }
}

fn data_tag(record_type: RecordType) -> u8 {
    match record_type {
        RecordType::Proto => TAG_PROTO,
        RecordType::Json => TAG_JSON,
    }
}

/// The buffers encoded calls are carved from, one set per stream.
///
/// Allocating each call's buffer cost a malloc and a free per single record, and for batches
/// fresh pages the kernel had to fault in and zero on every call. Calls are instead written back
/// to back into slabs, each call's `Bytes` sharing its slab; a slab whose calls have all been
/// acked is taken up again with its pages still mapped. At most `SLABS_KEPT + 1` slabs stay
/// with a stream beyond what its unacked calls hold.
pub(crate) struct Slabs {
    current: BytesMut,
    /// Filled slabs, oldest first; reused once every call in one is acked (dropped).
    kept: std::collections::VecDeque<BytesMut>,
}

const SLAB_BYTES: usize = 2 << 20;
/// Larger calls get a buffer of their own, so that one call can't strand most of a slab.
const SLAB_MAX_CALL: usize = 512 << 10;
const SLABS_KEPT: usize = 3;

impl Slabs {
    pub(crate) fn new() -> Slabs {
        Slabs { current: BytesMut::new(), kept: std::collections::VecDeque::new() }
    }

    /// `write` fills exactly `len` bytes; they come back as one `Bytes`.
    fn carve(&mut self, len: usize, write: impl FnOnce(&mut BytesMut)) -> Bytes {
        if len > SLAB_MAX_CALL {
            let mut own = BytesMut::with_capacity(len);
            write(&mut own);
            return own.freeze();
        }
        if self.current.capacity() < len {
            self.next_slab();
        }
        write(&mut self.current);
        self.current.split().freeze()
    }

    fn next_slab(&mut self) {
        // `try_reclaim` succeeds only on a slab no call refers to any more.
        let next = match self.kept.iter_mut().position(|slab| slab.try_reclaim(SLAB_BYTES)) {
            Some(i) => self.kept.remove(i).expect("index from position"),
            None => BytesMut::with_capacity(SLAB_BYTES),
        };
        let full = std::mem::replace(&mut self.current, next);
        self.kept.push_back(full);
        if self.kept.len() > SLABS_KEPT {
            self.kept.pop_front();
        }
    }
}

/// Encodes a call from its records into `slabs`. A batch of one record is sent as
/// `ingest_record`.
pub(crate) fn encode_call<'a, I>(
    record_type: RecordType,
    records: I,
    slabs: &std::sync::Mutex<Slabs>,
) -> EncodedCall
where
    I: ExactSizeIterator<Item = &'a [u8]> + Clone,
{
    let count = records.len();
    let tag = data_tag(record_type);
    let mut slabs = slabs.lock().unwrap_or_else(|p| p.into_inner());
    if count == 1 {
        let rec = records.clone().next().unwrap_or_default();
        let len = 1 + varint_len(rec.len() as u64) + rec.len();
        let body = slabs.carve(len, |buf| {
            buf.put_u8(tag);
            put_varint(buf, rec.len() as u64);
            buf.put_slice(rec);
        });
        return EncodedCall { body, records: 1, flight: None };
    }
    let mut inner_len = 0usize;
    for rec in records.clone() {
        inner_len += 1 + varint_len(rec.len() as u64) + rec.len();
    }
    let len = 1 + varint_len(inner_len as u64) + inner_len;
    let body = slabs.carve(len, |buf| {
        buf.put_u8(tag);
        put_varint(buf, inner_len as u64);
        for rec in records {
            buf.put_u8(TAG_BATCH_RECORD);
            put_varint(buf, rec.len() as u64);
            buf.put_slice(rec);
        }
    });
    EncodedCall { body, records: count as u32, flight: None }
}

/// The records of an encoded call, each a zero-copy slice of its body.
pub(crate) fn decode_records(call: &EncodedCall) -> Vec<Bytes> {
    let body = &call.body;
    let (len, mut pos) = read_varint(body, 1);
    if !call.is_batch() {
        return vec![body.slice(pos..pos + len as usize)];
    }
    let end = pos + len as usize;
    let mut out = Vec::with_capacity(call.records as usize);
    while pos < end {
        let (rec_len, start) = read_varint(body, pos + 1);
        let stop = start + rec_len as usize;
        out.push(body.slice(start..stop));
        pos = stop;
    }
    out
}

/// What the request stream hands tonic: a pre-encoded control message or an ingest call.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A complete `EphemeralStreamRequest` (the `create_stream` message).
    Raw(Bytes),
    /// An ingest call and its offset on this connection.
    Call { wire_offset: i64, batch: bool, body: Bytes },
    /// One physical Arrow record batch and its `offset_id` on this connection.
    Flight { offset_id: i64, header: Bytes, body: crate::ipc_body::IpcBody },
}

/// What the server sends: `EphemeralStreamResponse` on a record stream, an ack read from
/// `PutResult` on an Arrow stream.
#[derive(Debug)]
pub(crate) enum Incoming {
    Record(EphemeralStreamResponse),
    Flight(crate::flight::FlightAck),
}

/// Encodes the `create_stream` request.
pub(crate) fn encode_create(
    table_name: &str,
    record_type: RecordType,
    descriptor: Option<&prost_types::DescriptorProto>,
) -> Bytes {
    let request = zerobus_proto::EphemeralStreamRequest {
        payload: Some(zerobus_proto::ephemeral_stream_request::Payload::CreateStream(
            zerobus_proto::CreateIngestStreamRequest {
                table_name: Some(table_name.to_owned()),
                descriptor_proto: descriptor.map(|d| Bytes::from(d.encode_to_vec())),
                record_type: Some(record_type as i32),
                avro_schema_json: None,
            },
        )),
    };
    debug_assert_eq!(TAG_CREATE, 0x0a);
    Bytes::from(request.encode_to_vec())
}

/// tonic codec: our own encoder for requests; responses read with prost (record streams) or
/// as `PutResult` (Arrow streams, `flight`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WireCodec {
    pub flight: bool,
}

impl tonic::codec::Codec for WireCodec {
    type Encode = Outgoing;
    type Decode = Incoming;
    type Encoder = WireEncoder;
    type Decoder = WireDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        WireEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireDecoder { flight: self.flight }
    }
}

/// Writes [`Outgoing`] messages.
#[derive(Debug)]
pub(crate) struct WireEncoder;

impl tonic::codec::Encoder for WireEncoder {
    type Item = Outgoing;
    type Error = tonic::Status;

    fn encode(&mut self, item: Outgoing, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        write_outgoing(dst, item);
        Ok(())
    }
}

/// Writes one message's protobuf bytes (without the gRPC prefix).
pub(crate) fn write_outgoing(dst: &mut impl BufMut, item: Outgoing) {
    match item {
        Outgoing::Raw(bytes) => dst.put_slice(&bytes),
        Outgoing::Call { wire_offset, batch, body } => write_call(dst, wire_offset, batch, &body),
        Outgoing::Flight { offset_id, header, body } => {
            crate::flight::write_part(dst, offset_id, &header, &body)
        }
    }
}

/// Reads [`Incoming`] messages.
#[derive(Debug)]
pub(crate) struct WireDecoder {
    flight: bool,
}

impl tonic::codec::Decoder for WireDecoder {
    type Item = Incoming;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Self::Item>, tonic::Status> {
        use bytes::Buf;
        if self.flight {
            let message = src.copy_to_bytes(src.remaining());
            return crate::flight::decode_put_result(&message)
                .map(|ack| Some(Incoming::Flight(ack)))
                .map_err(|e| tonic::Status::internal(format!("malformed PutResult from server: {e}")));
        }
        EphemeralStreamResponse::decode(src)
            .map(|m| Some(Incoming::Record(m)))
            .map_err(|e| tonic::Status::internal(format!("malformed response from server: {e}")))
    }
}

/// Writes one `EphemeralStreamRequest` carrying an ingest call.
fn write_call(dst: &mut impl BufMut, wire_offset: i64, batch: bool, body: &[u8]) {
    let offset = wire_offset as u64;
    let inner = 1 + varint_len(offset) + body.len();
    dst.put_u8(if batch { TAG_INGEST_BATCH } else { TAG_INGEST_RECORD });
    put_varint(dst, inner as u64);
    dst.put_u8(TAG_OFFSET);
    put_varint(dst, offset);
    dst.put_slice(body);
}

pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

pub(crate) fn put_varint(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Reads a varint we wrote ourselves (so it is well-formed) at `pos`; returns (value, next pos).
fn read_varint(buf: &[u8], mut pos: usize) -> (u64, usize) {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[pos];
        pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return (v, pos);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerobus_proto::{ephemeral_stream_request::Payload, EphemeralStreamRequest};

    fn slabs() -> std::sync::Mutex<Slabs> {
        std::sync::Mutex::new(Slabs::new())
    }

    /// Calls share slabs, and a slab comes back into use once its calls are dropped (acked).
    #[test]
    fn slabs_are_shared_and_reused_once_acked() {
        let slabs = slabs();
        let record = vec![b'x'; 1000];
        let calls: Vec<EncodedCall> = (0..2100)
            .map(|_| encode_call(RecordType::Proto, std::iter::once(record.as_slice()), &slabs))
            .collect();
        let first = calls[0].body.as_ptr() as usize;
        assert_eq!(calls[1].body.as_ptr() as usize, first + calls[0].body.len(), "back to back in one slab");
        let first_slab = first..first + SLAB_BYTES;
        assert!(!first_slab.contains(&(calls[2099].body.as_ptr() as usize)), "2.1 MB needs a second slab");
        drop(calls);
        // Every call is gone: filling the current slab moves on to the first one again.
        let again: Vec<EncodedCall> = (0..2100)
            .map(|_| encode_call(RecordType::Proto, std::iter::once(record.as_slice()), &slabs))
            .collect();
        assert!(again.iter().any(|c| first_slab.contains(&(c.body.as_ptr() as usize))));
        // A call bigger than a slab's share gets its own buffer.
        let big = vec![b'y'; SLAB_MAX_CALL + 1];
        let own = encode_call(RecordType::Proto, std::iter::once(big.as_slice()), &slabs);
        assert_eq!(own.body.len(), SLAB_MAX_CALL + 1 + 1 + varint_len(big.len() as u64));
    }

    fn encode_with_prost_check(call: &EncodedCall, wire_offset: i64) -> EphemeralStreamRequest {
        let mut buf = BytesMut::new();
        write_call(&mut buf, wire_offset, call.is_batch(), &call.body);
        EphemeralStreamRequest::decode(buf.freeze()).unwrap()
    }

    #[test]
    fn single_json_record_is_ingest_record() {
        let call = encode_call(RecordType::Json, [b"{\"a\":1}".as_slice()].into_iter(), &slabs());
        assert!(!call.is_batch());
        match encode_with_prost_check(&call, 300).payload.unwrap() {
            Payload::IngestRecord(r) => {
                assert_eq!(r.offset_id, Some(300));
                assert_eq!(
                    r.record,
                    Some(zerobus_proto::ingest_record_request::Record::JsonRecord("{\"a\":1}".into()))
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(decode_records(&call), vec![Bytes::from_static(b"{\"a\":1}")]);
    }

    #[test]
    fn proto_batch_is_ingest_record_batch() {
        let big = vec![7u8; 300];
        let recs: Vec<&[u8]> = vec![b"\x08\x01", &big, b""];
        let call = encode_call(RecordType::Proto, recs.iter().copied(), &slabs());
        assert_eq!(call.records, 3);
        match encode_with_prost_check(&call, 0).payload.unwrap() {
            Payload::IngestRecordBatch(b) => {
                assert_eq!(b.offset_id, Some(0));
                match b.batch.unwrap() {
                    zerobus_proto::ingest_record_batch_request::Batch::ProtoEncodedBatch(p) => {
                        assert_eq!(p.records.len(), 3);
                        assert_eq!(p.records[1].as_ref(), big.as_slice());
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            other => panic!("unexpected {other:?}"),
        }
        let back = decode_records(&call);
        assert_eq!(back.len(), 3);
        assert_eq!(back[1].as_ref(), big.as_slice());
        assert!(back[2].is_empty());
    }

    #[test]
    fn encoder_matches_prost() {
        let call =
            encode_call(RecordType::Json, ["{}".as_bytes(), "{\"b\":2}".as_bytes()].into_iter(), &slabs());
        let mut expected = BytesMut::new();
        EphemeralStreamRequest {
            payload: Some(Payload::IngestRecordBatch(zerobus_proto::IngestRecordBatchRequest {
                offset_id: Some(5),
                batch: Some(zerobus_proto::ingest_record_batch_request::Batch::JsonBatch(
                    zerobus_proto::JsonRecordBatch { records: vec!["{}".into(), "{\"b\":2}".into()] },
                )),
            })),
        }
        .encode(&mut expected)
        .unwrap();
        let mut got = BytesMut::new();
        write_call(&mut got, 5, true, &call.body);
        assert_eq!(got, expected);
    }
}
