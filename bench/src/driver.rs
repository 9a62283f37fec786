//! The driver side of `bench/DRIVER.md`, shared by the Rust drivers (core, raw ceiling, the
//! published crate in `compat/`): command line, record pool, clock and the `RESULT` line.

use std::time::{Duration, Instant};

/// What a run does; see DRIVER.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Blocking single-record calls.
    Single,
    /// Fire-and-forget single-record calls.
    Nowait,
    /// Batch calls of `batch` records.
    Batch,
    /// The memory case: batch calls against a server that withholds acks, until the client
    /// stops taking records (full, or a call blocks for `STALL`).
    Fill,
}

/// Record encoding of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// DRIVER.md's JSON records.
    Json,
    /// The same records as protobuf `BenchRecord { int64 i = 1; string p = 2; }`
    /// ([`bench_descriptor`]).
    Proto,
    /// Taxi-shaped JSON rows ([`crate::taxi`]) on a JSON stream (`--size` is ignored).
    Taxi,
    /// The same rows on a PROTO stream created from the table: core encodes them by its types.
    TaxiTyped,
    /// The same rows as Arrow record batches of `--batch` rows on an Arrow stream (`batch` mode).
    TaxiArrow,
}

impl Format {
    /// Whether the pool holds text (JSON rows).
    pub fn is_text(self) -> bool {
        matches!(self, Format::Json | Format::Taxi | Format::TaxiTyped)
    }

    /// Whether the rows are the taxi table's.
    pub fn is_taxi(self) -> bool {
        matches!(self, Format::Taxi | Format::TaxiTyped | Format::TaxiArrow)
    }
}

/// A call that blocks this long in `fill` mode counts as "stopped at the bound".
pub const STALL: Duration = Duration::from_secs(2);

/// Parsed driver command line and environment.
#[derive(Clone, Debug)]
pub struct DriverArgs {
    pub mode: Mode,
    pub format: Format,
    pub size: usize,
    pub records: u64,
    pub batch: usize,
    pub seconds: Option<f64>,
    pub max_inflight_requests: Option<usize>,
    pub endpoint: String,
    pub workspace_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub table: String,
}

impl DriverArgs {
    /// Parses `std::env::args()` and the `ZEROBUS_*` environment; exits with a message on error.
    pub fn from_env() -> DriverArgs {
        match Self::parse(std::env::args().skip(1)) {
            Ok(args) => args,
            Err(e) => {
                eprintln!("driver: {e}");
                eprintln!(
                    "usage: DRIVER --mode single|nowait|batch|fill --size BYTES --records N [--batch B] \
                     [--format json|proto|taxi|taxi-typed|taxi-arrow] [--seconds S] [--max-inflight-requests N] [--pool DIR]  (env ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, \
                     ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET, ZEROBUS_TABLE)"
                );
                std::process::exit(2);
            }
        }
    }

    fn parse(mut argv: impl Iterator<Item = String>) -> Result<DriverArgs, String> {
        let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        let mut args = DriverArgs {
            mode: Mode::Single,
            format: Format::Json,
            size: 220,
            records: 100_000,
            batch: 1000,
            seconds: None,
            max_inflight_requests: None,
            endpoint: env("ZEROBUS_ENDPOINT")?,
            workspace_url: env("ZEROBUS_WORKSPACE_URL")?,
            client_id: env("ZEROBUS_CLIENT_ID")?,
            client_secret: env("ZEROBUS_CLIENT_SECRET")?,
            table: env("ZEROBUS_TABLE")?,
        };
        while let Some(flag) = argv.next() {
            let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag} {v:?} is not a number"));
            match flag.as_str() {
                "--mode" => {
                    args.mode = match value.as_str() {
                        "single" => Mode::Single,
                        "nowait" => Mode::Nowait,
                        "batch" => Mode::Batch,
                        "fill" => Mode::Fill,
                        other => return Err(format!("unknown mode {other:?}")),
                    }
                }
                "--format" => {
                    args.format = match value.as_str() {
                        "json" => Format::Json,
                        "proto" => Format::Proto,
                        "taxi" => Format::Taxi,
                        "taxi-typed" => Format::TaxiTyped,
                        "taxi-arrow" => Format::TaxiArrow,
                        other => return Err(format!("unknown format {other:?}")),
                    }
                }
                "--size" => args.size = number(&value)? as usize,
                "--records" => args.records = number(&value)?,
                "--batch" => args.batch = number(&value)?.max(1) as usize,
                "--seconds" => {
                    args.seconds =
                        Some(value.parse().map_err(|_| format!("--seconds {value:?} is not a number"))?)
                }
                "--max-inflight-requests" => args.max_inflight_requests = Some(number(&value)? as usize),
                // The taxi pool directory (bench/DRIVER.md): the Rust drivers build the same rows
                // themselves, so they take it and ignore it.
                "--pool" => {}
                other => return Err(format!("unknown option {other}")),
            }
        }
        if args.format == Format::TaxiArrow {
            if args.mode != Mode::Batch {
                return Err("--format taxi-arrow runs in --mode batch (rows per call: --batch)".into());
            }
            return Ok(args);
        }
        if args.size < 20 && !args.format.is_taxi() {
            return Err(format!("--size {} is below the 20-byte minimum", args.size));
        }
        if !POOL.is_multiple_of(args.batch) && args.mode != Mode::Single && args.mode != Mode::Nowait {
            return Err(format!("--batch {} does not divide the pool of {POOL}", args.batch));
        }
        Ok(args)
    }

    /// Records per call in this mode.
    pub fn per_call(&self) -> usize {
        match self.mode {
            Mode::Single | Mode::Nowait => 1,
            Mode::Batch | Mode::Fill => self.batch,
        }
    }
}

