//! Where records come from (a JSON-lines file, stdin, or the deterministic generator), how each
//! line is checked and turned into a record, and how records are grouped into chunks for the
//! ingest loop.
//!
//! Reading and encoding run on a plain thread so that parsing overlaps with the network work of
//! the async side; chunks cross over a bounded channel, which keeps memory flat whatever the input
//! size.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorSet};
use tokio::sync::mpsc;
use zerobus_core::{JsonToProto, RecordRef, MAX_CALL_PAYLOAD_BYTES};

/// How a record is produced from a JSON line.
#[derive(Clone, Debug)]
pub enum Encoding {
    /// The line itself is the record (after checking it is one JSON object).
    Json,
    /// The line is encoded to proto bytes with this encoder.
    Proto(Arc<JsonToProto>),
}

/// Where the records come from.
#[derive(Debug)]
pub enum Source {
    /// A file opened for reading; `regular` files get a full check before anything is sent.
    File {
        /// The name the user gave, used in messages.
        name: String,
        /// The open file.
        file: File,
        /// Whether it is a regular file (rewindable, finite) rather than a pipe or device.
        regular: bool,
    },
    /// Standard input, checked as it streams.
    Stdin,
    /// `count` records from `zerobus_conformance::records` (seed 1) of `size` bytes.
    Generate {
        /// How many records.
        count: u64,
        /// Bytes per record.
        size: usize,
    },
}

impl Source {
    /// Opens `path` (`-` is stdin) so an unreadable file fails before any connection is made.
    pub fn open(path: Option<&Path>) -> Result<Source, String> {
        let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
            return Ok(Source::Stdin);
        };
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("cannot read {name}: {e}"))?;
        if meta.is_dir() {
            return Err(format!("cannot read {name}: it is a directory"));
        }
        Ok(Source::File { name, file, regular: meta.is_file() })
    }

    /// The name used in messages about this input.
    pub fn name(&self) -> &str {
        match self {
            Source::File { name, .. } => name,
            Source::Stdin => "<stdin>",
            Source::Generate { .. } => "<generated>",
        }
    }
}

/// When the reader hands a chunk over. Chunks are a transport unit only: the ingest side cuts
/// them into calls, so these bounds trade channel overhead against memory and latency.
#[derive(Clone, Copy, Debug)]
pub struct ChunkLimits {
    /// Records per chunk.
    pub records: usize,
    /// Payload bytes per chunk (a chunk closes once it reaches this).
    pub bytes: usize,
}

impl ChunkLimits {
    /// Chunks of whole calls of `per_call` records, about 4096 records and at most a few MiB
    /// each, so single-record calls don't pay a channel hop per record.
    pub fn for_calls_of(per_call: usize) -> Self {
        let per_call = per_call.max(1);
        ChunkLimits { records: per_call * (4096 / per_call).max(1), bytes: 8 << 20 }
    }
}

/// Record payloads held back to back, JSON as text so the SDK gets `&str` without re-checking
/// UTF-8.
#[derive(Debug)]
enum Buf {
    Text(String),
    Bytes(Vec<u8>),
}

impl Buf {
    fn len(&self) -> usize {
        match self {
            Buf::Text(s) => s.len(),
            Buf::Bytes(b) => b.len(),
        }
    }
}

/// A run of records for one or more ingest calls.
#[derive(Debug)]
pub struct Chunk {
    buf: Buf,
    /// End offset in `buf` of each record.
    ends: Vec<usize>,
    /// Input line of each record (1-based; for generated records, the record number + 1), so a
    /// failed run can say where to resume.
    lines: Vec<u64>,
}

