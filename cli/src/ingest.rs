//! `zerobus ingest`: streams records into a table through one SDK stream and reports the rate.

use std::collections::VecDeque;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use tokio::sync::mpsc;
use zerobus_core::{
    DescriptorProto, ErrorCode, JsonToProto, RecordRef, RecordType, StreamConfigurationOptions,
    TableProperties, ZerobusError, ZerobusSdk, ZerobusStream, DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_MAX_INFLIGHT_REQUESTS, MAX_CALL_PAYLOAD_BYTES,
};

use crate::input::{self, Chunk, ChunkLimits, Encoding, Item, Source};
use crate::progress::{self, Progress, Snapshot};
use crate::{CliError, CliResult};

/// A partial batch is sent once input has paused this long, so records typed or tailed into
/// stdin don't wait for a full batch.
const IDLE_FLUSH: Duration = Duration::from_millis(100);

/// Record encoding on the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON objects sent as text.
    Json,
    /// Protobuf records: JSON lines encoded by the SDK to the table's schema (read from Unity
    /// Catalog), or, with `--descriptor`, to that message.
    Proto,
    /// Arrow record batches over Flight `DoPut` from a Parquet or Arrow IPC `--file` (chosen by
    /// itself for .parquet, .arrow, .arrows, .ipc and .feather files).
    Arrow,
}

/// Options of `zerobus ingest`.
#[derive(Args)]
pub struct IngestArgs {
    /// Zerobus endpoint, e.g. https://<workspace-id>.zerobus.<region>.cloud.databricks.com
    /// (http:// only for a local server).
    #[arg(long, env = "ZEROBUS_ENDPOINT", value_name = "URL")]
    pub endpoint: String,
    /// Workspace URL that issues OAuth tokens.
    #[arg(long, env = "ZEROBUS_WORKSPACE_URL", value_name = "URL")]
    pub workspace_url: String,
    /// Target table, `catalog.schema.table`.
    #[arg(long, env = "ZEROBUS_TABLE", value_name = "NAME")]
    pub table: String,
    /// OAuth client id (service principal).
    #[arg(long, env = "ZEROBUS_CLIENT_ID", value_name = "ID")]
    pub client_id: String,
    /// OAuth client secret; prefer the environment variable over the flag, which other users
    /// can see in the process list.
    #[arg(long, env = "ZEROBUS_CLIENT_SECRET", value_name = "SECRET", hide_env_values = true)]
    pub client_secret: String,

    /// JSON-lines file to send, one object per line; `-` or absent reads stdin.
    #[arg(long, value_name = "PATH", conflicts_with = "generate")]
    pub file: Option<PathBuf>,
    /// Send N generated records ({"seed":1,"seq":i,"pad":"…"}) instead of reading input.
    #[arg(long, value_name = "N")]
    pub generate: Option<u64>,
    /// Bytes per generated record (JSON text size).
    #[arg(long, value_name = "BYTES", default_value_t = 100, requires = "generate")]
    pub size: usize,
    /// Records per ingest call (a batch under one offset); 1 sends single-record calls.
    /// A call also stops short of the 10,420,224-byte service limit. For Parquet and Arrow
    /// files: rows per call [default: 1000 records, 10000 rows].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: Option<u64>,
    /// Record encoding on the stream.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Proto only: a serialized google.protobuf.DescriptorProto, or a FileDescriptorSet
    /// (protoc --include_imports --descriptor_set_out) with --message choosing the message.
    /// Without it, the stream is opened from the table: the SDK reads the table's schema and
    /// encodes each JSON line to it (with --generate, the generator's own message is used).
    #[arg(long, value_name = "FILE")]
    pub descriptor: Option<PathBuf>,
    /// Message of the --descriptor FileDescriptorSet to use (`pkg.Name` or `Name`).
    #[arg(long, value_name = "NAME", requires = "descriptor")]
    pub message: Option<String>,
    /// Bound on unacknowledged ingest calls [default: 50000].
    #[arg(long, value_name = "N")]
    pub max_inflight_requests: Option<usize>,
    /// Bound on unacknowledged record bytes [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub max_inflight_bytes: Option<usize>,
    /// Appended to the user-agent so the service can tell applications apart.
    #[arg(long, value_name = "NAME")]
    pub application_name: Option<String>,
    /// PEM file of extra CA certificates to trust (private deployments, TLS-inspecting proxies).
    #[arg(long, env = "ZEROBUS_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,

