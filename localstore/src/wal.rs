//! The write-ahead log: one append-only sequence of entries for every table, in segment files
//! under `DIR/_wal/`, synced by one writer thread that groups whatever every stream appended
//! since its last sync into one write and one `fdatasync`. A position is a byte offset in the
//! whole log; an entry's position is where it ends, and an ack waits until the synced position
//! passes it.
//!
//! An entry is `[u32 length][u32 CRC-32 of the payload][payload]` (little-endian), the payload
//! `[u8 kind][u16 table name length][table name][body]`. On open, a torn or corrupt tail of the
//! last segment (a crash mid-write: never acked, since its sync never finished) is cut off.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::watch;
use zerobus_conformance::mock::{Durable, StoreError};

/// A new segment starts once the current one is this long.
const SEGMENT_BYTES: u64 = 128 * 1024 * 1024;
/// Bytes of framing before each payload.
const FRAME: usize = 8;

/// What an entry's body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// JSON records, each `[u32 length][text]`: the records of one JSON call, or of a PROTO
    /// call as the JSON of its messages.
    JsonRecords = 1,
    /// One Arrow record batch as an IPC stream: its schema message, then its batch message.
    ArrowIpc = 2,
}

/// One entry read back.
pub(crate) struct Entry {
    /// Where it ends in the log.
    pub end: u64,
    pub kind: Kind,
    pub table: String,
    pub body: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The appending side, shared by every stream.
pub(crate) struct Log {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
}

struct Pending {
    /// Framed entries not yet written.
    buf: Vec<u8>,
    /// The position after `buf`.
    end: u64,
    /// Set by `stop`: write what is left, then end.
    stop: bool,
    /// Set when writing failed: every later append fails with it.
    failed: Option<String>,
}

impl Log {
    /// Opens the log in `dir` (made if missing) and starts its writer. Returns the log and where
    /// the valid entries end.
    pub fn open(dir: &Path) -> Result<(Log, u64), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let segments = segments(dir)?;
        let (file, end) = match segments.last() {
            None => (create_segment(dir, 0)?, 0),
            Some(&(start, ref path)) => {
                let valid = valid_length(path)?;
                // Append mode: every write goes to the end, which `set_len` below moves back.
                let file = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                // Whatever follows the last whole entry never finished its sync, so was never
                // acked: cut it off before appending after it.
                file.set_len(valid)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| format!("cannot cut the torn tail off {}: {e}", path.display()))?;
                (file, start + valid)
            }
        };
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending { buf: Vec::new(), end, stop: false, failed: None }),
            wake: Condvar::new(),
            durable: watch::Sender::new(Durable::UpTo(end)),
        });
        let writer = {
            let shared = shared.clone();
            let dir = dir.to_owned();
            let segment_start = segments.last().map_or(0, |(start, _)| *start);
            std::thread::Builder::new()
                .name("zerobus-wal".into())
                .spawn(move || write_loop(&shared, &dir, file, segment_start))
                .map_err(|e| format!("cannot start the log writer: {e}"))?
        };
        Ok((Log { shared, writer: Mutex::new(Some(writer)) }, end))
    }

    /// Appends one entry; its position (where it ends) is durable once [`durable`](Self::durable)
    /// reaches it.
    pub fn append(&self, kind: Kind, table: &str, body: &[&[u8]]) -> Result<u64, StoreError> {
        let table_len = u16::try_from(table.len())
            .map_err(|_| StoreError::Invalid(format!("table name {table:?} is too long")))?;
        let payload_len = 1 + 2 + table.len() + body.iter().map(|b| b.len()).sum::<usize>();
        let len = u32::try_from(payload_len).map_err(|_| {
            StoreError::Invalid(format!("a call of {payload_len} bytes is more than the log takes (4 GiB)"))
        })?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[kind as u8]);
        crc.update(&table_len.to_le_bytes());
        crc.update(table.as_bytes());
        for part in body {
            crc.update(part);
        }
        let crc = crc.finalize();
        let mut pending = lock(&self.shared.pending);
        if let Some(why) = &pending.failed {
            return Err(StoreError::Failed(why.clone()));
        }
        if pending.stop {
            return Err(StoreError::Failed("the server is stopping".into()));
        }
        let buf = &mut pending.buf;
        buf.reserve(FRAME + payload_len);
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&crc.to_le_bytes());
        buf.push(kind as u8);
        buf.extend_from_slice(&table_len.to_le_bytes());
        buf.extend_from_slice(table.as_bytes());
        for part in body {
            buf.extend_from_slice(part);
        }
        pending.end += (FRAME + payload_len) as u64;
        let end = pending.end;
        drop(pending);
        self.shared.wake.notify_one();
        Ok(end)
    }

    /// How far the log is synced.
    pub fn durable(&self) -> watch::Receiver<Durable> {
        self.shared.durable.subscribe()
    }

    /// The synced position now, or why writing failed.
    pub fn durable_now(&self) -> Result<u64, String> {
        match &*self.shared.durable.borrow() {
            Durable::UpTo(p) => Ok(*p),
            Durable::Failed(why) => Err(why.clone()),
        }
    }

    /// Writes and syncs what was appended, then stops the writer; later appends fail.
    pub fn stop(&self) {
        lock(&self.shared.pending).stop = true;
        self.shared.wake.notify_one();
        if let Some(writer) = lock(&self.writer).take() {
            let _ = writer.join();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The writer thread: takes every framed entry appended since the last round, writes them,
/// syncs once, and publishes the new durable position.
fn write_loop(shared: &Shared, dir: &Path, mut file: File, mut segment_start: u64) {
    let mut spare = Vec::new();
    loop {
        let (end, stop) = {
            let mut pending = lock(&shared.pending);
            while pending.buf.is_empty() && !pending.stop {
                pending = shared.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
            }
            std::mem::swap(&mut pending.buf, &mut spare);
            (pending.end, pending.stop)
        };
        if !spare.is_empty() {
            let result = file.write_all(&spare).and_then(|()| file.sync_data());
            spare.clear();
            if let Err(e) = result {
                let why = format!("cannot write the log in {}: {e}", dir.display());
                tracing::error!("{why}");
                lock(&shared.pending).failed = Some(why.clone());
                shared.durable.send_replace(Durable::Failed(why));
                return;
            }
            shared.durable.send_replace(Durable::UpTo(end));
            if end - segment_start >= SEGMENT_BYTES {
                match create_segment(dir, end) {
                    Ok(next) => {
                        file = next;
                        segment_start = end;
                    }
                    Err(why) => tracing::warn!("{why}; the current segment grows on"),
                }
            }
        }
        if stop {
            return;
        }
    }
}

fn segment_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}.wal"))
}