impl Chunk {
    /// An empty chunk for records of `encoding`.
    pub fn new(encoding: &Encoding, capacity: usize) -> Self {
        let buf = match encoding {
            Encoding::Json => Buf::Text(String::new()),
            Encoding::Proto(_) => Buf::Bytes(Vec::new()),
        };
        Chunk { buf, ends: Vec::with_capacity(capacity), lines: Vec::with_capacity(capacity) }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the chunk holds no record.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Record payload bytes.
    pub fn payload_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Removes every record, keeping the allocation.
    pub fn clear(&mut self) {
        self.ends.clear();
        self.lines.clear();
        match &mut self.buf {
            Buf::Text(s) => s.clear(),
            Buf::Bytes(b) => b.clear(),
        }
    }

    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1]
        }
    }

    /// Record `i`.
    pub fn record(&self, i: usize) -> RecordRef<'_> {
        let range = self.start(i)..self.ends[i];
        match &self.buf {
            Buf::Text(s) => RecordRef::Json(&s[range]),
            Buf::Bytes(b) => RecordRef::Proto(&b[range]),
        }
    }

    /// Records `range`, in order.
    pub fn records(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = RecordRef<'_>> + '_ {
        range.map(|i| self.record(i))
    }

    /// Appends record `i` of another chunk (of the same encoding), with its input line.
    pub fn push_from(&mut self, other: &Chunk, i: usize) {
        self.push_record(other.record(i), other.lines[i]);
    }

    /// Appends a record of this chunk's encoding that came from input line `line`.
    pub fn push_record(&mut self, record: RecordRef<'_>, line: u64) {
        match (&mut self.buf, record) {
            (Buf::Text(s), RecordRef::Json(r)) => s.push_str(r),
            (Buf::Bytes(b), RecordRef::Proto(r)) => b.extend_from_slice(r),
            _ => unreachable!("chunks of one run share one encoding"),
        }
        self.ends.push(self.buf.len());
        self.lines.push(line);
    }

    /// Input line of record `i`.
    pub fn line(&self, i: usize) -> u64 {
        self.lines[i]
    }

    /// Length of record `i`.
    pub fn record_len(&self, i: usize) -> usize {
        self.ends[i] - self.start(i)
    }

    /// Encodes `line` as a record at the end of the chunk; `check` also checks JSON records
    /// (a file that passed [`check_file`] skips it). Leaves the chunk as it was on error.
    fn push_line(&mut self, number: u64, line: &str, encoding: &Encoding, check: bool) -> Result<(), String> {
        match (&mut self.buf, encoding) {
            (Buf::Text(s), Encoding::Json) => {
                if check {
                    check_json_object(line).map_err(|e| format!("not a JSON object: {e}"))?;
                }
                s.push_str(line);
            }
            (Buf::Bytes(b), Encoding::Proto(enc)) => {
                enc.encode_into(line, b).map_err(|e| {
                    // Say "not a JSON object" for the same lines a JSON stream would reject, so
                    // the message does not depend on the format.
                    match check_json_object(line) {
                        Err(detail) => format!("not a JSON object: {detail}"),
                        Ok(()) => format!("cannot encode as proto: {e}"),
                    }
                })?;
            }
            _ => unreachable!("chunks are created for their encoding"),
        }
        self.ends.push(self.buf.len());
        self.lines.push(number);
        let len = self.record_len(self.len() - 1);
        if len > MAX_CALL_PAYLOAD_BYTES {
            self.pop();
            return Err(format!(
                "record is {len} bytes, more than the {MAX_CALL_PAYLOAD_BYTES} bytes one ingest call may carry"
            ));
        }
        Ok(())
    }

    /// Removes the last record.
    fn pop(&mut self) {
        self.ends.pop();
        self.lines.pop();
        let end = self.ends.last().copied().unwrap_or(0);
        match &mut self.buf {
            Buf::Text(s) => s.truncate(end),
            Buf::Bytes(b) => b.truncate(end),
        }
    }
}

/// Checks that `line` is exactly one JSON object; the error says what is wrong.
pub fn check_json_object(line: &str) -> Result<(), String> {
    if line.trim_start().starts_with('{') {
        return serde_json::from_str::<serde::de::IgnoredAny>(line).map(drop).map_err(|e| json_error(&e));
    }
    match serde_json::from_str::<serde_json::Value>(line) {
        Err(e) => Err(json_error(&e)),
        Ok(v) => Err(format!(
            "got {}",
            match v {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::Object(_) => "an object",
            }
        )),
    }
}

