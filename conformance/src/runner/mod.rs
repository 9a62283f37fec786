//! The conformance runner: owns every case and every assertion, drives testees over the testee
//! protocol (`conformance/TESTEE.md`) against a mock server, and runs the case × binding matrix,
//! several cases at a time when asked (each lane has its own mock server).
//!
//! - `case`: cases as data;
//! - `testee`: testee processes and outcomes;
//! - `expect`: the assertions on replies and on what the server received;
//! - `tables`: the tables declared with columns (`conformance/tables.sql`) and the checks made
//!   with them;
//! - `arrow`: the record batches of Arrow cases, handed over and read back as Arrow IPC.

mod arrow;
mod case;
mod expect;
mod tables;
mod testee;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::{json, Value};

pub use case::{load_cases, Case};
pub use testee::{Outcome, Testee};

use crate::fault_proxy::{FaultPlan, FaultProxy};
use crate::mock::{FaultScript, MockServer, MockServerConfig};
use crate::records;
pub(crate) use testee::Process;

/// The table cases write to unless they name another.
pub const DEFAULT_TABLE: &str = "main.default.conformance";

/// Runs cases against one mock server, with a TLS listener, a CONNECT proxy and a fault proxy
/// in front of it.
pub struct Runner {
    server: MockServer,
    proxy: FaultProxy,
    runtime: tokio::runtime::Runtime,
    config: MockServerConfig,
}

impl Runner {
    /// Starts the mock server and its proxies on loopback.
    pub fn start() -> Result<Runner, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let config = MockServerConfig {
            tls: true,
            connect_proxy: true,
            table_schemas: tables::declared().to_vec(),
            ..MockServerConfig::default()
        };
        let server =
            runtime.block_on(MockServer::start(config.clone())).map_err(|e| format!("mock server: {e}"))?;
        let proxy = runtime
            .block_on(FaultProxy::start(server.grpc_addr(), FaultPlan::default()))
            .map_err(|e| format!("fault proxy: {e}"))?;
        Ok(Runner { server, proxy, runtime, config })
    }

    /// Runs one case with one testee.
    pub fn run(&self, case: &Case, testee: &Testee) -> Outcome {
        let result = self.run_case(case, testee);
        match (result, testee.expected_failures.get(&case.id)) {
            (Ok(()), None) => Outcome::Pass,
            (Ok(()), Some(_)) => Outcome::UnexpectedPass,
            (Err(e), None) => Outcome::Fail(e),
            (Err(e), Some(reason)) => Outcome::ExpectedFail(format!("{reason} ({e})")),
        }
    }

    fn run_case(&self, case: &Case, testee: &Testee) -> Result<(), String> {
        self.server.reset();
        self.server.set_faults(case.server.clone());
        self.proxy.set_plan(FaultPlan::default());
        self.wait_proxy_up();
        let env: Vec<(String, String)> = case
            .env
            .iter()
            .map(|(k, v)| {
                (k.clone(), v.replace("{connect_proxy}", &self.server.proxy_url().unwrap_or_default()))
            })
            .collect();
        let mut process = Process::start(testee, &env)?;
        let mut table = DEFAULT_TABLE.to_owned();
        for (i, step) in case.steps.iter().enumerate() {
            let op = step["op"].as_str().ok_or_else(|| format!("step {i} has no op"))?;
            let context = |e: String| format!("step {} ({op}): {e}", i + 1);
            if let Some(done) = self.runner_step(op, step) {
                done.map_err(context)?;
                continue;
            }
            let request = self.request(case, step, op, &mut table).map_err(context)?;
            let started = Instant::now();
            let reply = process.call(request).map_err(context)?;
            let elapsed = started.elapsed();
            expect::check_reply(case, step, &reply, elapsed).map_err(context)?;
        }
        let exit = process.finish();
        // Let the server finish logging the ends of connections the testee just closed.
        std::thread::sleep(Duration::from_millis(50));
        expect::check_server(&self.server, &self.config, case, &table)?;
        exit
    }

    /// Steps the runner does itself; `None` for a step that goes to the testee.
    fn runner_step(&self, op: &str, step: &Value) -> Option<Result<(), String>> {
        let ms = Duration::from_millis(step["ms"].as_u64().unwrap_or(0));
        Some(match op {
            "sleep" => {
                std::thread::sleep(ms);
                Ok(())
            }
            "set_faults" => serde_json::from_value::<FaultScript>(step["server"].clone())
                .map(|faults| self.server.set_faults(faults))
                .map_err(|e| e.to_string()),
            // The fault proxy's port refuses connections for `ms` (live ones are reset); the
            // step returns at once, so the testee's next steps run during the outage.
            "proxy_down" => {
                self.runtime.block_on(self.proxy.down_for(ms));
                Ok(())
            }
            "proxy_reset" => {
                self.proxy.reset_all();
                Ok(())
            }
            _ => return None,
        })
    }

    fn wait_proxy_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.proxy.is_down() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn request(&self, case: &Case, step: &Value, op: &str, table: &mut String) -> Result<Value, String> {
        let mut request = step.clone();
        if let Some(obj) = request.as_object_mut() {
            // Runner-only fields; the testee sees what they resolve to.
            for key in ["expect", "via", "ca", "from_table", "schema_sql"] {
                obj.remove(key);
            }
        }
        match op {
            "create_stream" | "table_schema" | "create_arrow_stream" => {
                if let Some(t) = step["table"].as_str() {
                    *table = t.to_owned();
                } else if op == "create_arrow_stream" {
                    *table = arrow::ARROW_TABLE.to_owned();
                }
                request["endpoint"] = json!(match step["via"].as_str().unwrap_or("direct") {
                    "direct" => self.server.grpc_url(),
                    "fault_proxy" => self.proxy.url(),
                    "tls" => self.server.tls_url().ok_or("the mock serves no TLS")?,
                    other => return Err(format!("unknown via {other:?}")),
                });
                if step["ca"].as_bool() == Some(true) {
                    request["ca_pem"] = json!(self.server.ca_pem().ok_or("the mock has no CA")?);
                }
                request["workspace_url"] = json!(self.server.workspace_url());
                request["table"] = json!(table.clone());
                if op == "create_stream" {
                    request["record_type"] = json!(case.record_type);
                    // `from_table`: no descriptor, so the testee creates the stream from the table.
                    if case.record_type == "proto" && step["from_table"].as_bool() != Some(true) {
                        request["descriptor_hex"] = json!(hex(&records::record_descriptor().encode_to_vec()));
                    }
                    if !request["options"].is_object() {
                        request["options"] = json!({});
                    }
                }
                if op == "create_arrow_stream" {
                    // `from_table`: no schema, so the testee creates the stream from the table.
                    if step["from_table"].as_bool() != Some(true) {
                        let schema = arrow::schema_for(table, step["schema_sql"].as_str())?;
                        request["schema_hex"] = json!(arrow::schema_hex(&schema)?);
                    }
                    if !request["options"].is_object() {
                        request["options"] = json!({});
                    }
                }
                let static_headers = || {
                    json!([
                        ["authorization", format!("Bearer {}", self.config.static_tokens[0])],
                        ["x-databricks-zerobus-table-name", table.clone()]
                    ])
                };
                request["auth"] = match step["auth"].as_str().unwrap_or("oauth") {
                    "oauth" => json!({"kind": "oauth", "client_id": self.config.client_id,
                                      "client_secret": self.config.client_secret}),
                    "oauth_bad_secret" => json!({"kind": "oauth", "client_id": self.config.client_id,
                                                 "client_secret": "not-the-secret-4711"}),
                    "headers" => json!({"kind": "headers", "headers": static_headers()}),
                    // A bearer token no server issued.
                    "headers_bad_token" => json!({"kind": "headers", "headers": [
                        ["authorization", "Bearer not-a-token-4711"],
                        ["x-databricks-zerobus-table-name", table.clone()]]}),
                    // A provider that fails with the code and message the step names.
                    "headers_failing" => json!({"kind": "headers", "headers": static_headers(),
                        "fail": {"code": step["fail_code"].as_str().unwrap_or("UNAUTHENTICATED"),
                                 "message": step["fail_message"].as_str().unwrap_or("no credentials")}}),
                    other => return Err(format!("unknown auth {other:?}")),
                };
                if let Some(obj) = request.as_object_mut() {
                    obj.remove("fail_code");
                    obj.remove("fail_message");
                }
            }
            "ingest" | "ingest_concurrent" => {
                for (key, default) in [("seed", 1), ("start", 0), ("batch", 1)] {
                    if request[key].is_null() {
                        request[key] = json!(default);
                    }
                }
                if request["mode"].is_null() {
                    request["mode"] = json!("offset");
                }
            }
            "ingest_raw" if request["batch"].is_null() => request["batch"] = json!(false),
            "ingest_arrow" => arrow::ingest_request(step, &mut request)?,
            _ => {}
        }
        Ok(request)
    }

    /// Stops the mock server and its proxies.
    pub fn shutdown(self) {
        drop(self.proxy);
        self.runtime.block_on(self.server.shutdown());
    }
}

