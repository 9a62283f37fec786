//! The runner behind `make bench`: one release `zerobus serve --no-payloads`, every surface's
//! driver once per case (one process per run), measured from outside, and `BENCHMARKS.md`.
//!
//! Names carry roles: `raw` is the ceiling (a plain tonic client), `published` and
//! `published-inflight-N` are the published Rust crate at its defaults and with its in-flight
//! limit tuned (its "best" is the highest of these per case), `rust` is our core; every other
//! surface is a binding and is compared with `rust` as well as with the peer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: zerobus-bench --surface NAME=COMMAND... [--out FILE] [--serve PATH] \
[--filter TEXT] [--rounds N] [--target-rounds N] [--seconds S] [--scale F] [--sizes 20,220,750,10240] [--formats json,proto] \
[--proto-surfaces NAME,...] [--taxi-surfaces NAME,...] [--no-memory] [--no-every-ack] [--no-typed]
       zerobus-bench --write-pool DIR [--batch ROWS]
       zerobus-bench --print-taxi-definition";

/// Default in-flight byte bound of the core (`max_inflight_bytes`), for the memory case's check.
const INFLIGHT_BYTES: u64 = zerobus_core::DEFAULT_MAX_INFLIGHT_BYTES as u64;
/// Records the memory case offers (the 10 million).
const FILL_RECORDS: u64 = 10_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Call {
    Single,
    Nowait,
    Batch100,
    Batch1000,
}

impl Call {
    const ALL: [Call; 4] = [Call::Single, Call::Nowait, Call::Batch100, Call::Batch1000];

    fn args(self) -> &'static str {
        match self {
            Call::Single => "--mode single",
            Call::Nowait => "--mode nowait",
            Call::Batch100 => "--mode batch --batch 100",
            Call::Batch1000 => "--mode batch --batch 1000",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Call::Single => "single",
            Call::Nowait => "nowait",
            Call::Batch100 => "batch 100",
            Call::Batch1000 => "batch 1000",
        }
    }
}

/// Records per run: about 200 MB of payload, at most a million records.
fn records_for(size: usize, scale: f64) -> u64 {
    let n = (200_000_000 / size as u64).min(1_000_000) as f64 * scale;
    (n as u64).max(1000)
}