    /// Connection attempts in a row without an ack before the run fails [default: 4]. With the
    /// default waits the attempts come at about 0, 2, 6 and 14 s after a connection is lost.
    #[arg(long, value_name = "N")]
    pub recovery_retries: Option<u32>,
    /// Wait before the second attempt in a row, ms; it doubles for each later attempt up to
    /// --recovery-backoff-max-ms (the first attempt after progress goes at once) [default: 2000].
    #[arg(long, value_name = "MS")]
    pub recovery_backoff_ms: Option<u64>,
    /// Cap on the wait between connection attempts, ms [default: 30000].
    #[arg(long, value_name = "MS")]
    pub recovery_backoff_max_ms: Option<u64>,
    /// Bound on each connection attempt (token, connect, stream open), ms [default: 15000].
    #[arg(long, value_name = "MS")]
    pub recovery_timeout_ms: Option<u64>,
    /// Arrow only: body compression of the IPC batches: none, lz4_frame or zstd.
    #[arg(long, value_name = "NAME", default_value = "none")]
    pub ipc_compression: String,
    /// Fail at the first lost connection instead of reconnecting and resending.
    #[arg(long, conflicts_with_all = ["recovery_retries", "recovery_backoff_ms", "recovery_backoff_max_ms"])]
    pub no_recovery: bool,
    /// On a failure, write every record that was not acknowledged to PATH: JSON lines (re-ingest
    /// them with --file PATH), or, for --format proto with --descriptor, their input line
    /// numbers, one per line.
    #[arg(long, value_name = "PATH")]
    pub failed_records: Option<PathBuf>,
}

impl IngestArgs {
    /// Combinations clap's attributes can't express; reported as usage errors (exit 2).
    pub fn usage_error(&self) -> Option<String> {
        if self.format != Format::Proto && self.descriptor.is_some() {
            return Some("--descriptor only applies to --format proto".into());
        }
        if self.format == Format::Arrow && self.columnar_file().is_none() {
            return Some("--format arrow reads a Parquet or Arrow IPC file: pass --file PATH".into());
        }
        None
    }

    /// The Parquet / Arrow file to send over an Arrow stream, if that is what this run does.
    pub fn columnar_file(&self) -> Option<&std::path::Path> {
        let file = self.file.as_deref().filter(|f| f.as_os_str() != "-")?;
        (self.format == Format::Arrow || crate::ingest_arrow::is_columnar(file)).then_some(file)
    }

    /// Records per call of a record stream.
    fn records_per_call(&self) -> u64 {
        self.batch_size.unwrap_or(1000)
    }

    /// A PROTO stream opened from its table: the SDK fetches the schema and encodes JSON lines.
    fn opens_from_table(&self) -> bool {
        self.format == Format::Proto && self.descriptor.is_none() && self.generate.is_none()
    }

    /// Whether unacknowledged records can be written back as JSON lines (otherwise as their
    /// input line numbers).
    fn failed_as_json(&self) -> bool {
        self.format == Format::Json || self.opens_from_table()
    }
}