/// serde_json's message without its "line 1": the caller already names the input line.
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&position) {
        Some(message) => format!("{message} at column {}", e.column()),
        None => text,
    }
}

/// One line of input with its 1-based number, without the line ending.
struct Lines<R> {
    reader: BufReader<R>,
    line: Vec<u8>,
    number: u64,
}

impl<R: Read> Lines<R> {
    fn new(reader: R) -> Self {
        Lines { reader: BufReader::with_capacity(1 << 20, reader), line: Vec::new(), number: 0 }
    }

    /// The next non-blank line as text. `Ok(None)` at end of input; `Err` carries a message.
    fn next(&mut self, name: &str) -> Result<Option<(u64, &str)>, String> {
        loop {
            self.line.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| format!("cannot read {name}: {e}"))?;
            if n == 0 {
                return Ok(None);
            }
            self.number += 1;
            let mut end = self.line.len();
            if self.line[..end].ends_with(b"\n") {
                end -= 1;
            }
            if self.line[..end].ends_with(b"\r") {
                end -= 1;
            }
            // Editors on some systems start UTF-8 files with a byte order mark.
            let start = if self.number == 1 && self.line[..end].starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
            if self.line[start..end].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let number = self.number;
            // Borrow the text only once no `continue` can follow: a borrow that may be returned
            // would otherwise stay alive into the next iteration's `read_until`.
            let range = start..end;
            let text = std::str::from_utf8(&self.line[range])
                .map_err(|e| format!("{name} line {number}: not valid UTF-8: {e}"))?;
            return Ok(Some((number, text)));
        }
    }

    /// Whether the next read goes to the underlying input and may wait for it (a pipe or a
    /// terminal with nothing more typed yet).
    fn buffer_empty(&self) -> bool {
        self.reader.buffer().is_empty()
    }
}

/// Reads the whole file and checks every line, so a bad line fails the run before anything is
/// sent. Returns the number of records, and gives the file back rewound.
pub fn check_file(name: &str, mut file: File, encoding: &Encoding) -> Result<(File, u64), String> {
    use std::io::Seek;
    let mut lines = Lines::new(&mut file);
    let mut scratch = Chunk::new(encoding, 1);
    let mut count = 0u64;
    while let Some((number, line)) = lines.next(name)? {
        scratch.push_line(number, line, encoding, true).map_err(|e| format!("{name} line {number}: {e}"))?;
        scratch.pop();
        count += 1;
    }
    drop(lines);
    file.rewind().map_err(|e| format!("cannot read {name}: {e}"))?;
    Ok((file, count))
}

/// What the reader thread hands over: chunks, then possibly one error that ended the input.
pub type Item = Result<Chunk, String>;

/// Starts the reader thread. `prechecked` says the input already passed [`check_file`].
pub fn spawn_reader(
    source: Source,
    encoding: Encoding,
    limits: ChunkLimits,
    prechecked: bool,
    tx: mpsc::Sender<Item>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("zerobus-reader".into())
        .spawn(move || {
            let name = source.name().to_owned();
            let mut out = ChunkSender { tx, encoding: encoding.clone(), limits, chunk: None };
            let result = match source {
                Source::Generate { count, size } => generate(count, size, &mut out),
                Source::File { file, regular, .. } => {
                    read_lines(&name, Lines::new(file), !prechecked, !regular, &mut out)
                }
                Source::Stdin => read_lines(&name, Lines::new(io::stdin().lock()), true, true, &mut out),
            };
            match result {
                Ok(()) => {
                    let _ = out.flush();
                }
                Err(Stop::Input(message)) => {
                    // Records before the bad line still go out, then the error.
                    if out.flush().is_ok() {
                        let _ = out.tx.blocking_send(Err(message));
                    }
                }
                Err(Stop::Closed) => {}
            }
        })
        .expect("spawning a thread")
}

/// Why the reader stopped early.
enum Stop {
    /// Bad input; the message is ready to show.
    Input(String),
    /// The ingest side hung up (it failed or was stopped).
    Closed,
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Input(message)
    }
}