#[derive(Clone, Debug)]
struct Options {
    surfaces: Vec<(String, String)>,
    out: Option<String>,
    serve: String,
    filter: Option<String>,
    rounds: u32,
    /// Rounds for the cases the targets read (220-byte single and batch-1000 JSON, 10 KB JSON).
    target_rounds: u32,
    seconds: f64,
    scale: f64,
    sizes: Vec<usize>,
    formats: Vec<&'static str>,
    /// Surfaces whose drivers take `--format proto`.
    proto_surfaces: Vec<String>,
    memory: bool,
    /// Also run the Rust surfaces against a server that acks every message.
    every_ack: bool,
    /// The typed-encoding bench binary; `None` skips the typed and taxi runs (`--no-typed`).
    typed: Option<String>,
    /// Surfaces whose drivers take the taxi formats with `--pool DIR`.
    taxi_surfaces: Vec<String>,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        surfaces: Vec::new(),
        out: None,
        serve: "target/release/zerobus".into(),
        filter: None,
        rounds: 1,
        target_rounds: 5,
        seconds: 3.0,
        scale: 1.0,
        sizes: vec![20, 220, 750, 10240],
        formats: vec!["json", "proto"],
        proto_surfaces: ["raw", "published", "published-inflight-100", "published-inflight-1000", "rust"]
            .map(String::from)
            .to_vec(),
        memory: true,
        every_ack: true,
        typed: Some("target/release/zerobus-bench-typed".into()),
        taxi_surfaces: crate::taxi_surfaces::SURFACES.map(String::from).to_vec(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        if flag == "--no-memory" {
            o.memory = false;
            continue;
        }
        if flag == "--no-every-ack" {
            o.every_ack = false;
            continue;
        }
        if flag == "--no-typed" {
            o.typed = None;
            continue;
        }
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag} {value:?}: {what}");
        match flag.as_str() {
            "--surface" => {
                let (name, command) = value.split_once('=').ok_or_else(|| bad("expected NAME=COMMAND"))?;
                o.surfaces.push((name.trim().to_owned(), command.trim().to_owned()));
            }
            "--out" => o.out = Some(value),
            "--serve" => o.serve = value,
            "--typed" => o.typed = Some(value),
            "--filter" => o.filter = Some(value),
            "--rounds" => o.rounds = value.parse().map_err(|_| bad("not a number"))?,
            "--target-rounds" => o.target_rounds = value.parse().map_err(|_| bad("not a number"))?,
            "--seconds" => o.seconds = value.parse().map_err(|_| bad("not a number"))?,
            "--scale" => o.scale = value.parse().map_err(|_| bad("not a number"))?,
            "--sizes" => {
                o.sizes = value
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|_| bad("not a list of sizes")))
                    .collect::<Result<_, _>>()?
            }
            "--formats" => {
                o.formats = value
                    .split(',')
                    .map(|f| match f.trim() {
                        "json" => Ok("json"),
                        "proto" => Ok("proto"),
                        _ => Err(bad("formats are json and proto")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--proto-surfaces" => o.proto_surfaces = value.split(',').map(|s| s.trim().to_owned()).collect(),
            "--taxi-surfaces" => o.taxi_surfaces = value.split(',').map(|s| s.trim().to_owned()).collect(),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if o.surfaces.is_empty() {
        return Err("no --surface given".into());
    }
    Ok(o)
}

/// `zerobus-bench --write-pool DIR [--batch B]`: the taxi pool directory alone, to run a driver by
/// hand (`bench/DRIVER.md`).
fn write_pool_command(args: &[String]) -> i32 {
    let (dir, rows) = match args {
        [dir] => (dir, Ok(10_000)),
        [dir, flag, rows] if flag == "--batch" => (dir, rows.parse::<usize>()),
        _ => {
            eprintln!("usage: zerobus-bench --write-pool DIR [--batch ROWS]");
            return 2;
        }
    };
    let Ok(rows) = rows.map_err(|_| eprintln!("--batch: expected a number of rows")) else { return 2 };
    match crate::taxi::write_pool(std::path::Path::new(dir), rows) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("zerobus-bench: cannot write the pool to {dir}: {e}");
            1
        }
    }
}

/// A running `zerobus serve`; stops when dropped (its stdin closes).
pub(crate) struct Server {
    child: Child,
    pub(crate) env: Vec<(String, String)>,
}

impl Server {
    pub(crate) fn start(path: &str, extra: &[&str]) -> Result<Server, String> {
        let mut child = Command::new(path)
            .args(["serve", "--no-payloads", "--exit-on-stdin-close"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {path}: {e} (build it with `make bench-rust`)"))?;
        let stdout = child.stdout.take().expect("piped");
        let mut env = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading {path}'s banner: {e}"))?;
            if let Some((k, v)) = line.split_once('=') {
                env.push((k.to_owned(), v.to_owned()));
            }
            if line.starts_with("ZEROBUS_TABLES=") {
                break;
            }
        }
        if env.len() < 5 {
            return Err(format!("{path} serve printed no banner"));
        }
        env.push(("ZEROBUS_TABLE".into(), "main.default.events".into()));
        Ok(Server { child, env })
    }

    /// CPU seconds the server has used so far.
    fn cpu(&self) -> f64 {
        process_cpu(self.child.id()).unwrap_or(0.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The run with the median rate (the lower middle one for an even count); a failed run wins, so
/// that a failure is never hidden by other rounds.
pub(crate) fn median(mut runs: Vec<Run>) -> Run {
    if let Some(i) = runs.iter().position(|r| r.error.is_some()) {
        return runs.swap_remove(i);
    }
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let middle = (runs.len() - 1) / 2;
    runs.swap_remove(middle)
}

/// utime + stime of a live process, from /proc.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}

/// One driver run, as measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Run {
    pub(crate) records: u64,
    seconds: f64,
    size: usize,
    pub(crate) client_cpu: f64,
    pub(crate) peak_rss_kib: u64,
    pub(crate) server_cpu: f64,
    pub(crate) error: Option<String>,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        if self.error.is_some() || self.seconds <= 0.0 {
            0.0
        } else {
            self.records as f64 / self.seconds
        }
    }

    pub(crate) fn mb_per_s(&self) -> f64 {
        self.rate() * self.size as f64 / 1e6
    }
}

/// Runs `command driver_args` under `sh -c exec` (so the measured pid is the driver itself) and
/// reaps it with `wait4` for its CPU and peak RSS.
pub(crate) fn run_driver(
    command: &str,
    driver_args: &str,
    server: &Server,
    size: usize,
    timeout: Duration,
) -> Run {
    let server_cpu_before = server.cpu();
    let mut child = match Command::new("sh")
        .arg("-c")
        .arg(format!("exec {command} {driver_args}"))
        .envs(server.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Run { size, error: Some(format!("cannot start: {e}")), ..Run::default() },
    };
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
                if finished.load(Ordering::Acquire) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: kill only sends a signal; the pid is our unreaped child, so it cannot
            // have been reused.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            true
        })
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child `pid`, which
    // nothing else reaps (std's Child is never waited on).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pointers are to live locals of the right types.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    finished.store(true, Ordering::Release);
    let timed_out = watchdog.join().unwrap_or(false);
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let mut run = Run {
        size,
        client_cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_rss_kib: usage.ru_maxrss as u64,
        server_cpu: server.cpu() - server_cpu_before,
        ..Run::default()
    };
    let result = out.lines().rev().find_map(|l| l.strip_prefix("RESULT "));
    let ok = reaped == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    match result {
        Some(fields) if ok && !timed_out => {
            for field in fields.split_whitespace() {
                match field.split_once('=') {
                    Some(("records", v)) => run.records = v.parse().unwrap_or(0),
                    Some(("seconds", v)) => run.seconds = v.parse().unwrap_or(0.0),
                    _ => {}
                }
            }
        }
        _ => {
            let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").to_owned();
            let why = if timed_out { "timed out".to_owned() } else { format!("exit status {status}") };
            run.error = Some(format!("{why}: {last}"));
        }
    }
    run
}

/// (surface, format, record size, call).
type Key = (String, &'static str, usize, Call);

fn is_peer(surface: &str) -> bool {
    surface == "published" || surface.starts_with("published-inflight-")
}

struct Results {
    runs: BTreeMap<Key, Run>,
    /// The typed-encoding runs, when they ran.
    typed: Option<crate::typed::TypedResults>,
    /// The taxi runs on every surface (JSON, typed PROTO, Arrow), when they ran.
    taxi: Option<crate::taxi_surfaces::TaxiResults>,
    memory: Vec<(String, Run)>,
    /// 220-byte JSON runs against a server that acks every message.
    every_ack: BTreeMap<(String, Call), Run>,
}

/// Cases of the acks-every-message pass.
const EVERY_ACK_CALLS: [Call; 2] = [Call::Single, Call::Batch1000];

fn is_rust_side(surface: &str) -> bool {
    surface == "raw" || surface == "rust" || is_peer(surface)
}

impl Results {
    fn rate_in(&self, surface: &str, format: &str, size: usize, call: Call) -> Option<f64> {
        self.runs
            .iter()
            .find(|((s, f, z, c), r)| {
                s == surface && *f == format && *z == size && *c == call && r.error.is_none()
            })
            .map(|(_, r)| r.rate())
    }

    /// A JSON case (the targets are stated for JSON).
    fn rate(&self, surface: &str, size: usize, call: Call) -> Option<f64> {
        self.rate_in(surface, "json", size, call)
    }

    /// The published crate's best rate on this case, and which setting gave it.
    fn peer_best_in(&self, format: &str, size: usize, call: Call) -> Option<(f64, String)> {
        self.runs
            .iter()
            .filter(|((s, f, z, c), r)| {
                is_peer(s) && *f == format && *z == size && *c == call && r.error.is_none()
            })
            .map(|((s, _, _, _), r)| (r.rate(), s.clone()))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    }

    fn every_ack_peer_best(&self, call: Call) -> Option<(f64, String)> {
        self.every_ack
            .iter()
            .filter(|((s, c), r)| is_peer(s) && *c == call && r.error.is_none())
            .map(|((s, _), r)| (r.rate(), s.clone()))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    }

    fn peer_best(&self, size: usize, call: Call) -> Option<(f64, String)> {
        self.peer_best_in("json", size, call)
    }

    /// Client CPU seconds per record of a JSON case.
    fn cpu_per_record(&self, surface: &str, size: usize, call: Call) -> Option<f64> {
        self.runs
            .iter()
            .find(|((s, f, z, c), r)| {
                s == surface && *f == "json" && *z == size && *c == call && r.error.is_none()
            })
            .filter(|(_, r)| r.records > 0)
            .map(|(_, r)| r.client_cpu / r.records as f64)
    }

    /// The best rate of `surface` over every call form at `size`.
    fn best_over_calls(&self, surface: &str, size: usize) -> Option<f64> {
        Call::ALL.iter().filter_map(|c| self.rate(surface, size, *c)).max_by(f64::total_cmp)
    }

    fn peer_best_over_calls(&self, size: usize) -> Option<f64> {
        Call::ALL.iter().filter_map(|c| self.peer_best(size, *c).map(|p| p.0)).max_by(f64::total_cmp)
    }
}

/// Entry point of `zerobus-bench`.
pub fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--write-pool") {
        std::process::exit(write_pool_command(&argv[2..]));
    }
    if argv.get(1).map(String::as_str) == Some("--print-taxi-definition") {
        println!("{}", crate::taxi::DEFINITION);
        return;
    }
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("zerobus-bench: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(options) {
        eprintln!("zerobus-bench: {e}");
        std::process::exit(1);
    }
}