/// Runs `zerobus ingest`.
pub async fn run(args: IngestArgs) -> CliResult<()> {
    if let Some(file) = args.columnar_file() {
        return crate::ingest_arrow::run(&args, file).await;
    }
    let (encoding, descriptor) = encoding(&args)?;
    let source = match args.generate {
        Some(count) => Source::Generate { count, size: args.size },
        None => Source::open(args.file.as_deref())?,
    };
    let sdk = build_sdk(
        &args.endpoint,
        &args.workspace_url,
        args.application_name.as_deref(),
        args.ca_cert.as_deref(),
    )?;
    let options = StreamConfigurationOptions {
        record_type: match args.format {
            Format::Json | Format::Arrow => RecordType::Json,
            Format::Proto => RecordType::Proto,
        },
        max_inflight_requests: args.max_inflight_requests.unwrap_or(DEFAULT_MAX_INFLIGHT_REQUESTS),
        max_inflight_bytes: args.max_inflight_bytes.unwrap_or(DEFAULT_MAX_INFLIGHT_BYTES),
        ..recovery_options(&args)
    };
    // No descriptor for a PROTO stream: the SDK reads the table's schema and encodes JSON lines.
    let table = TableProperties { table_name: args.table.clone(), descriptor_proto: descriptor };
    let from_table = args.opens_from_table();
    let open = async {
        sdk.create_stream(table, args.client_id.as_str(), args.client_secret.as_str(), options).await.map_err(
            |e| match e.code() {
                // No schema to read: say how to write the table without one.
                ErrorCode::NotFound if from_table && e.message().contains("Unity Catalog") => {
                    CliError(format!(
                        "{e}; --format proto without --descriptor encodes by the table's schema: pass \
                     --descriptor FILE, or use --format json"
                    ))
                }
                _ => CliError::from(e),
            },
        )
    };

    let (stream, source, total, prechecked) = match source {
        Source::File { name, file, regular: true } => {
            // Check the whole file while the stream opens: a bad line fails the run before a
            // single record is sent, and the check overlaps the token and connect round trips.
            let enc = encoding.clone();
            let check_name = name.clone();
            let mut check = tokio::task::spawn_blocking(move || input::check_file(&check_name, file, &enc));
            let mut open = std::pin::pin!(open);
            let (stream, (file, count)) = tokio::select! {
                checked = &mut check => {
                    let checked = joined(checked)?;
                    (open.await?, checked)
                }
                stream = &mut open => {
                    let stream = stream?;
                    match joined(check.await) {
                        Ok(checked) => (stream, checked),
                        Err(e) => {
                            let _ = stream.close().await;
                            return Err(e);
                        }
                    }
                }
            };
            (stream, Source::File { name, file, regular: true }, Some(count), true)
        }
        Source::Generate { count, .. } => (open.await?, source, Some(count), true),
        other => (open.await?, other, None, false),
    };

    let per_call = args.records_per_call() as usize;
    let input_name = source.name().to_owned();
    let (tx, rx) = mpsc::channel(4);
    input::spawn_reader(source, encoding.clone(), ChunkLimits::for_calls_of(per_call), prechecked, tx);

    let tally = Tally::new(match args.format {
        Format::Json | Format::Arrow => Keep::Nothing,
        Format::Proto if args.opens_from_table() => Keep::Text,
        Format::Proto => Keep::Lines,
    });
    let target = Target { input: &input_name, per_call: args.records_per_call() as usize };
    let start = Instant::now();
    let work = async {
        let pumped = pump(&stream, rx, &encoding, &target, &tally).await;
        let closed = match &pumped {
            // The stream already failed; close only releases it.
            Err(Stop::Sdk(_)) => stream.close().await,
            _ => match stream.flush().await {
                Ok(()) => stream.close().await,
                Err(e) => {
                    let _ = stream.close().await;
                    Err(e)
                }
            },
        };
        (pumped, closed)
    };

    let mut progress = Progress::new(total);
    let mut tick = tokio::time::interval(progress::REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut work = std::pin::pin!(work);
    let (pumped, closed) = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = tick.tick(), if progress.enabled() => {
                progress.update(tally.snapshot(stream.metrics().last_acked_offset));
            }
        }
    };
    let elapsed = start.elapsed();
    progress.clear();

    let metrics = stream.metrics();
    let done = tally.snapshot(metrics.last_acked_offset);
    println!(
        "{}",
        progress::summary(&progress::Totals {
            queued: done.sent,
            acked: done.acked,
            recoveries: metrics.recoveries,
            resent: metrics.records_resent,
            bytes: done.bytes,
            elapsed,
        })
    );
    let failure = match (pumped, closed) {
        (Ok(()), Ok(())) => return Ok(()),
        (Err(Stop::Input(message)), Ok(())) => {
            return Err(CliError(format!(
                "{message} (stopped there: the {} records before it were ingested, {} acked)",
                done.sent, done.acked
            )))
        }
        (Err(Stop::Input(message)), Err(e)) => format!("{message}; then {e}"),
        (Err(Stop::Sdk(e)), _) | (Ok(()), Err(e)) => e.to_string(),
    };
    let unacked = done.sent - done.acked;
    let mut message = format!("{failure} ({} of {} queued records acked", done.acked, done.sent);
    match (&args.failed_records, unacked) {
        (_, 0) => message.push(')'),
        (Some(path), _) => {
            let written = write_failed(path, &stream, &tally)?;
            let what = if args.failed_as_json() {
                format!("re-ingest them with --file {}", path.display())
            } else {
                "as their input line numbers".to_owned()
            };
            message.push_str(&format!(
                "; the {written} unacknowledged records are in {} ({what})",
                path.display()
            ));
            if let Some(line) = tally.last_line() {
                message.push_str(&format!("; the input after line {line} was not sent"));
            }
            message.push(')');
        }
        (None, _) => {
            message.push_str(&format!(
                "; {unacked} records were not acknowledged: rerun with --failed-records PATH to keep them"
            ));
            if let Some(line) = tally.first_unacked_line() {
                message.push_str(&format!(", or resume from input line {line}"));
            }
            message.push(')');
        }
    }
    Err(CliError(message))
}