fn create_segment(dir: &Path, start: u64) -> Result<File, String> {
    let path = segment_path(dir, start);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    // The new name must survive a crash too.
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    Ok(file)
}

/// The segments in `dir`, by start position.
pub(crate) fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?.path();
        let start = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(start) = start {
            out.push((start, path));
        }
    }
    out.sort();
    Ok(out)
}

/// The length of the whole entries at the start of the segment at `path`.
fn valid_length(path: &Path) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut valid = 0u64;
    while let Ok(Some(entry_len)) = read_frame(&mut reader).map(|f| f.map(|(len, _)| len)) {
        valid += entry_len;
    }
    Ok(valid)
}

/// Reads one whole, intact entry: its framed length and payload; `None` at the end of the
/// segment or at a torn or corrupt entry.
fn read_frame(reader: &mut impl Read) -> std::io::Result<Option<(u64, Vec<u8>)>> {
    let mut frame = [0u8; FRAME];
    if !read_full(reader, &mut frame)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(frame[4..].try_into().expect("4 bytes"));
    let mut payload = vec![0u8; len];
    if len < 3 || !read_full(reader, &mut payload)? || crc32fast::hash(&payload) != crc {
        return Ok(None);
    }
    Ok(Some(((FRAME + len) as u64, payload)))
}

/// Fills `buf`; false when the reader ends first.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => return Ok(false),
            n => filled += n,
        }
    }
    Ok(true)
}

/// Reads entries in log order from a position on, up to a limit.
pub(crate) struct Reader {
    dir: PathBuf,
    /// The next entry's start.
    at: u64,
    current: Option<(u64, BufReader<File>)>,
}

impl Reader {
    /// A reader from `at`, which must be where an entry starts (0, or an entry's end).
    pub fn new(dir: &Path, at: u64) -> Reader {
        Reader { dir: dir.to_owned(), at, current: None }
    }

    /// Where the next entry starts.
    pub fn position(&self) -> u64 {
        self.at
    }