fn run(o: Options) -> Result<(), String> {
    let started = Instant::now();
    let load_before = load_average();
    let wanted = |surface: &str, format: &str, size: usize, call: Call| {
        (format == "json" || o.proto_surfaces.iter().any(|p| p == surface))
            && o.filter.as_deref().is_none_or(|f| {
                f.split(',').any(|f| {
                    surface == f || format!("{surface}/{format}/{size}/{}", call.label()).contains(f)
                })
            })
    };
    let server = Server::start(&o.serve, &[])?;
    let mut results = Results {
        runs: BTreeMap::new(),
        typed: None,
        taxi: None,
        memory: Vec::new(),
        every_ack: BTreeMap::new(),
    };
    let timeout = Duration::from_secs_f64(o.seconds + 90.0);
    let mut all: BTreeMap<Key, Vec<Run>> = BTreeMap::new();
    for &size in &o.sizes {
        let records = records_for(size, o.scale);
        for (format, call) in o.formats.iter().flat_map(|f| Call::ALL.map(|c| (*f, c))) {
            let rounds_of = |surface: &str| {
                let targeted = format == "json"
                    && ((size == 220 && matches!(call, Call::Single | Call::Batch1000))
                        || (size == 10240 && is_rust_side(surface)));
                if targeted {
                    o.rounds.max(o.target_rounds)
                } else {
                    o.rounds
                }
            };
            for round in 0..o.rounds.max(o.target_rounds) {
                for (surface, command) in &o.surfaces {
                    if !wanted(surface, format, size, call) || round >= rounds_of(surface) {
                        continue;
                    }
                    let args = format!(
                        "{} --format {format} --size {size} --records {records} --seconds {}",
                        call.args(),
                        o.seconds
                    );
                    let run = run_driver(command, &args, &server, size, timeout);
                    eprintln!(
                        "{surface:>24} {format:<5} {size:>6} B {:<10} round {}: {}",
                        call.label(),
                        round + 1,
                        match &run.error {
                            None => format!(
                                "{:>10.0} rec/s {:>8.1} MB/s cpu {:.2}s rss {} MiB server cpu {:.2}s",
                                run.rate(),
                                run.mb_per_s(),
                                run.client_cpu,
                                run.peak_rss_kib / 1024,
                                run.server_cpu
                            ),
                            Some(e) => format!("FAILED {e}"),
                        }
                    );
                    all.entry((surface.clone(), format, size, call)).or_default().push(run);
                }
            }
        }
    }
    drop(server);
    results.runs = all.into_iter().map(|(key, runs)| (key, median(runs))).collect();

    if o.memory {
        let server = Server::start(&o.serve, &["--withhold-acks"])?;
        for (surface, command) in &o.surfaces {
            if surface != "rust" && surface != "published" {
                continue;
            }
            let args = format!("--mode fill --batch 1000 --size 220 --records {FILL_RECORDS}");
            let run = run_driver(command, &args, &server, 220, Duration::from_secs(300));
            eprintln!(
                "{surface:>24} memory case: {} records accepted, peak RSS {} MiB{}",
                run.records,
                run.peak_rss_kib / 1024,
                run.error.as_deref().map(|e| format!(" FAILED {e}")).unwrap_or_default()
            );
            results.memory.push((surface.clone(), run));
        }
    }

    if o.every_ack {
        let server = Server::start(&o.serve, &["--ack-every-message"])?;
        let records = records_for(220, o.scale);
        let mut every: BTreeMap<(String, Call), Vec<Run>> = BTreeMap::new();
        for call in EVERY_ACK_CALLS {
            for round in 0..o.rounds.max(o.target_rounds) {
                for (surface, command) in o.surfaces.iter().filter(|(s, _)| is_rust_side(s)) {
                    let args = format!(
                        "{} --format json --size 220 --records {records} --seconds {}",
                        call.args(),
                        o.seconds
                    );
                    let run = run_driver(command, &args, &server, 220, timeout);
                    eprintln!(
                        "{surface:>24} acks every message, 220 B {:<10} round {}: {}",
                        call.label(),
                        round + 1,
                        run.error
                            .as_deref()
                            .map(|e| format!("FAILED {e}"))
                            .unwrap_or_else(|| format!("{:>10.0} rec/s", run.rate()))
                    );
                    every.entry((surface.clone(), call)).or_default().push(run);
                }
            }
        }
        results.every_ack = every.into_iter().map(|(key, runs)| (key, median(runs))).collect();
    }

    if let Some(bin) = &o.typed {
        results.typed = Some(crate::typed::run(bin));
        // One server declaring the taxi table for the taxi runs of every surface.
        match Server::start(&o.serve, &["--table", crate::taxi::DEFINITION]) {
            Ok(mut server) => {
                server.env.retain(|(k, _)| k != "ZEROBUS_TABLE");
                server.env.push(("ZEROBUS_TABLE".into(), crate::taxi::TABLE.into()));
                results.taxi = Some(crate::taxi_surfaces::run(
                    &server,
                    &o.surfaces,
                    &o.taxi_surfaces,
                    o.rounds,
                    o.target_rounds,
                    o.seconds,
                ));
            }
            Err(e) => eprintln!("taxi: {e}"),
        }
    }

    let report = report(&o, &results, load_before, started.elapsed());
    match &o.out {
        Some(path) => {
            std::fs::write(path, &report).map_err(|e| format!("cannot write {path}: {e}"))?;
            eprintln!("zerobus-bench: wrote {path}");
        }
        None => print!("{report}"),
    }
    let failed: Vec<String> = results
        .runs
        .iter()
        .filter(|(_, r)| r.error.is_some())
        .map(|((s, f, z, c), _)| format!("{s}/{f}/{z}/{}", c.label()))
        .collect();
    let failed: Vec<String> = failed
        .into_iter()
        .chain(
            results
                .every_ack
                .iter()
                .filter(|(_, r)| r.error.is_some())
                .map(|((s, c), _)| format!("{s}/every-ack/{}", c.label())),
        )
        .chain(results.typed.iter().flat_map(|t| t.failures()))
        .chain(results.taxi.iter().flat_map(|t| t.failures()))
        .collect();
    if !failed.is_empty() {
        return Err(format!("{} run(s) failed: {}", failed.len(), failed.join(", ")));
    }
    Ok(())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim()))
        .unwrap_or("unknown CPU")
        .to_owned();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cpus} CPUs, {mem_gib:.0} GiB RAM, Linux {}", kernel.trim())
}