/// Recovery settings from the flags; unset ones keep the SDK's defaults.
pub(crate) fn recovery_options(args: &IngestArgs) -> StreamConfigurationOptions {
    let mut o = StreamConfigurationOptions { recovery: !args.no_recovery, ..Default::default() };
    if let Some(v) = args.recovery_retries {
        o.recovery_retries = v;
    }
    if let Some(v) = args.recovery_backoff_ms {
        o.recovery_backoff_ms = v;
        // A first wait above the default cap raises the cap with it unless one is given.
        o.recovery_backoff_max_ms = o.recovery_backoff_max_ms.max(v);
    }
    if let Some(v) = args.recovery_backoff_max_ms {
        o.recovery_backoff_max_ms = v;
    }
    if let Some(v) = args.recovery_timeout_ms {
        o.recovery_timeout_ms = v;
    }
    o
}

/// Writes the unacknowledged records of a failed run: the records as JSON lines, or (proto with a
/// descriptor) their input line numbers. Returns how many were written.
fn write_failed(path: &std::path::Path, stream: &ZerobusStream, tally: &Tally) -> CliResult<usize> {
    use std::io::Write;
    let cannot = |e: std::io::Error| {
        CliError(format!("cannot write the unacknowledged records to {}: {e}", path.display()))
    };
    let file = std::fs::File::create(path).map_err(cannot)?;
    let mut out = std::io::BufWriter::new(file);
    let written = match tally.keep {
        Keep::Nothing => {
            let records = stream.get_unacked_records();
            for r in &records {
                out.write_all(r).and_then(|_| out.write_all(b"\n")).map_err(cannot)?;
            }
            records.len()
        }
        // A stream from its table holds the encoded records; the input lines are kept instead.
        Keep::Text => {
            let texts = tally.unacked_texts();
            for t in &texts {
                out.write_all(t.as_bytes()).and_then(|_| out.write_all(b"\n")).map_err(cannot)?;
            }
            texts.len()
        }
        Keep::Lines => {
            let lines = tally.unacked_lines();
            for l in &lines {
                writeln!(out, "{l}").map_err(cannot)?;
            }
            lines.len()
        }
    };
    out.flush().map_err(cannot)?;
    Ok(written)
}