    /// The next entry ending at or before `limit`, or `None` when there is none.
    pub fn next(&mut self, limit: u64) -> Result<Option<Entry>, String> {
        if self.at >= limit {
            return Ok(None);
        }
        loop {
            if self.current.is_none() {
                let segment = segments(&self.dir)?
                    .into_iter()
                    .rev()
                    .find(|(start, _)| *start <= self.at)
                    .ok_or_else(|| format!("the log has no segment holding position {}", self.at))?;
                let (start, path) = segment;
                let mut file =
                    File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                file.seek(SeekFrom::Start(self.at - start))
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                self.current = Some((start, BufReader::with_capacity(1 << 20, file)));
            }
            let (_, reader) = self.current.as_mut().expect("opened above");
            match read_frame(reader).map_err(|e| format!("cannot read the log: {e}"))? {
                Some((len, payload)) => {
                    let end = self.at + len;
                    if end > limit {
                        // Past the synced end: read again once it is synced.
                        self.current = None;
                        return Ok(None);
                    }
                    self.at = end;
                    return parse(end, payload).map(Some);
                }
                None => {
                    // The end of this segment: the next one starts here, if there is one.
                    let next_exists = segments(&self.dir)?.iter().any(|(start, _)| *start == self.at);
                    self.current = None;
                    if !next_exists {
                        return Err(format!(
                            "the log ends at {} but is synced up to {limit}: a segment is missing or damaged",
                            self.at
                        ));
                    }
                }
            }
        }
    }
}

fn parse(end: u64, payload: Vec<u8>) -> Result<Entry, String> {
    let kind = match payload[0] {
        1 => Kind::JsonRecords,
        2 => Kind::ArrowIpc,
        other => return Err(format!("log entry ending at {end} has unknown kind {other}")),
    };
    let name_len = u16::from_le_bytes([payload[1], payload[2]]) as usize;
    let name = payload
        .get(3..3 + name_len)
        .and_then(|n| std::str::from_utf8(n).ok())
        .ok_or_else(|| format!("log entry ending at {end} has no valid table name"))?
        .to_owned();
    let body = payload[3 + name_len..].to_vec();
    Ok(Entry { end, kind, table: name, body })
}

/// Deletes the segments that end at or before `position` (everything in them is committed).
pub(crate) fn delete_before(dir: &Path, position: u64) -> Result<(), String> {
    let segments = segments(dir)?;
    for pair in segments.windows(2) {
        let ((_, path), (next_start, _)) = (&pair[0], &pair[1]);
        if *next_start <= position {
            std::fs::remove_file(path).map_err(|e| format!("cannot delete {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zerobus-wal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn entries_read_back_in_order_and_a_torn_tail_is_cut_off() {
        let dir = temp_dir("torn");
        let (log, start) = Log::open(&dir).unwrap();
        assert_eq!(start, 0);
        let a = log.append(Kind::JsonRecords, "a.b.c", &[b"one"]).unwrap();
        let b = log.append(Kind::ArrowIpc, "a.b.d", &[b"tw", b"o"]).unwrap();
        log.stop();
        assert_eq!(log.durable_now().unwrap(), b);
        assert!(log.append(Kind::JsonRecords, "a.b.c", &[b"late"]).is_err(), "appends after stop fail");
        drop(log);

        // A crash mid-write leaves half an entry.
        let (_, path) = segments(&dir).unwrap().pop().unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(file);

        let (log, end) = Log::open(&dir).unwrap();
        assert_eq!(end, b, "the torn tail is not part of the log");
        let c = log.append(Kind::JsonRecords, "a.b.c", &[b"three"]).unwrap();
        log.stop();
        let mut reader = Reader::new(&dir, 0);
        let read: Vec<(u64, Kind, String, Vec<u8>)> = std::iter::from_fn(|| reader.next(c).unwrap())
            .map(|e| (e.end, e.kind, e.table, e.body))
            .collect();
        assert_eq!(
            read,
            vec![
                (a, Kind::JsonRecords, "a.b.c".into(), b"one".to_vec()),
                (b, Kind::ArrowIpc, "a.b.d".into(), b"two".to_vec()),
                (c, Kind::JsonRecords, "a.b.c".into(), b"three".to_vec()),
            ]
        );
        let mut from_b = Reader::new(&dir, b);
        assert_eq!(from_b.next(c).unwrap().unwrap().body, b"three");
        assert!(from_b.next(c).unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