fn utc_now() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

pub(crate) fn fmt_rate(r: f64) -> String {
    let r = r.round() as u64;
    let s = r.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

pub(crate) fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}")).unwrap_or_else(|| "–".into())
}

fn report(o: &Options, res: &Results, load_before: String, elapsed: Duration) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Written by `make bench` (the runner `target/release/zerobus-bench`, `bench/src/runner.rs`; \
         drivers follow `bench/DRIVER.md`). Numbers below are from one run: compare ratios, not \
         absolute figures, which move with the machine's load.\n"
    );
    let _ = writeln!(w, "- Date: {}", utc_now());
    let _ = writeln!(w, "- Machine: {}", machine());
    let _ = writeln!(
        w,
        "- Load average before the run: {load_before}; after: {}; the run took {:.0} s",
        load_average(),
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        w,
        "- Server: one release `zerobus serve --no-payloads` on 127.0.0.1 for every run (its CPU per \
         run is the `server CPU` column; when it nears the run's seconds × cores, the server is the bottleneck)."
    );
    let _ = writeln!(
        w,
        "- Each run: one driver process, records of the given size (JSON on every surface; proto, \
         `BenchRecord {{ int64 i = 1; string p = 2; }}`, where the driver takes `--format proto`), default options (except the \
         `published-inflight-N` rows), up to {} s of ingest then flush; records/s and MB/s of payload \
         over that clock; client CPU (user + system) and peak RSS of the whole process, startup included \
         (a JVM's or Node's start is in theirs). Each figure is the median run of {} rounds ({} for the \
         cases the targets read: 220-byte single and batch-of-1,000 JSON, and 10 KB JSON on the Rust side); surfaces take \
         turns within a round, so a noisy moment hits one round of each.",
        o.seconds, o.rounds, o.rounds.max(o.target_rounds)
    );
    let _ = writeln!(
        w,
        "- Peer: the published crate `databricks-zerobus-ingest-sdk` **2.2.0** (`compat/`): 3.0.0 does not \
         resolve from this machine's registry (it needs `webpki-roots >= 1.0.11`; the registry has 1.0.10). \
         Its defaults, and `max_inflight_requests` 100 and 1000; \"peer best\" is the highest of those per case. \
         It has no fire-and-forget call, so its `nowait` rows use `ingest_record_offset`, which returns once queued."
    );
    if o.surfaces.iter().any(|(s, _)| s == "published-python") {
        let _ = writeln!(
            w,
            "- Python peer: the published wheel `databricks-zerobus-ingest-sdk` **1.10.0** (PyPI, \
             `bindings-python/bench/published/`), defaults. `python` and `published-python` both ingest dicts \
             (`bench/DRIVER.md`); the published SDK writes them with `json.dumps`'s spaced separators, 3 bytes \
             more per record than the size column. Its `ingest_record_nowait` may drop records and lets \
             `flush` return before they are queued, so its `nowait` rows use `ingest_record_offset`."
        );
    }
    let surfaces: Vec<String> = o.surfaces.iter().map(|(s, c)| format!("`{s}` = `{c}`")).collect();
    let _ = writeln!(w, "- Surfaces: {}\n", surfaces.join("; "));

    targets(w, res);

    for &size in &o.sizes {
        let _ = writeln!(
            w,
            "\n## {size}-byte records ({} per run at most)\n",
            fmt_rate(records_for(size, o.scale) as f64)
        );
        let _ = writeln!(
            w,
            "| Surface | Format | Call | records/s | MB/s | client CPU s | peak RSS MiB | server CPU s | ÷ peer default | ÷ peer best | ÷ rust | ÷ raw |"
        );
        let _ = writeln!(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (format, call) in o.formats.iter().flat_map(|f| Call::ALL.map(|c| (*f, c))) {
            let peer_default = res.rate_in("published", format, size, call);
            let peer_best = res.peer_best_in(format, size, call).map(|p| p.0);
            let rust = res.rate_in("rust", format, size, call);
            let raw = res.rate_in("raw", format, size, call);
            for (surface, _) in &o.surfaces {
                let Some(run) = res.runs.get(&(surface.clone(), format, size, call)) else { continue };
                let lead = format!("{surface} | {format} | {}", call.label());
                run_row(w, &lead, run, &[peer_default, peer_best, rust, raw]);
            }
        }
    }

    if !res.memory.is_empty() {
        let _ = writeln!(
            w,
            "\n## Memory: {} records of 220 bytes, batches of 1,000, server withholds every ack\n",
            fmt_rate(FILL_RECORDS as f64)
        );
        let _ = writeln!(
            w,
            "A second `zerobus serve --no-payloads --withhold-acks`. Our driver offers batches through the \
             non-blocking call until it answers `QUEUE_FULL` (and still does after {} s); the peer's \
             driver calls until one call blocks for {} s. Defaults on both sides.\n",
            crate::driver::STALL.as_secs(),
            crate::driver::STALL.as_secs()
        );
        let _ = writeln!(
            w,
            "| Surface | records accepted | payload MiB accepted | stopped at a bound | peak RSS MiB |"
        );
        let _ = writeln!(w, "|---|---:|---:|---|---:|");
        for (surface, run) in &res.memory {
            if let Some(e) = &run.error {
                let _ = writeln!(w, "| {surface} | failed: {} ||||", e.replace('|', "/"));
                continue;
            }
            let _ = writeln!(
                w,
                "| {surface} | {} | {:.1} | {} | {} |",
                fmt_rate(run.records as f64),
                run.records as f64 * 220.0 / 1048576.0,
                if run.records < FILL_RECORDS { "yes" } else { "no: took all" },
                run.peak_rss_kib / 1024
            );
        }
    }
    if !res.every_ack.is_empty() {
        let _ = writeln!(w, "\n## A server that acks every message (220-byte JSON records)\n");
        let _ = writeln!(
            w,
            "The same drivers against a second `zerobus serve --no-payloads --ack-every-message`: one ack per \
             request instead of one per burst of requests already read. Acks are cumulative, so both servers \
             are correct; this one costs a client whose work per ack grows with its queue.\n"
        );
        let _ = writeln!(
            w,
            "| Surface | Call | records/s | MB/s | client CPU s | peak RSS MiB | server CPU s | ÷ peer default | ÷ peer best | ÷ raw |"
        );
        let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for call in EVERY_ACK_CALLS {
            let rate = |s: &str| {
                res.every_ack.get(&(s.to_owned(), call)).filter(|r| r.error.is_none()).map(Run::rate)
            };
            let peer_best = res.every_ack_peer_best(call).map(|p| p.0);
            for (surface, _) in o.surfaces.iter().filter(|(s, _)| is_rust_side(s)) {
                let Some(run) = res.every_ack.get(&(surface.clone(), call)) else { continue };
                let lead = format!("{surface} | {}", call.label());
                run_row(w, &lead, run, &[rate("published"), peer_best, rate("raw")]);
            }
        }
    }
    if let Some(typed) = &res.typed {
        typed.report(w);
    }
    if let Some(taxi) = &res.taxi {
        taxi.report(w);
    }
    md
}