/// How lines become records here and, for proto with a descriptor, the descriptor sent when the
/// stream opens. A stream from its table takes the lines as JSON text: the SDK encodes them.
fn encoding(args: &IngestArgs) -> CliResult<(Encoding, Option<DescriptorProto>)> {
    if args.opens_from_table() {
        return Ok((Encoding::Json, None));
    }
    match args.format {
        Format::Json | Format::Arrow => Ok((Encoding::Json, None)),
        Format::Proto => {
            let (descriptor, what) = match &args.descriptor {
                Some(path) => (
                    input::load_descriptor(path, args.message.as_deref())?,
                    format!("descriptor {}", path.display()),
                ),
                None => (
                    zerobus_conformance::records::record_descriptor(),
                    "the generator's descriptor".to_owned(),
                ),
            };
            let encoder = JsonToProto::new(&descriptor).map_err(|e| CliError(format!("{what}: {e}")))?;
            Ok((Encoding::Proto(Arc::new(encoder)), Some(descriptor)))
        }
    }
}

/// The SDK for the connection flags `ingest` and `schema` share.
pub(crate) fn build_sdk(
    endpoint: &str,
    workspace_url: &str,
    application_name: Option<&str>,
    ca_cert: Option<&std::path::Path>,
) -> CliResult<ZerobusSdk> {
    let mut builder = ZerobusSdk::builder().endpoint(endpoint).workspace_url(workspace_url);
    if let Some(app) = application_name {
        builder = builder.application_name(app);
    }
    if let Some(path) = ca_cert {
        let pem =
            std::fs::read(path).map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
        builder = builder.add_ca_certificate_pem(pem);
    }
    Ok(builder.build()?)
}

fn joined<T>(r: Result<Result<T, String>, tokio::task::JoinError>) -> CliResult<T> {
    match r {
        Ok(inner) => inner.map_err(CliError),
        Err(e) => Err(CliError(format!("input check failed: {e}"))),
    }
}

/// Why the ingest loop stopped early.
enum Stop {
    /// A bad line (or unreadable input); records before it were sent.
    Input(String),
    /// The stream refused a call or failed.
    Sdk(ZerobusError),
}

/// Where calls go: the input's name (for messages) and the records per call.
struct Target<'a> {
    input: &'a str,
    per_call: usize,
}

/// Cuts incoming chunks into calls of up to `per_call` records and the per-call byte limit, and
/// queues them on the stream. Runs of records too short for a full call (the end of a chunk)
/// are carried over and topped up from the next chunk, or sent once input pauses or ends.
async fn pump(
    stream: &ZerobusStream,
    mut rx: mpsc::Receiver<Item>,
    encoding: &Encoding,
    target: &Target<'_>,
    tally: &Tally,
) -> Result<(), Stop> {
    let per_call = target.per_call;
    let mut carry = Chunk::new(encoding, per_call);
    loop {
        let item = if carry.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(IDLE_FLUSH, rx.recv()).await {
                Ok(item) => item,
                Err(_) => {
                    send_all(stream, &mut carry, target, tally).await?;
                    continue;
                }
            }
        };
        let chunk = match item {
            None => return send_all(stream, &mut carry, target, tally).await,
            Some(Err(message)) => {
                send_all(stream, &mut carry, target, tally).await?;
                return Err(Stop::Input(message));
            }
            Some(Ok(chunk)) => chunk,
        };
        let mut i = 0;
        // Top up the carried run first, so calls stay full.
        while !carry.is_empty() && i < chunk.len() {
            let len = chunk.record_len(i);
            if carry.len() >= per_call || carry.payload_bytes() + len > MAX_CALL_PAYLOAD_BYTES {
                break;
            }
            carry.push_from(&chunk, i);
            i += 1;
        }
        // Stopped short of the chunk's end (a bound was hit), or full: the carried call is done.
        if (!carry.is_empty() && i < chunk.len()) || carry.len() >= per_call {
            send_all(stream, &mut carry, target, tally).await?;
        }
        // Full calls straight from the chunk, without copying.
        while i < chunk.len() {
            let run = cut(&chunk, i, per_call);
            let full = run.len() == per_call || run.end < chunk.len();
            if !full {
                for j in run {
                    carry.push_from(&chunk, j);
                }
                break;
            }
            i = run.end;
            send(stream, &chunk, run, target, tally).await?;
        }
    }
}