/// Builds chunks within [`ChunkLimits`] and sends them.
struct ChunkSender {
    tx: mpsc::Sender<Item>,
    encoding: Encoding,
    limits: ChunkLimits,
    chunk: Option<Chunk>,
}

impl ChunkSender {
    fn current(&mut self) -> &mut Chunk {
        let (encoding, cap) = (&self.encoding, self.limits.records);
        self.chunk.get_or_insert_with(|| Chunk::new(encoding, cap))
    }

    /// Hands the chunk over if the record just added reached a bound.
    fn after_push(&mut self) -> Result<(), Stop> {
        let limits = self.limits;
        let chunk = self.current();
        if chunk.len() >= limits.records || chunk.payload_bytes() >= limits.bytes {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        match self.chunk.take() {
            Some(chunk) if !chunk.is_empty() => self.tx.blocking_send(Ok(chunk)).map_err(|_| Stop::Closed),
            _ => Ok(()),
        }
    }
}

fn read_lines<R: Read>(
    name: &str,
    mut lines: Lines<R>,
    check: bool,
    streaming: bool,
    out: &mut ChunkSender,
) -> Result<(), Stop> {
    let encoding = out.encoding.clone();
    while let Some((number, line)) = lines.next(name)? {
        out.current()
            .push_line(number, line, &encoding, check)
            .map_err(|e| format!("{name} line {number}: {e}"))?;
        out.after_push()?;
        // About to wait on a pipe: hand over what we have so a slow producer (`tail -f`) still
        // sees its records go out; the ingest side merges these partial chunks.
        if streaming && lines.buffer_empty() {
            out.flush()?;
        }
    }
    Ok(())
}

fn generate(count: u64, size: usize, out: &mut ChunkSender) -> Result<(), Stop> {
    use zerobus_conformance::records::json_record;
    let encoding = out.encoding.clone();
    for i in 0..count {
        let record = json_record(1, i, size);
        out.current()
            .push_line(i + 1, &record, &encoding, false)
            .map_err(|e| format!("generated record {i}: {e}"))?;
        out.after_push()?;
    }
    Ok(())
}

/// Loads a record descriptor: a serialized `google.protobuf.DescriptorProto`, or a
/// `FileDescriptorSet` (`protoc --descriptor_set_out`) with `message` naming the record type.
pub fn load_descriptor(path: &Path, message: Option<&str>) -> Result<DescriptorProto, String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    // Both messages start with field 1, so the wire alone can't tell them apart; a set whose
    // files are all named `*.proto` is what protoc writes and what a DescriptorProto never is.
    let set = FileDescriptorSet::decode(&bytes[..])
        .ok()
        .filter(|s| !s.file.is_empty() && s.file.iter().all(|f| f.name().ends_with(".proto")));
    if let Some(set) = set {
        return pick_message(&set, message).map_err(|e| format!("descriptor {name}: {e}"));
    }
    let desc = DescriptorProto::decode(&bytes[..]).ok().filter(|d| !d.name().is_empty());
    match (desc, message) {
        (Some(d), None) => Ok(d),
        (Some(d), Some(m)) if d.name() == m.trim_start_matches('.').rsplit('.').next().unwrap_or(m) => Ok(d),
        (Some(d), Some(m)) => Err(format!("descriptor {name} holds one message, {}, not {m}", d.name())),
        (None, _) => {
            let hint = if bytes.starts_with(b"syntax") || bytes.windows(8).any(|w| w == b"message ") {
                " (it looks like .proto source: compile it with `protoc --include_imports --descriptor_set_out=FILE`)"
            } else {
                ""
            };
            Err(format!(
                "descriptor {name} is neither a serialized DescriptorProto nor a FileDescriptorSet{hint}"
            ))
        }
    }
}

