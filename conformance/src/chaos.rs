//! Chaos runs: a testee (any binding, over the testee protocol) ingests through the fault proxy
//! while it resets connections at random moments and takes its port down for seconds at a time;
//! afterwards the mock's ledger proves what arrived. A run passes when the client never gave up,
//! every record was acknowledged, every acknowledged record reached the server (none missing),
//! and the planned faults happened (at least `min_resets` resets, every outage).
//!
//! The runner keeps the stream busy: it sends `ingest` requests of `per_op` records, one after
//! the other, until the workload's records are in and the faults are done, so outages always hit
//! a stream with records in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fault_proxy::{FaultPlan, FaultProxy};
use crate::mock::{MockServer, MockServerConfig};
use crate::runner::{Process, Testee};

/// The table chaos runs write to.
pub const TABLE: &str = "main.default.events";

/// What the testee sends.
#[derive(Clone, Debug)]
pub struct Workload {
    /// At least this many records (more if the faults are not done yet).
    pub records: u64,
    /// Bytes per record.
    pub size: u64,
    /// Records per ingest call (1 = single-record calls).
    pub batch: u64,
    /// Records per `ingest` request to the testee.
    pub per_op: u64,
}

/// What goes wrong during a run.
#[derive(Clone, Debug)]
pub struct Faults {
    /// The fault proxy's schedule of resets and delays.
    pub plan: FaultPlan,
    /// The run keeps ingesting until the proxy made at least this many resets.
    pub min_resets: u64,
    /// Outages of these lengths, one after the other, each once the stream is busy again.
    pub outages: Vec<Duration>,
}

/// One run: a testee, a workload, faults, and the stream options the testee opens with.
#[derive(Clone, Debug)]
pub struct Run {
    /// Row name.
    pub name: String,
    /// The testee to drive.
    pub testee: Testee,
    /// What it sends.
    pub workload: Workload,
    /// What goes wrong.
    pub faults: Faults,
    /// `options` of `create_stream` (PROTOCOL.md §6 names); `{}` for the defaults.
    pub options: Value,
    /// Bound on each request to the testee: a reply later than this is a hang.
    pub hang_after: Duration,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Row name.
    pub name: String,
    /// Testee name.
    pub surface: String,
    /// Records ingested.
    pub records: u64,
    /// Records the client counts as acknowledged.
    pub acked: u64,
    /// Connections the proxy reset.
    pub resets: u64,
    /// Outages begun.
    pub outages: u64,
    /// Reconnects the client made.
    pub recoveries: u64,
    /// Records that reached the server at least once.
    pub distinct: u64,
    /// Records that never reached the server.
    pub missing: u64,
    /// Extra arrivals (at-least-once delivery).
    pub duplicates: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Why the run failed, if it did.
    pub failure: Option<String>,
}

/// A mock server (ledger on, no payloads kept) behind a fault proxy, for a series of runs.
pub struct Bench {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
    proxy: FaultProxy,
}