/// The longest run from `start` that makes one call: at most `per_call` records and the per-call
/// byte limit, and never empty (a single record is checked against the limit when read).
fn cut(chunk: &Chunk, start: usize, per_call: usize) -> Range<usize> {
    let mut end = start;
    let mut bytes = 0;
    while end < chunk.len() && end - start < per_call {
        let len = chunk.record_len(end);
        if end > start && bytes + len > MAX_CALL_PAYLOAD_BYTES {
            break;
        }
        bytes += len;
        end += 1;
    }
    start..end
}

/// Sends everything in `chunk` as calls (the last one possibly short) and empties it.
async fn send_all(
    stream: &ZerobusStream,
    chunk: &mut Chunk,
    target: &Target<'_>,
    tally: &Tally,
) -> Result<(), Stop> {
    let mut i = 0;
    while i < chunk.len() {
        let run = cut(chunk, i, target.per_call);
        i = run.end;
        send(stream, chunk, run, target, tally).await?;
    }
    chunk.clear();
    Ok(())
}

/// Queues records `run` of `chunk` as one call. A record the SDK refuses (a stream from its
/// table encodes JSON lines itself, so a line that does not fit the table is found here) stops
/// the run at its input line, after the records before it in the call are sent, as a bad line
/// of a JSON stream does.
async fn send(
    stream: &ZerobusStream,
    chunk: &Chunk,
    run: Range<usize>,
    target: &Target<'_>,
    tally: &Tally,
) -> Result<(), Stop> {
    match queue(stream, chunk, run.clone(), target, tally).await {
        Ok(()) => Ok(()),
        Err(e) if e.code() == ErrorCode::InvalidRecord => {
            let (index, detail) = refused_record(&e, run.len());
            let Some(index) = index else {
                let lines = format!("{}-{}", chunk.line(run.start), chunk.line(run.end - 1));
                return Err(Stop::Input(format!("{} lines {lines}: {detail}", target.input)));
            };
            let bad = run.start + index;
            if index > 0 {
                queue(stream, chunk, run.start..bad, target, tally).await.map_err(Stop::Sdk)?;
            }
            Err(Stop::Input(format!("{} line {}: {detail}", target.input, chunk.line(bad))))
        }
        Err(e) => Err(Stop::Sdk(e)),
    }
}

/// Queues records `run` of `chunk` as one call and tallies it.
async fn queue(
    stream: &ZerobusStream,
    chunk: &Chunk,
    run: Range<usize>,
    target: &Target<'_>,
    tally: &Tally,
) -> Result<(), ZerobusError> {
    let bytes: usize = run.clone().map(|i| chunk.record_len(i)).sum();
    let records = run.len();
    let offset = if target.per_call == 1 {
        stream.ingest_record_offset(chunk.record(run.start)).await?
    } else {
        stream.ingest_records_offset(chunk.records(run.clone())).await?.unwrap_or(-1)
    };
    let text = (tally.keep == Keep::Text).then(|| {
        let mut text = String::with_capacity(bytes + records);
        for (n, r) in chunk.records(run.clone()).enumerate() {
            if n > 0 {
                text.push('\n');
            }
            if let RecordRef::Json(line) = r {
                text.push_str(line);
            }
        }
        text
    });
    tally.add(offset, records as u64, bytes as u64, run.map(|i| chunk.line(i)), text);
    Ok(())
}