/// Runs every case with every testee on `jobs` lanes at once (each lane its own mock server),
/// calling `report(case, testee, outcome, elapsed)` as each finishes. Returns the outcomes as a
/// matrix, case by case in the order given, testee by testee.
pub fn run_matrix(
    cases: &[Case],
    testees: &[Testee],
    jobs: usize,
    report: &(dyn Fn(&Case, &Testee, &Outcome, Duration) + Sync),
) -> Result<Vec<Vec<Outcome>>, String> {
    let work: Vec<(usize, usize)> =
        (0..cases.len()).flat_map(|c| (0..testees.len()).map(move |t| (c, t))).collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![vec![Outcome::Pass; testees.len()]; cases.len()]);
    let runners: Vec<Runner> = (0..jobs.max(1)).map(|_| Runner::start()).collect::<Result<_, _>>()?;
    std::thread::scope(|scope| {
        for runner in &runners {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(c, t)) = work.get(i) else { break };
                let started = Instant::now();
                let outcome = runner.run(&cases[c], &testees[t]);
                report(&cases[c], &testees[t], &outcome, started.elapsed());
                results.lock().unwrap_or_else(|e| e.into_inner())[c][t] = outcome;
            });
        }
    });
    for runner in runners {
        runner.shutdown();
    }
    Ok(results.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lowercase or uppercase hex.
pub fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("hex {s:?}: {e}")))
        .collect()
}
