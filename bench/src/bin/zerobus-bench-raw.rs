//! The raw ceiling (`bench/DRIVER.md`): a plain tonic client that pushes requests encoded with
//! prost before the clock starts, as fast as HTTP/2 flow control lets it, then waits for the last
//! ack. No SDK, no queue, no in-flight bound: what the wire and the server allow. Single and
//! nowait modes send one `ingest_record` per record; batch mode one `ingest_record_batch` per call.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Endpoint;
use zerobus_bench::driver::{bench_descriptor, Clock, DriverArgs, Format, Mode, RecordPool};
use zerobus_proto::ephemeral_stream_request::Payload;
use zerobus_proto::ephemeral_stream_response::Payload as Response;
use zerobus_proto::ingest_record_batch_request::Batch;
use zerobus_proto::ingest_record_request::Record;
use zerobus_proto::{
    CreateIngestStreamRequest, EphemeralStreamRequest, EphemeralStreamResponse, IngestRecordBatchRequest,
    IngestRecordRequest, JsonRecordBatch, ProtoEncodedRecordBatch, RecordType, EPHEMERAL_STREAM_PATH,
};

/// The mock server's fixed development token (`zerobus serve` accepts it for every table).
const STATIC_TOKEN: &str = "zerobus-dev-static-token";

#[tokio::main]
async fn main() {
    let args = DriverArgs::from_env();
    if args.mode == Mode::Fill {
        eprintln!("zerobus-bench-raw: fill mode is for SDK drivers");
        std::process::exit(2);
    }
    if let Err(e) = run(args).await {
        eprintln!("zerobus-bench-raw: {e}");
        std::process::exit(1);
    }
}

fn request(payload: Payload) -> Bytes {
    Bytes::from(EphemeralStreamRequest { payload: Some(payload) }.encode_to_vec())
}

async fn run(args: DriverArgs) -> Result<(), Box<dyn std::error::Error>> {
    if !matches!(args.format, Format::Json | Format::Proto) {
        return Err("the raw ceiling takes --format json or proto".into());
    }
    let pool = RecordPool::new(args.size, args.format);
    let per_call = args.per_call();
    let calls = args.records.div_ceil(per_call as u64);
    let mut messages = Vec::with_capacity(calls as usize + 1);
    messages.push(request(Payload::CreateStream(CreateIngestStreamRequest {
        table_name: Some(args.table.clone()),
        record_type: Some(match args.format {
            Format::Proto => RecordType::Proto as i32,
            _ => RecordType::Json as i32,
        }),
        descriptor_proto: (args.format == Format::Proto)
            .then(|| Bytes::from(bench_descriptor().encode_to_vec())),
        ..Default::default()
    })));
    let mut start = 0u64;
    for offset in 0..calls as i64 {
        let n = (per_call as u64).min(args.records - start) as usize;
        let records = pool.batch_records(start, n);
        let texts = || records.clone().map(|r| String::from_utf8_lossy(r).into_owned());
        let protos = || records.clone().map(Bytes::copy_from_slice);
        messages.push(match (n, args.format) {
            (1, Format::Json | Format::Taxi | Format::TaxiTyped | Format::TaxiArrow) => {
                request(Payload::IngestRecord(IngestRecordRequest {
                    offset_id: Some(offset),
                    record: texts().next().map(Record::JsonRecord),
                }))
            }
            (1, Format::Proto) => request(Payload::IngestRecord(IngestRecordRequest {
                offset_id: Some(offset),
                record: protos().next().map(Record::ProtoEncodedRecord),
            })),
            (_, Format::Json | Format::Taxi | Format::TaxiTyped | Format::TaxiArrow) => {
                request(Payload::IngestRecordBatch(IngestRecordBatchRequest {
                    offset_id: Some(offset),
                    batch: Some(Batch::JsonBatch(JsonRecordBatch { records: texts().collect() })),
                }))
            }
            (_, Format::Proto) => request(Payload::IngestRecordBatch(IngestRecordBatchRequest {
                offset_id: Some(offset),
                batch: Some(Batch::ProtoEncodedBatch(ProtoEncodedRecordBatch {
                    records: protos().collect(),
                })),
            })),
        });
        start += n as u64;
    }
    let last_offset = calls as i64 - 1;

    let channel = Endpoint::from_shared(args.endpoint.clone())?.tcp_nodelay(true).connect().await?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await?;
    let mut request = tonic::Request::new(Messages { queue: messages.into_iter() });
    request.metadata_mut().insert("authorization", format!("Bearer {STATIC_TOKEN}").parse()?);
    request.metadata_mut().insert("x-databricks-zerobus-table-name", args.table.parse()?);

    let clock = Clock::start(&args);
    let path = http::uri::PathAndQuery::from_static(EPHEMERAL_STREAM_PATH);
    let mut responses = grpc.streaming(request, path, RawCodec).await?.into_inner();
    loop {
        let message = responses.message().await?.ok_or("the server ended the call before the last ack")?;
        if let Some(Response::IngestRecordResponse(ack)) = message.payload {
            if ack.durability_ack_up_to_offset == Some(last_offset) {
                break;
            }
        }
    }
    clock.report(args.records);
    Ok(())
}

/// The pre-encoded requests, then an open request stream (END_STREAM would end the call before
/// the last ack is read).
struct Messages {
    queue: std::vec::IntoIter<Bytes>,
}

impl futures_core::Stream for Messages {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match self.queue.next() {
            Some(message) => Poll::Ready(Some(message)),
            None => Poll::Pending,
        }
    }
}

/// Writes pre-encoded messages as they are; decodes responses with prost.
#[derive(Clone, Copy)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = EphemeralStreamResponse;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = EphemeralStreamResponse;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, tonic::Status> {
        EphemeralStreamResponse::decode(src).map(Some).map_err(|e| tonic::Status::internal(e.to_string()))
    }
}
