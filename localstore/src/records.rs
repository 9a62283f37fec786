//! A stream's calls as log entries, checked against the table before they are appended (so
//! nothing acked can fail to commit later):
//!
//! - JSON records are decoded as the table's Arrow rows (arrow-json, strict: a field the table
//!   does not have is an error) and logged as they came.
//! - PROTO records are decoded with the stream's descriptor and logged as the JSON of their
//!   fields ([`Unset::SkipPresent`]: an unset field with presence is NULL), then checked like
//!   JSON. BYTES fields become base64 text.
//! - Arrow Flight batches are decoded against the stream's schema (which the mock has already
//!   checked against the table's) and logged as an IPC stream, their body as it came.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use zerobus_conformance::mock::{CallSink, StoreError};
use zerobus_conformance::proto_json::{message_json, Unset};

use crate::wal::{Kind, Log};

/// Decodes JSON records as rows of `schema`, each record on its own (for the error's record
/// index) only when the whole call does not decode.
pub(crate) fn json_rows(schema: &SchemaRef, records: &[&[u8]]) -> Result<Vec<RecordBatch>, String> {
    let decode = |records: &[&[u8]]| -> Result<Vec<RecordBatch>, arrow_schema::ArrowError> {
        let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
            .with_strict_mode(true)
            .with_batch_size(64 * 1024)
            .build_decoder()?;
        let mut batches = Vec::new();
        for record in records {
            let mut rest = *record;
            while !rest.is_empty() {
                let read = decoder.decode(rest)?;
                if read == 0 {
                    batches.extend(decoder.flush()?);
                    continue;
                }
                rest = &rest[read..];
            }
            // Records arrive one object each; a newline keeps two of them from running together.
            decoder.decode(b"\n")?;
            if decoder.len() >= 64 * 1024 {
                batches.extend(decoder.flush()?);
            }
        }
        batches.extend(decoder.flush()?);
        Ok(batches)
    };
    decode(records).map_err(|whole| {
        for (i, record) in records.iter().enumerate() {
            if let Err(e) = decode(&[record]) {
                return format!("record {i} does not fit the table's columns: {e}");
            }
        }
        format!("the records do not fit the table's columns: {whole}")
    })
}

/// A JSON or PROTO stream's sink.
pub(crate) struct RecordSink {
    pub log: Arc<Log>,
    pub table: String,
    pub schema: SchemaRef,
    /// The stream's message, for PROTO streams.
    pub proto: Option<MessageDescriptor>,
}

impl RecordSink {
    /// The sink of a PROTO stream whose records are `descriptor`'s message.
    pub fn proto_descriptor(descriptor: &prost_types::DescriptorProto) -> Result<MessageDescriptor, String> {
        let file = prost_types::FileDescriptorProto {
            name: Some("zerobus_stream.proto".into()),
            message_type: vec![descriptor.clone()],
            syntax: Some("proto2".into()),
            ..Default::default()
        };
        let set = prost_types::FileDescriptorSet { file: vec![file] };
        let pool = DescriptorPool::decode(set.encode_to_vec().as_slice())
            .map_err(|e| format!("descriptor_proto cannot be used to store records: {e}"))?;
        pool.get_message_by_name(descriptor.name())
            .ok_or_else(|| format!("descriptor_proto: message {:?} not found", descriptor.name()))
    }
}

impl CallSink for RecordSink {
    fn append_records(&mut self, records: &[Bytes]) -> Result<u64, StoreError> {
        let json: Vec<Vec<u8>>;
        let texts: Vec<&[u8]> = match &self.proto {
            None => records.iter().map(|r| &r[..]).collect(),
            Some(message) => {
                json = records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let decoded = DynamicMessage::decode(message.clone(), &r[..])
                            .map_err(|e| StoreError::Invalid(format!("record {i} does not decode: {e}")))?;
                        Ok(message_json(&decoded, Unset::SkipPresent).to_string().into_bytes())
                    })
                    .collect::<Result<_, StoreError>>()?;
                json.iter().map(|r| &r[..]).collect()
            }
        };
        json_rows(&self.schema, &texts)
            .map_err(|e| StoreError::Invalid(format!("table {}: {e}", self.table)))?;
        let mut body = Vec::with_capacity(texts.iter().map(|t| t.len() + 4).sum());
        for text in &texts {
            let len = u32::try_from(text.len())
                .map_err(|_| StoreError::Invalid("a record of 4 GiB or more".into()))?;
            body.extend_from_slice(&len.to_le_bytes());
            body.extend_from_slice(text);
        }
        self.log.append(Kind::JsonRecords, &self.table, &[&body])
    }

    fn append_arrow(&mut self, _header: &[u8], _body: &[u8]) -> Result<u64, StoreError> {
        Err(StoreError::Invalid("a record stream does not take Arrow batches".into()))
    }
}

/// The records of a [`Kind::JsonRecords`] entry's body.
pub(crate) fn split_json(body: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(4).ok_or("a JSON entry ends inside a length")?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (record, tail) = tail.split_at_checked(len).ok_or("a JSON entry ends inside a record")?;
        out.push(record);
        rest = tail;
    }
    Ok(out)
}

/// An Arrow Flight stream's sink.
pub(crate) struct ArrowSink {
    pub log: Arc<Log>,
    pub table: String,
    pub schema: SchemaRef,
    /// The schema message, framed as in an IPC stream.
    pub schema_message: Vec<u8>,
}

/// `header` then `body` framed as one message of an IPC stream: the continuation marker, the
/// header's length padded to 8, the header and its padding (the body follows as it is).
pub(crate) fn frame(header: &[u8]) -> Vec<u8> {
    let padded = header.len().div_ceil(8) * 8;
    let mut out = Vec::with_capacity(8 + padded);
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(&(padded as u32).to_le_bytes());
    out.extend_from_slice(header);
    out.resize(8 + padded, 0);
    out
}

impl CallSink for ArrowSink {
    fn append_records(&mut self, _records: &[Bytes]) -> Result<u64, StoreError> {
        Err(StoreError::Invalid("an Arrow stream does not take records".into()))
    }

    fn append_arrow(&mut self, header: &[u8], body: &[u8]) -> Result<u64, StoreError> {
        let invalid = |e: String| StoreError::Invalid(format!("table {}: {e}", self.table));
        let message = arrow_ipc::root_as_message(header)
            .map_err(|e| invalid(format!("the data_header is not an Arrow IPC message: {e}")))?;
        let batch = message
            .header_as_record_batch()
            .ok_or_else(|| invalid("the message is not a record batch".into()))?;
        if !body.len().is_multiple_of(8) {
            return Err(invalid(format!("the body is {} bytes, not a multiple of 8", body.len())));
        }
        // Decoded once, in full, so that a batch acked here always commits.
        arrow_ipc::reader::read_record_batch(
            &Buffer::from(body.to_vec()),
            batch,
            self.schema.clone(),
            &HashMap::new(),
            None,
            &message.version(),
        )
        .map_err(|e| invalid(format!("the batch does not decode: {e}")))?;
        let framed = frame(header);
        self.log.append(Kind::ArrowIpc, &self.table, &[&self.schema_message, &framed, body])
    }
}