impl Bench {
    /// Starts the server and the proxy on loopback.
    pub fn start() -> Result<Bench, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let config = MockServerConfig { keep_payloads: false, ledger: true, ..MockServerConfig::default() };
        let server = runtime.block_on(MockServer::start(config)).map_err(|e| format!("mock server: {e}"))?;
        let proxy = runtime
            .block_on(FaultProxy::start(server.grpc_addr(), FaultPlan::default()))
            .map_err(|e| format!("fault proxy: {e}"))?;
        Ok(Bench { runtime, server, proxy })
    }

    /// Runs `run` with records of `seed` (a seed per run keeps the ledger's rows apart).
    pub fn run(&self, run: &Run, seed: u64) -> Report {
        let started = Instant::now();
        let mut report =
            Report { name: run.name.clone(), surface: run.testee.name.clone(), ..Default::default() };
        self.server.reset();
        while self.proxy.is_down() {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.proxy.set_plan(FaultPlan::default());
        let before = self.proxy.stats();
        let result = self.drive(run, seed, &mut report, before.resets);
        let after = self.proxy.stats();
        report.resets = after.resets - before.resets;
        report.outages = after.outages - before.outages;
        let ledger = self.server.ledger(TABLE, seed, report.records);
        report.distinct = ledger.distinct;
        report.missing = ledger.missing;
        report.duplicates = ledger.duplicates;
        report.elapsed = started.elapsed();
        let mut problems = Vec::new();
        if let Err(e) = result {
            problems.push(e);
        }
        if report.acked < report.records {
            problems.push(format!("only {} of {} records acknowledged", report.acked, report.records));
        }
        if ledger.missing > 0 {
            problems.push(format!(
                "{} acknowledged records never reached the server (first seqs {:?})",
                ledger.missing, ledger.first_missing
            ));
        }
        if ledger.outside > 0 || ledger.unparsed > 0 {
            problems.push(format!(
                "the server received {} records outside the run and {} that are not generated records",
                ledger.outside, ledger.unparsed
            ));
        }
        if report.resets < run.faults.min_resets {
            problems.push(format!("only {} resets, the run needs {}", report.resets, run.faults.min_resets));
        }
        if report.outages < run.faults.outages.len() as u64 {
            problems.push(format!(
                "only {} of {} outages happened",
                report.outages,
                run.faults.outages.len()
            ));
        }
        report.failure = (!problems.is_empty()).then(|| problems.join("; "));
        report
    }

    fn drive(&self, run: &Run, seed: u64, report: &mut Report, resets_before: u64) -> Result<(), String> {
        let mut process = Process::start(&run.testee, &[])?;
        // The plan applies to connections accepted from now on, the first one included; the
        // first open rides the same retry budget as recovery.
        self.proxy.set_plan(run.faults.plan.clone());
        let mut call = |request: Value| -> Result<Value, String> {
            let op = request["op"].clone();
            let reply = process.call_within(request, run.hang_after)?;
            if reply["ok"].as_bool() != Some(true) {
                return Err(format!("the client gave up: {op} failed with {}", reply["error"]));
            }
            Ok(reply)
        };
        call(json!({
            "op": "create_stream", "endpoint": self.proxy.url(), "workspace_url": self.server.workspace_url(),
            "table": TABLE, "record_type": "json", "options": run.options,
            "auth": {"kind": "oauth", "client_id": crate::mock::DEFAULT_CLIENT_ID,
                     "client_secret": crate::mock::DEFAULT_CLIENT_SECRET},
        }))?;
        let outages_done = Arc::new(AtomicBool::new(run.faults.outages.is_empty()));
        let scheduler = {
            let (proxy, outages, done) =
                (self.proxy.clone(), run.faults.outages.clone(), outages_done.clone());
            let handle = self.runtime.handle().clone();
            std::thread::spawn(move || {
                for outage in outages {
                    // Outages hit a busy stream: wait until it is connected and moving.
                    std::thread::sleep(Duration::from_millis(1000));
                    let connections = proxy.stats().connections;
                    handle.block_on(proxy.down_for(outage));
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while (proxy.is_down() || proxy.stats().connections == connections)
                        && Instant::now() < deadline
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                done.store(true, Ordering::Release);
            })
        };
        let mut sent = 0u64;
        let give_up_at = Instant::now() + Duration::from_secs(600);
        let ingest = loop {
            let faults_done = outages_done.load(Ordering::Acquire)
                && self.proxy.stats().resets - resets_before >= run.faults.min_resets;
            if sent >= run.workload.records && faults_done {
                break Ok(());
            }
            if Instant::now() > give_up_at {
                break Err("the faults were not done after 10 minutes of ingesting".to_owned());
            }
            let count = run.workload.per_op;
            if let Err(e) = call(json!({"op": "ingest", "seed": seed, "start": sent, "count": count,
                                        "size": run.workload.size, "batch": run.workload.batch, "mode": "nowait"}))
            {
                break Err(e);
            }
            sent += count;
        };
        report.records = sent;
        // The proxy stops cutting before the final flush, so the flush measures delivery, not
        // the last reset; an outage still going on is waited out by the scheduler first.
        let _ = scheduler.join();
        self.proxy.set_plan(FaultPlan::default());
        ingest?;
        call(json!({"op": "flush"}))?;
        let metrics = call(json!({"op": "metrics"}))?;
        let m = &metrics["metrics"];
        report.recoveries = m["recoveries"].as_u64().unwrap_or(0);
        report.acked = sent.saturating_sub(m["inflight_records"].as_u64().unwrap_or(sent));
        call(json!({"op": "close"}))?;
        process.finish()
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let server = self.server.clone();
        self.runtime.block_on(server.shutdown());
    }
}

/// The table `make chaos` prints: one row per run.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<28} {:<8} {:>9} {:>9} {:>6} {:>7} {:>10} {:>9} {:>7} {:>10} {:>7}  result\n",
        "run",
        "surface",
        "records",
        "acked",
        "resets",
        "outages",
        "recoveries",
        "distinct",
        "missing",
        "duplicates",
        "secs"
    ));
    for r in reports {
        out.push_str(&format!(
            "{:<28} {:<8} {:>9} {:>9} {:>6} {:>7} {:>10} {:>9} {:>7} {:>10} {:>7.1}  {}\n",
            r.name,
            r.surface,
            r.records,
            r.acked,
            r.resets,
            r.outages,
            r.recoveries,
            r.distinct,
            r.missing,
            r.duplicates,
            r.elapsed.as_secs_f64(),
            match &r.failure {
                None => "pass".to_owned(),
                Some(why) => format!("FAIL: {why}"),
            }
        ));
    }
    out
}