/// Records in the pool.
pub const POOL: usize = 1000;

/// DRIVER.md's 1000 records, contiguous, with their lengths and start offsets.
pub struct RecordPool {
    data: Vec<u8>,
    /// `data` as text, for JSON pools (empty for proto).
    text: String,
    pub lengths: Vec<usize>,
    starts: Vec<usize>,
}

impl RecordPool {
    /// Record `k` is `{"i":K,"p":"x…x"}` (JSON) or `BenchRecord { i: K, p: "x…x" }` (proto),
    /// exactly `size` bytes.
    pub fn new(size: usize, format: Format) -> RecordPool {
        let mut data = Vec::with_capacity(POOL * size);
        let (mut lengths, mut starts) = (Vec::with_capacity(POOL), Vec::with_capacity(POOL));
        for k in 0..POOL {
            starts.push(data.len());
            match format {
                Format::Json => {
                    let head = format!("{{\"i\":{k},\"p\":\"");
                    data.extend_from_slice(head.as_bytes());
                    data.resize(data.len() + size.saturating_sub(head.len() + 2), b'x');
                    data.extend_from_slice(b"\"}");
                }
                Format::Taxi | Format::TaxiTyped | Format::TaxiArrow => {
                    data.extend_from_slice(crate::taxi::row(k as u64).as_bytes())
                }
                Format::Proto => {
                    // Tag + varint(k), tag + varint(len) + pad: shrink the pad until it fits.
                    let fixed = 2 + varint_len(k as u64);
                    let mut pad = size.saturating_sub(fixed + 1);
                    while fixed + varint_len(pad as u64) + pad > size && pad > 0 {
                        pad -= 1;
                    }
                    data.push(0x08);
                    put_varint(&mut data, k as u64);
                    data.push(0x12);
                    put_varint(&mut data, pad as u64);
                    data.resize(data.len() + pad, b'x');
                }
            }
            lengths.push(data.len() - starts[k]);
        }
        let text = match format.is_text() {
            true => String::from_utf8(data.clone()).expect("JSON records are ASCII"),
            false => String::new(),
        };
        RecordPool { data, text, lengths, starts }
    }

    /// Record `k % POOL` as text (JSON pools only).
    pub fn text(&self, k: u64) -> &str {
        let k = (k % POOL as u64) as usize;
        &self.text[self.starts[k]..self.starts[k] + self.lengths[k]]
    }

    /// Record `k % POOL`.
    pub fn record(&self, k: u64) -> &[u8] {
        let k = (k % POOL as u64) as usize;
        &self.data[self.starts[k]..self.starts[k] + self.lengths[k]]
    }

    /// `n` records from record `start % POOL` on: contiguous bytes and their lengths. `start` is
    /// a multiple of the batch size, which divides the pool, so the slice never wraps.
    pub fn batch(&self, start: u64, n: usize) -> (&[u8], &[usize]) {
        let first = (start % POOL as u64) as usize;
        let last = first + n;
        let end = if last == POOL { self.data.len() } else { self.starts[last] };
        (&self.data[self.starts[first]..end], &self.lengths[first..last])
    }

    /// [`batch`](Self::batch)'s records, one slice each.
    pub fn batch_records(&self, start: u64, n: usize) -> impl Iterator<Item = &[u8]> + Clone {
        let first = (start % POOL as u64) as usize;
        (first..first + n).map(move |k| self.record(k as u64))
    }
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The proto pool's message: `BenchRecord { int64 i = 1; string p = 2; }`.
pub fn bench_descriptor() -> prost_types::DescriptorProto {
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::FieldDescriptorProto;
    let field = |name: &str, number: i32, ty: Type| FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(ty as i32),
        ..Default::default()
    };
    prost_types::DescriptorProto {
        name: Some("BenchRecord".into()),
        field: vec![field("i", 1, Type::Int64), field("p", 2, Type::String)],
        ..Default::default()
    }
}

/// The loop's clock and the `--seconds` cap.
pub struct Clock {
    started: Instant,
    cap: Option<Duration>,
}

impl Clock {
    pub fn start(args: &DriverArgs) -> Clock {
        Clock { started: Instant::now(), cap: args.seconds.map(Duration::from_secs_f64) }
    }

    /// Whether the time cap has passed (cheap enough to ask every call).
    pub fn expired(&self) -> bool {
        self.cap.is_some_and(|cap| self.started.elapsed() >= cap)
    }

    /// Prints the `RESULT` line.
    pub fn report(&self, records: u64) {
        println!("RESULT records={records} seconds={:.6}", self.started.elapsed().as_secs_f64());
    }
}

/// Runs the DRIVER.md loop: `call(start, n)` ingests `n` records from pool record `start` on,
/// until `--records` are ingested or the cap passes; returns the records ingested.
pub async fn run_calls<F, Fut, E>(args: &DriverArgs, clock: &Clock, mut call: F) -> Result<u64, E>
where
    F: FnMut(u64, usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let per_call = args.per_call() as u64;
    // The clock is read at least every 1024 records (bench/DRIVER.md): every call once a call
    // carries that many.
    let every = (1024 / per_call).max(1);
    let mut done = 0u64;
    let mut j = 0u64;
    while done < args.records {
        if j.is_multiple_of(every) && clock.expired() {
            break;
        }
        let n = per_call.min(args.records - done);
        call(done, n as usize).await?;
        done += n;
        j += 1;
    }
    Ok(done)
}