/// One table row: `lead` (the row's first cells), then the run's figures and its rate as a ratio
/// to each of `against`; a failed run gets its error and empty cells.
fn run_row(w: &mut String, lead: &str, run: &Run, against: &[Option<f64>]) {
    if let Some(e) = &run.error {
        let _ = writeln!(w, "| {lead} | failed: {} |{}", e.replace('|', "/"), "|".repeat(4 + against.len()));
        return;
    }
    let r = Some(run.rate());
    let ratios: Vec<String> = against.iter().map(|a| fmt_ratio(ratio(r, *a))).collect();
    let _ = writeln!(
        w,
        "| {lead} | {} | {:.1} | {:.2} | {} | {:.2} | {} |",
        fmt_rate(run.rate()),
        run.mb_per_s(),
        run.client_cpu,
        run.peak_rss_kib / 1024,
        run.server_cpu,
        ratios.join(" | ")
    );
}

/// The "Done when" lines, checked on this run.
fn targets(w: &mut String, res: &Results) {
    let _ = writeln!(w, "## Targets\n");
    let _ = writeln!(w, "| Target | Measured | Holds |");
    let _ = writeln!(w, "|---|---|---|");
    let mut row = |what: String, measured: String, holds: Option<bool>| {
        let mark = match holds {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(w, "| {what} | {measured} | {mark} |");
    };
    let single = res.rate("rust", 220, Call::Single);
    row(
        "Rust core, single-record calls, 220 B: ≥ 1,000,000 records/s".into(),
        single.map(fmt_rate).unwrap_or_default(),
        single.map(|s| s >= 1e6),
    );
    // The published crate's best setting per call, and our client CPU per record against its.
    // (This replaced "single-record ≥ 3× the peer": the raw tonic client, this machine's ceiling, is
    // only about 2.2× the peer there, so CPU per record is what the core can still win.)
    for (call, what) in [(Call::Single, "single-record calls"), (Call::Batch1000, "batches of 1,000")] {
        let peer = res.peer_best(220, call);
        let ours = res.cpu_per_record("rust", 220, call);
        let theirs = peer.as_ref().and_then(|(_, s)| res.cpu_per_record(s, 220, call));
        let x = ratio(ours, theirs);
        row(
            format!("Rust core client CPU per record, {what}, 220 B: ≤ 40% of the published crate's at its best setting"),
            format!(
                "{}× ({} vs {} CPU s per 100,000 records, peer best `{}`)",
                fmt_ratio(x),
                ours.map(|c| format!("{:.3}", c * 1e5)).unwrap_or_default(),
                theirs.map(|c| format!("{:.3}", c * 1e5)).unwrap_or_default(),
                peer.as_ref().map(|p| p.1.as_str()).unwrap_or("")
            ),
            x.map(|x| x <= 0.4),
        );
    }
    if let Some(peer) = res.every_ack_peer_best(Call::Single) {
        let per_record = |s: &str| {
            res.every_ack
                .get(&(s.to_owned(), Call::Single))
                .filter(|r| r.error.is_none() && r.records > 0)
                .map(|r| r.client_cpu / r.records as f64)
        };
        let (ours, theirs) = (per_record("rust"), per_record(&peer.1));
        let x = ratio(ours, theirs);
        row(
            "… single-record calls against a server that acks every message: ≤ 40% too".into(),
            format!(
                "{}× ({} vs {} CPU s per 100,000 records, peer best `{}`)",
                fmt_ratio(x),
                ours.map(|c| format!("{:.3}", c * 1e5)).unwrap_or_default(),
                theirs.map(|c| format!("{:.3}", c * 1e5)).unwrap_or_default(),
                peer.1
            ),
            x.map(|x| x <= 0.4),
        );
    }
    let x = ratio(res.rate("rust", 220, Call::Batch1000), res.rate("raw", 220, Call::Batch1000));
    row(
        "Rust core, batches of 1,000, 220 B: ≥ 90% of the raw ceiling".into(),
        fmt_ratio(x),
        x.map(|x| x >= 0.9),
    );
    let x = ratio(res.best_over_calls("rust", 10240), res.peer_best_over_calls(10240));
    row(
        "Rust core, 10 KB records: ≥ 1.3× the published crate's best (best call form on each side)".into(),
        format!("{}×", fmt_ratio(x)),
        x.map(|x| x >= 1.3),
    );
    let bindings: Vec<String> = {
        let mut names: Vec<String> = res
            .runs
            .keys()
            .map(|(s, _, _, _)| s.clone())
            // Python's records are dicts (bench/DRIVER.md), so its targets are against the
            // published Python SDK on the same records (below), not against the core's text.
            .filter(|s| s != "rust" && s != "raw" && s != "python" && !s.starts_with("published"))
            .collect();
        names.dedup();
        names
    };
    for b in &bindings {
        let x = ratio(res.rate(b, 220, Call::Batch1000), res.rate("rust", 220, Call::Batch1000));
        row(format!("`{b}` batch of 1,000, 220 B: ≥ 0.80 of Rust core"), fmt_ratio(x), x.map(|x| x >= 0.8));
        let x = ratio(res.rate(b, 220, Call::Single), single);
        row(
            format!("`{b}` single-record call, 220 B: ≥ 0.40 of Rust core"),
            fmt_ratio(x),
            x.map(|x| x >= 0.4),
        );
    }
    python_targets(&mut row, res);
    if let Some(typed) = &res.typed {
        let (what, measured, holds) = typed.target();
        row(what, measured, holds);
    }
    if let Some(taxi) = &res.taxi {
        for (what, measured, holds) in taxi.targets() {
            row(what, measured, holds);
        }
    }
    let limit_kib = (INFLIGHT_BYTES + (64 << 20)) / 1024;
    match res.memory.iter().find(|(s, _)| s == "rust") {
        Some((_, run)) if run.error.is_none() => row(
            "Memory: 10 M records, acks withheld: stops at the bound, peak RSS < byte bound + 64 MiB".into(),
            format!(
                "stopped after {} records, peak RSS {} MiB (limit {} MiB)",
                fmt_rate(run.records as f64),
                run.peak_rss_kib / 1024,
                limit_kib / 1024
            ),
            Some(run.records < FILL_RECORDS && run.peak_rss_kib < limit_kib),
        ),
        _ => row("Memory case".into(), "not run".into(), None),
    }
}

/// The Python binding against the published Python SDK, both ingesting the same 220-byte dicts.
fn python_targets(row: &mut impl FnMut(String, String, Option<bool>), res: &Results) {
    let ours = "python";
    let peer = "published-python";
    for (call, what, at_least) in
        [(Call::Batch1000, "batches of 1,000", 5.0), (Call::Single, "single-record calls", 2.0)]
    {
        let (o, p) = (res.rate(ours, 220, call), res.rate(peer, 220, call));
        let x = ratio(o, p);
        row(
            format!("`python`, 220-byte dicts, {what}: ≥ {at_least}× `published-python`"),
            format!(
                "{}× ({} vs {} records/s)",
                fmt_ratio(x),
                o.map(fmt_rate).unwrap_or_default(),
                p.map(fmt_rate).unwrap_or_default()
            ),
            x.map(|x| x >= at_least),
        );
    }
    let per_record = |surface: &str| {
        res.runs
            .iter()
            .find(|((s, f, z, c), r)| {
                s == surface && *f == "json" && *z == 220 && *c == Call::Single && r.error.is_none()
            })
            .filter(|(_, r)| r.records > 0)
            .map(|(_, r)| r.client_cpu / r.records as f64)
    };
    let (o, p) = (per_record(ours), per_record(peer));
    let x = ratio(o, p);
    row(
        "`python` client CPU per record (single-record calls, 220-byte dicts): ≤ ½ of `published-python`'s"
            .into(),
        format!(
            "{}× ({} vs {} CPU s per 100,000 records)",
            fmt_ratio(x),
            o.map(|c| format!("{:.2}", c * 1e5)).unwrap_or_default(),
            p.map(|c| format!("{:.2}", c * 1e5)).unwrap_or_default()
        ),
        x.map(|x| x <= 0.5),
    );
}