/// Which record of a call of `len` records the SDK refused (it names it `record N of the
/// batch`; a single record is record 0), and the reason without that prefix or the SDK's note
/// that the stream carries on (the run stops here).
fn refused_record(e: &ZerobusError, len: usize) -> (Option<usize>, String) {
    let message = e.message();
    let message = message.strip_suffix("; nothing was queued, the stream carries on").unwrap_or(message);
    let indexed = message.strip_prefix("record ").and_then(|rest| {
        let (n, rest) = rest.split_once(" of the batch: ")?;
        Some((n.parse::<usize>().ok()?, rest))
    });
    match indexed {
        Some((i, rest)) if i < len => (Some(i), rest.to_owned()),
        _ if len == 1 => (Some(0), message.to_owned()),
        _ => (None, message.to_owned()),
    }
}

/// What a [`Tally`] keeps of unacknowledged records so a failed run can write them out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// Nothing: the stream gives them back as JSON lines.
    Nothing,
    /// Their input line numbers (proto records encoded here cannot be written back as JSON).
    Lines,
    /// Their JSON text (a stream from its table holds them encoded by the SDK).
    Text,
}

/// Records and bytes handed to the stream, and the offset of each call so acks (which count
/// calls) can be turned back into records; and the input lines of what is not acked yet, so a
/// failed run can say where to resume.
struct Tally {
    keep: Keep,
    inner: Mutex<TallyInner>,
}

#[derive(Default)]
struct TallyInner {
    sent: u64,
    bytes: u64,
    /// Unacknowledged calls: (offset, records sent up to and including this call, input line of
    /// its first record).
    calls: VecDeque<(i64, u64, u64)>,
    acked: u64,
    /// Input line of every unacknowledged record, kept only when the records cannot be written
    /// back as JSON lines (proto).
    lines: Option<VecDeque<u64>>,
    /// The JSON lines of each unacknowledged call, joined by newlines ([`Keep::Text`]).
    texts: VecDeque<String>,
    last_line: Option<u64>,
}