/// Finds a top-level message by full name (`pkg.Msg`, leading dot optional) or, when unique, by
/// its simple name; with no name, the set must hold exactly one message.
fn pick_message(set: &FileDescriptorSet, wanted: Option<&str>) -> Result<DescriptorProto, String> {
    let all: Vec<(String, &DescriptorProto)> = set
        .file
        .iter()
        .flat_map(|f| {
            f.message_type.iter().map(move |m| {
                let full = if f.package().is_empty() {
                    m.name().to_owned()
                } else {
                    format!("{}.{}", f.package(), m.name())
                };
                (full, m)
            })
        })
        .collect();
    let names = || all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    let Some(wanted) = wanted else {
        return match all.as_slice() {
            [(_, m)] => Ok((*m).clone()),
            [] => Err("the FileDescriptorSet holds no message".into()),
            _ => Err(format!(
                "the FileDescriptorSet holds several messages ({}); choose one with --message NAME",
                names()
            )),
        };
    };
    let wanted = wanted.trim_start_matches('.');
    if let Some((_, m)) = all.iter().find(|(full, _)| full == wanted) {
        return Ok((*m).clone());
    }
    let by_simple: Vec<_> = all.iter().filter(|(_, m)| m.name() == wanted).collect();
    match by_simple.as_slice() {
        [(_, m)] => Ok((*m).clone()),
        [] => Err(format!("no message {wanted} (messages: {})", names())),
        _ => Err(format!("message name {wanted} is ambiguous; use the full name (messages: {})", names())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_object_check_explains() {
        assert!(check_json_object(r#"{"a": 1}"#).is_ok());
        assert_eq!(check_json_object("[1]").unwrap_err(), "got an array");
        assert_eq!(check_json_object("{\"a\": }").unwrap_err(), "expected value at column 7");
        assert!(check_json_object("nope").is_err());
        assert!(check_json_object(r#"{"a": 1} x"#).is_err());
    }

    #[test]
    fn lines_skip_blanks_and_strip_endings() {
        let data = "\u{feff}{\"a\":1}\r\n\n   \n{\"b\":2}";
        let mut lines = Lines::new(data.as_bytes());
        assert_eq!(lines.next("t").unwrap(), Some((1, "{\"a\":1}")));
        assert_eq!(lines.next("t").unwrap(), Some((4, "{\"b\":2}")));
        assert_eq!(lines.next("t").unwrap(), None);
        let mut bad = Lines::new(&b"{}\n\xff\n"[..]);
        assert!(bad.next("t").unwrap().is_some());
        assert!(bad.next("t").unwrap_err().starts_with("t line 2: not valid UTF-8"));
    }

    #[test]
    fn chunks_respect_limits() {
        let (tx, mut rx) = mpsc::channel(100);
        let limits = ChunkLimits { records: 3, bytes: 20 };
        let mut out = ChunkSender { tx, encoding: Encoding::Json, limits, chunk: None };
        for i in 0..8 {
            out.current().push_line(i + 1, &format!("{{\"i\":{i}}}"), &Encoding::Json, true).unwrap();
            out.after_push().ok().unwrap();
        }
        out.flush().ok().unwrap();
        drop(out);
        let mut sizes = Vec::new();
        while let Ok(Ok(c)) = rx.try_recv() {
            sizes.push(c.len());
        }
        assert_eq!(sizes, [3, 3, 2]);
        assert_eq!(ChunkLimits::for_calls_of(1).records, 4096);
        assert_eq!(ChunkLimits::for_calls_of(1000).records, 4000);
        assert_eq!(ChunkLimits::for_calls_of(10_000).records, 10_000);
    }

    #[test]
    fn descriptor_from_set_by_name() {
        use prost_types::FileDescriptorProto;
        let rec = zerobus_conformance::records::record_descriptor();
        let set = FileDescriptorSet {
            file: vec![FileDescriptorProto {
                name: Some("r.proto".into()),
                package: Some("pkg".into()),
                message_type: vec![
                    rec.clone(),
                    DescriptorProto { name: Some("Other".into()), ..Default::default() },
                ],
                ..Default::default()
            }],
        };
        assert_eq!(pick_message(&set, Some("pkg.ConformanceRecord")).unwrap(), rec);
        assert_eq!(pick_message(&set, Some("ConformanceRecord")).unwrap(), rec);
        assert!(pick_message(&set, None).unwrap_err().contains("--message"));
        assert!(pick_message(&set, Some("Nope")).unwrap_err().contains("pkg.Other"));
    }
}