impl Tally {
    fn new(keep: Keep) -> Tally {
        Tally {
            keep,
            inner: Mutex::new(TallyInner {
                lines: (keep == Keep::Lines).then(VecDeque::new),
                ..Default::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TallyInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(
        &self,
        offset: i64,
        records: u64,
        bytes: u64,
        lines: impl Iterator<Item = u64>,
        text: Option<String>,
    ) {
        let mut t = self.lock();
        let mut first = None;
        for line in lines {
            first.get_or_insert(line);
            t.last_line = Some(line);
            if let Some(kept) = &mut t.lines {
                kept.push_back(line);
            }
        }
        t.sent += records;
        t.bytes += bytes;
        let sent = t.sent;
        t.calls.push_back((offset, sent, first.unwrap_or(0)));
        if let Some(text) = text {
            t.texts.push_back(text);
        }
    }

    /// Counters with acks applied up to `last_acked` (acks are cumulative).
    fn snapshot(&self, last_acked: Option<i64>) -> Snapshot {
        let mut t = self.lock();
        if let Some(last) = last_acked {
            while let Some(&(offset, upto, _)) = t.calls.front() {
                if offset > last {
                    break;
                }
                let newly = (upto - t.acked) as usize;
                t.acked = upto;
                t.calls.pop_front();
                t.texts.pop_front();
                if let Some(kept) = &mut t.lines {
                    kept.drain(..newly.min(kept.len()));
                }
            }
        }
        Snapshot { sent: t.sent, acked: t.acked, bytes: t.bytes }
    }

    /// Input line of the first record not acknowledged (after the last snapshot).
    fn first_unacked_line(&self) -> Option<u64> {
        self.lock().calls.front().map(|c| c.2).filter(|&l| l > 0)
    }

    /// Input line of the last record handed to the stream.
    fn last_line(&self) -> Option<u64> {
        self.lock().last_line.filter(|&l| l > 0)
    }

    /// Input lines of every record not acknowledged (after the last snapshot).
    fn unacked_lines(&self) -> Vec<u64> {
        self.lock().lines.as_ref().map(|l| l.iter().copied().collect()).unwrap_or_default()
    }

    /// The JSON lines of every record not acknowledged (after the last snapshot), in order.
    fn unacked_texts(&self) -> Vec<String> {
        let t = self.lock();
        t.texts.iter().flat_map(|call| call.split('\n')).map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_turns_offsets_into_records() {
        let t = Tally::new(Keep::Nothing);
        t.add(0, 1000, 10, 1..=1000, None);
        t.add(1, 1000, 10, 1001..=2000, None);
        t.add(2, 500, 5, 2001..=2500, None);
        assert_eq!(t.snapshot(None).acked, 0);
        assert_eq!(t.snapshot(Some(0)).acked, 1000);
        assert_eq!(t.first_unacked_line(), Some(1001));
        let s = t.snapshot(Some(2));
        assert_eq!((s.sent, s.acked, s.bytes), (2500, 2500, 25));
        assert_eq!(t.last_line(), Some(2500));
    }

    #[test]
    fn tally_keeps_the_lines_of_unacked_records_for_proto() {
        let t = Tally::new(Keep::Lines);
        t.add(0, 2, 10, [3, 5].into_iter(), None);
        t.add(1, 2, 10, [6, 9].into_iter(), None);
        t.snapshot(Some(0));
        assert_eq!(t.unacked_lines(), vec![6, 9]);
        assert_eq!(t.first_unacked_line(), Some(6));
    }

    #[test]
    fn tally_keeps_the_text_of_unacked_records_from_a_table_stream() {
        let t = Tally::new(Keep::Text);
        t.add(0, 2, 10, [1, 2].into_iter(), Some("{\"a\":1}\n{\"a\":2}".into()));
        t.add(1, 1, 5, [4].into_iter(), Some("{\"a\":4}".into()));
        t.add(2, 2, 10, [5, 6].into_iter(), Some("{\"a\":5}\n{\"a\":6}".into()));
        t.snapshot(Some(0));
        assert_eq!(t.unacked_texts(), ["{\"a\":4}", "{\"a\":5}", "{\"a\":6}"]);
        assert!(t.unacked_lines().is_empty());
    }

    #[test]
    fn refused_records_are_found_in_the_sdk_message() {
        let e = ZerobusError::new(
            ErrorCode::InvalidRecord,
            "record 2 of the batch: table c.s.t: loc.lat: expected DOUBLE, got string \"north\"; nothing was \
             queued, the stream carries on",
        );
        assert_eq!(
            refused_record(&e, 5),
            (Some(2), "table c.s.t: loc.lat: expected DOUBLE, got string \"north\"".into())
        );
        assert_eq!(refused_record(&e, 2).0, None, "an index outside the call is not trusted");
        let single = ZerobusError::new(ErrorCode::InvalidRecord, "table c.s.t: temp: expected INT, got true");
        assert_eq!(refused_record(&single, 1), (Some(0), "table c.s.t: temp: expected INT, got true".into()));
        assert_eq!(refused_record(&single, 3).0, None);
    }

    #[test]
    fn calls_are_cut_by_count_and_bytes() {
        let mut chunk = Chunk::new(&Encoding::Json, 8);
        let small = "{}";
        for _ in 0..5 {
            chunk.push_record(small.into(), 0);
        }
        assert_eq!(cut(&chunk, 0, 2), 0..2);
        assert_eq!(cut(&chunk, 4, 2), 4..5);
        assert_eq!(cut(&chunk, 0, 1000), 0..5);

        // 4 MiB records: two fit under the 10,420,224-byte limit, three do not.
        let big = format!("{{\"p\":\"{}\"}}", "x".repeat((4 << 20) - 8));
        let mut chunk = Chunk::new(&Encoding::Json, 8);
        for _ in 0..5 {
            chunk.push_record(big.as_str().into(), 0);
        }
        assert_eq!(cut(&chunk, 0, 1000), 0..2);
        assert_eq!(cut(&chunk, 2, 1000), 2..4);
        assert_eq!(cut(&chunk, 4, 1000), 4..5);
    }
}
