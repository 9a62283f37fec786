//! The conformance runner: owns every case and every assertion, drives testees over the testee
//! protocol (`conformance/TESTEE.md`) against one mock server, and prints a case × binding matrix.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use prost::Message;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::mock::{ConnectionEnd, FaultScript, MockServer, MockServerConfig, ReceivedRecord};
use crate::records;

/// The table cases write to unless they name another.
pub const DEFAULT_TABLE: &str = "main.default.conformance";
/// Longest a testee may take to answer one request before the case fails.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// One case, as written in `conformance/cases/*.json`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// `Area.what_it_checks`.
    pub id: String,
    /// `json` (default) or `proto`.
    #[serde(default = "default_record_type")]
    pub record_type: String,
    /// Fault script for the mock server.
    #[serde(default)]
    pub server: FaultScript,
    /// Steps for the testee (and a few for the runner: `sleep`, `set_faults`).
    pub steps: Vec<Value>,
    /// Assertions on what the server received.
    #[serde(default)]
    pub server_expect: Value,
}

fn default_record_type() -> String {
    "json".into()
}

/// Loads every `*.json` case file in `dir`, in file-name order.
pub fn load_cases(dir: &Path) -> Result<Vec<Case>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read cases from {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut these: Vec<Case> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        cases.append(&mut these);
    }
    let mut seen = HashSet::new();
    for c in &cases {
        if !seen.insert(c.id.clone()) {
            return Err(format!("case id {} appears twice", c.id));
        }
    }
    Ok(cases)
}

/// A testee: a name for the matrix, the command that starts it, and its expected failures.
#[derive(Clone, Debug)]
pub struct Testee {
    /// Column name (`rust`, `c`, `node`, …).
    pub name: String,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Case id → reason, for cases this binding is known to fail.
    pub expected_failures: BTreeMap<String, String>,
}

impl Testee {
    /// Reads `name=command args…` and `<dir>/<name>/expected_failures.txt` (lines `Case.id  reason`).
    pub fn parse(spec: &str, failures_dir: &Path) -> Result<Testee, String> {
        let (name, command) =
            spec.split_once('=').ok_or_else(|| format!("testee {spec:?} is not name=command"))?;
        let command: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        if command.is_empty() {
            return Err(format!("testee {name} has no command"));
        }
        let mut expected_failures = BTreeMap::new();
        let path = failures_dir.join(name).join("expected_failures.txt");
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                let (id, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                expected_failures.insert(id.to_owned(), reason.trim().to_owned());
            }
        }
        Ok(Testee { name: name.into(), command, expected_failures })
    }
}

/// The outcome of one case for one testee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Passed, as expected.
    Pass,
    /// Failed, and not listed as an expected failure.
    Fail(String),
    /// Failed, listed as an expected failure.
    ExpectedFail(String),
    /// Passed but listed as an expected failure: the list is stale, which fails the run.
    UnexpectedPass,
}

impl Outcome {
    /// Whether this outcome fails the run.
    pub fn is_bad(&self) -> bool {
        matches!(self, Outcome::Fail(_) | Outcome::UnexpectedPass)
    }
}

/// A running testee process.
struct Process {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    next_id: u64,
}

impl Process {
    fn start(testee: &Testee) -> Result<Process, String> {
        let mut child = Command::new(&testee.command[0])
            .args(&testee.command[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start testee {:?}: {e}", testee.command))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Process { child, stdin, lines, next_id: 1 })
    }

    fn call(&mut self, mut request: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        writeln!(self.stdin, "{request}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| format!("testee stdin closed: {e}"))?;
        let line = self.lines.recv_timeout(REPLY_TIMEOUT).map_err(|_| {
            format!("testee did not answer {} within {}s", request["op"], REPLY_TIMEOUT.as_secs())
        })?;
        let reply: Value =
            serde_json::from_str(&line).map_err(|e| format!("testee wrote a non-JSON line {line:?}: {e}"))?;
        if reply["id"] != json!(id) {
            return Err(format!("testee answered id {} to request {id}", reply["id"]));
        }
        Ok(reply)
    }
}

impl Process {
    /// Asks the testee to quit and checks it exits cleanly: a crash during cleanup, or a memory
    /// checker's error exit code, fails the case. The bound leaves room for valgrind's leak scan.
    fn finish(mut self) -> Result<(), String> {
        let _ = writeln!(self.stdin, "{}", json!({"id": 0, "op": "quit"})).and_then(|_| self.stdin.flush());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("testee exited with {status} after quit")),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => return Err("testee did not exit within 30 s of quit".into()),
                Err(e) => return Err(format!("cannot wait for the testee: {e}")),
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"id": 0, "op": "quit"}));
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

/// Runs cases against one mock server.
pub struct Runner {
    server: MockServer,
    runtime: tokio::runtime::Runtime,
    config: MockServerConfig,
}

impl Runner {
    /// Starts the mock server on loopback.
    pub fn start() -> Result<Runner, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let config = MockServerConfig::default();
        let server =
            runtime.block_on(MockServer::start(config.clone())).map_err(|e| format!("mock server: {e}"))?;
        Ok(Runner { server, runtime, config })
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
        let mut process = Process::start(testee)?;
        let mut table = DEFAULT_TABLE.to_owned();
        for (i, step) in case.steps.iter().enumerate() {
            let op = step["op"].as_str().ok_or_else(|| format!("step {i} has no op"))?;
            let context = |e: String| format!("step {} ({op}): {e}", i + 1);
            match op {
                "sleep" => {
                    std::thread::sleep(Duration::from_millis(step["ms"].as_u64().unwrap_or(0)));
                    continue;
                }
                "set_faults" => {
                    let faults: FaultScript =
                        serde_json::from_value(step["server"].clone()).map_err(|e| context(e.to_string()))?;
                    self.server.set_faults(faults);
                    continue;
                }
                _ => {}
            }
            let request = self.request(case, step, op, &mut table).map_err(context)?;
            let started = Instant::now();
            let reply = process.call(request).map_err(context)?;
            let elapsed = started.elapsed();
            check_reply(case, step, &reply, elapsed).map_err(context)?;
        }
        let exit = process.finish();
        // Let the server finish logging the ends of connections the testee just closed.
        std::thread::sleep(Duration::from_millis(50));
        self.check_server(case, &table)?;
        exit
    }

    fn request(&self, case: &Case, step: &Value, op: &str, table: &mut String) -> Result<Value, String> {
        let mut request = step.clone();
        if let Some(obj) = request.as_object_mut() {
            obj.remove("expect");
        }
        match op {
            "create_stream" => {
                if let Some(t) = step["table"].as_str() {
                    *table = t.to_owned();
                }
                request["endpoint"] = json!(self.server.grpc_url());
                request["workspace_url"] = json!(self.server.workspace_url());
                request["table"] = json!(table.clone());
                request["record_type"] = json!(case.record_type);
                if case.record_type == "proto" {
                    request["descriptor_hex"] = json!(hex(&records::record_descriptor().encode_to_vec()));
                }
                if !request["options"].is_object() {
                    request["options"] = json!({});
                }
                request["auth"] = match step["auth"].as_str().unwrap_or("oauth") {
                    "oauth" => json!({"kind": "oauth", "client_id": self.config.client_id,
                                      "client_secret": self.config.client_secret}),
                    "oauth_bad_secret" => json!({"kind": "oauth", "client_id": self.config.client_id,
                                                 "client_secret": "not-the-secret-4711"}),
                    "headers" => json!({"kind": "headers", "headers": [
                        ["authorization", format!("Bearer {}", self.config.static_tokens[0])],
                        ["x-databricks-zerobus-table-name", table.clone()]]}),
                    other => return Err(format!("unknown auth {other:?}")),
                };
            }
            "ingest" => {
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
            _ => {}
        }
        Ok(request)
    }

    fn check_server(&self, case: &Case, table: &str) -> Result<(), String> {
        let expect = &case.server_expect;
        if expect.is_null() {
            return Ok(());
        }
        let err = |m: String| Err(format!("server: {m}"));
        let connections = self.server.connections();
        if let Some(n) = expect["connections"].as_u64() {
            if connections.len() as u64 != n {
                return err(format!("expected {n} connections, saw {}", connections.len()));
            }
        }
        if let Some(ends) = expect["ends"].as_array() {
            let got: Vec<String> = connections.iter().map(|c| end_name(&c.end)).collect();
            let want: Vec<String> = ends.iter().map(|e| e.as_str().unwrap_or_default().to_owned()).collect();
            if got != want {
                return err(format!("connection ends {got:?}, expected {want:?}"));
            }
        }
        let tokens = self.server.token_requests();
        if let Some(n) = expect["token_requests"].as_u64() {
            if tokens.len() as u64 != n {
                return err(format!("expected {n} token requests, saw {}", tokens.len()));
            }
        }
        if expect["oauth_request_shape"].as_bool() == Some(true) {
            let first = tokens.first().ok_or("no token request")?;
            check_oauth_shape(first, &self.config, table)
                .map_err(|e| format!("server: token request: {e}"))?;
        }
        match expect["bearer"].as_str() {
            None => {}
            Some(kind) => {
                let issued: HashSet<String> = tokens.iter().filter_map(|t| t.issued_token.clone()).collect();
                for c in &connections {
                    let auth = c.authorization.clone().unwrap_or_default();
                    let token = auth.strip_prefix("Bearer ").unwrap_or_default();
                    let ok = match kind {
                        "issued" => issued.contains(token),
                        "static" => self.config.static_tokens.iter().any(|t| t == token),
                        _ => false,
                    };
                    if !ok {
                        return err(format!(
                            "connection {} did not carry a {kind} bearer token (authorization {})",
                            c.index,
                            if auth.is_empty() { "missing" } else { "present but wrong" }
                        ));
                    }
                    if c.table_header.as_deref() != Some(table) {
                        return err(format!("connection {} table header {:?}", c.index, c.table_header));
                    }
                }
            }
        }
        if let Some(n) = expect["distinct_tokens"].as_u64() {
            let distinct: HashSet<_> = connections.iter().filter_map(|c| c.authorization.clone()).collect();
            if distinct.len() as u64 != n {
                return err(format!(
                    "expected {n} distinct tokens across connections, saw {}",
                    distinct.len()
                ));
            }
        }
        let received = self.server.records(table);
        if let Some(batches) = expect["batches"].as_array() {
            let got: Vec<u64> =
                received.iter().filter(|r| r.index_in_batch == 0).map(|r| u64::from(r.batch_len)).collect();
            let want: Vec<u64> = batches.iter().filter_map(Value::as_u64).collect();
            if got != want {
                return err(format!("call sizes {got:?}, expected {want:?}"));
            }
        }
        let spec = &expect["records"];
        if spec.is_object() {
            check_records(case, spec, &received).map_err(|e| format!("server: {e}"))?;
        }
        Ok(())
    }

    /// Stops the mock server.
    pub fn shutdown(self) {
        self.runtime.block_on(self.server.shutdown());
    }
}

fn end_name(end: &ConnectionEnd) -> String {
    match end {
        ConnectionEnd::Open => "OPEN".into(),
        ConnectionEnd::ClientHalfClosed => "CLIENT_HALF_CLOSED".into(),
        ConnectionEnd::ClientGone => "CLIENT_GONE".into(),
        ConnectionEnd::ServerStatus(code, _) => format!("SERVER_STATUS_{code}"),
    }
}

fn check_oauth_shape(
    request: &crate::mock::TokenRequestLog,
    config: &MockServerConfig,
    table: &str,
) -> Result<(), String> {
    if request.basic_client_id.as_deref() != Some(config.client_id.as_str()) || !request.basic_secret_matched
    {
        return Err("HTTP Basic credentials missing or wrong".into());
    }
    let form: HashMap<&str, &str> = request.form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let want = [
        ("grant_type", "client_credentials".to_owned()),
        ("scope", "all-apis".to_owned()),
        // The workspace id is the first DNS label of the endpoint host: "127" for 127.0.0.1.
        ("resource", "api://databricks/workspaces/127/zerobusDirectWriteApi".to_owned()),
    ];
    for (k, v) in want {
        if form.get(k) != Some(&v.as_str()) {
            return Err(format!("form field {k} is {:?}, expected {v:?}", form.get(k)));
        }
    }
    let (catalog, rest) = table.split_once('.').ok_or("table")?;
    let schema = rest.split('.').next().unwrap_or_default();
    let details = request.authorization_details.clone().ok_or("no authorization_details")?;
    let expected = json!([
        {"type": "unity_catalog_privileges", "privileges": ["USE CATALOG"], "object_type": "CATALOG",
         "object_full_path": catalog},
        {"type": "unity_catalog_privileges", "privileges": ["USE SCHEMA"], "object_type": "SCHEMA",
         "object_full_path": format!("{catalog}.{schema}")},
        {"type": "unity_catalog_privileges", "privileges": ["SELECT", "MODIFY"], "object_type": "TABLE",
         "object_full_path": table, "operations": ["zerobuswrite"]},
    ]);
    if details != expected {
        return Err(format!("authorization_details {details}, expected {expected}"));
    }
    Ok(())
}

/// Identifies a received record as (seed, seq) and checks its bytes are the generated ones.
fn identify(record_type: &str, payload: &[u8]) -> Result<(u64, u64), String> {
    let (seed, seq, regenerated) = if record_type == "proto" {
        let (seed, seq) = proto_ids(payload).ok_or("a proto record that is not a ConformanceRecord")?;
        (seed, seq, records::proto_record(seed, seq, payload.len()))
    } else {
        let v: Value =
            serde_json::from_slice(payload).map_err(|e| format!("a record that is not JSON: {e}"))?;
        let (Some(seed), Some(seq)) = (v["seed"].as_u64(), v["seq"].as_u64()) else {
            return Err("a JSON record without seed/seq".into());
        };
        (seed, seq, records::json_record(seed, seq, payload.len()).into_bytes())
    };
    if regenerated != payload {
        return Err(format!("record (seed {seed}, seq {seq}) arrived with different bytes"));
    }
    Ok((seed, seq))
}

fn proto_ids(payload: &[u8]) -> Option<(u64, u64)> {
    let mut buf = payload;
    let mut ids = (None, None);
    while !buf.is_empty() {
        let key = prost::encoding::decode_varint(&mut buf).ok()?;
        match key {
            0x08 => ids.0 = Some(prost::encoding::decode_varint(&mut buf).ok()?),
            0x10 => ids.1 = Some(prost::encoding::decode_varint(&mut buf).ok()?),
            0x1a => {
                let len = prost::encoding::decode_varint(&mut buf).ok()? as usize;
                buf = buf.get(len..)?;
            }
            _ => return None,
        }
    }
    Some((ids.0?, ids.1?))
}

fn ranges(spec: &Value) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for r in spec.as_array().into_iter().flatten() {
        let (seed, start, count) =
            (r[0].as_u64().unwrap_or(1), r[1].as_u64().unwrap_or(0), r[2].as_u64().unwrap_or(0));
        out.extend((start..start + count).map(|i| (seed, i)));
    }
    out
}

fn check_records(case: &Case, spec: &Value, received: &[ReceivedRecord]) -> Result<(), String> {
    let mut got = Vec::with_capacity(received.len());
    for r in received {
        got.push((r.connection, identify(&case.record_type, &r.payload)?));
    }
    if let Some(n) = spec["count"].as_u64() {
        if got.len() as u64 != n {
            return Err(format!("expected {n} records, received {}", got.len()));
        }
    }
    if !spec["exactly"].is_null() {
        let want = ranges(&spec["exactly"]);
        let ids: Vec<(u64, u64)> = got.iter().map(|g| g.1).collect();
        if ids != want {
            let first_diff =
                ids.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(ids.len().min(want.len()));
            return Err(format!(
                "expected exactly {} records in order, received {} (first difference at position {first_diff})",
                want.len(),
                ids.len()
            ));
        }
    }
    if !spec["at_least_once"].is_null() {
        let want = ranges(&spec["at_least_once"]);
        let want_set: HashSet<(u64, u64)> = want.iter().copied().collect();
        let mut seen = HashSet::new();
        let mut first_seen = Vec::new();
        let mut last_in_connection: HashMap<u32, (u64, u64)> = HashMap::new();
        for (conn, id) in &got {
            if !want_set.contains(id) {
                return Err(format!("unexpected record {id:?}"));
            }
            if let Some(prev) = last_in_connection.insert(*conn, *id) {
                if prev >= *id {
                    return Err(format!("connection {conn} received {id:?} after {prev:?}: order not kept"));
                }
            }
            if seen.insert(*id) {
                first_seen.push(*id);
            }
        }
        if let Some(missing) = want.iter().find(|id| !seen.contains(id)) {
            return Err(format!("record {missing:?} never arrived ({} of {} did)", seen.len(), want.len()));
        }
        if first_seen != want {
            return Err("records first arrived out of order".into());
        }
    }
    Ok(())
}

fn check_reply(case: &Case, step: &Value, reply: &Value, elapsed: Duration) -> Result<(), String> {
    let expect = &step["expect"];
    let ok = reply["ok"].as_bool() == Some(true);
    if let Some(code) = expect["error"].as_str() {
        if ok {
            return Err(format!("expected error {code}, got success {reply}"));
        }
        let error = &reply["error"];
        if error["code"] != json!(code) {
            return Err(format!("expected error {code}, got {error}"));
        }
        if let Some(r) = expect["retryable"].as_bool() {
            if error["retryable"].as_bool() != Some(r) {
                return Err(format!("expected retryable={r}, got {error}"));
            }
        }
        if let Some(s) = expect["grpc_status"].as_i64() {
            if error["grpc_status"].as_i64() != Some(s) {
                return Err(format!("expected grpc_status {s}, got {error}"));
            }
        }
        let message = error["message"].as_str().unwrap_or_default();
        for s in expect["message_includes"].as_array().into_iter().flatten() {
            let s = s.as_str().unwrap_or_default();
            if !message.contains(s) {
                return Err(format!("error message {message:?} does not mention {s:?}"));
            }
        }
        for s in expect["message_excludes"].as_array().into_iter().flatten() {
            if message.contains(s.as_str().unwrap_or_default()) {
                return Err("error message leaks a value it must not show".into());
            }
        }
    } else if !ok {
        return Err(format!("unexpected error {}", reply["error"]));
    }
    if let Some(ms) = expect["min_duration_ms"].as_u64() {
        if elapsed < Duration::from_millis(ms) {
            return Err(format!(
                "returned after {} ms, expected it to wait at least {ms} ms",
                elapsed.as_millis()
            ));
        }
    }
    if !expect["offsets"].is_null() && reply["offsets"] != expect["offsets"] {
        return Err(format!("offsets {}, expected {}", reply["offsets"], expect["offsets"]));
    }
    if let Some(closed) = expect["closed"].as_bool() {
        if reply["closed"].as_bool() != Some(closed) {
            return Err(format!("closed is {}, expected {closed}", reply["closed"]));
        }
    }
    if let Some(count) = expect["count"].as_u64() {
        if reply["count"].as_u64() != Some(count) {
            return Err(format!("count {}, expected {count}", reply["count"]));
        }
    }
    if let Some(want) = expect["metrics"].as_object() {
        let got = &reply["metrics"];
        for (key, value) in want {
            if let Some(base) = key.strip_suffix("_min") {
                if got[base].as_i64().unwrap_or(i64::MIN) < value.as_i64().unwrap_or(0) {
                    return Err(format!("metric {base} is {}, expected at least {value}", got[base]));
                }
            } else if &got[key] != value {
                return Err(format!("metric {key} is {}, expected {value}", got[key]));
            }
        }
    }
    if expect["callbacks"].is_object() {
        for kind in ["acks", "errors"] {
            let range = &expect["callbacks"][kind];
            let want: Vec<i64> = match (range[0].as_i64(), range[1].as_i64()) {
                (Some(a), Some(b)) => (a..b).collect(),
                _ => Vec::new(),
            };
            let got: Vec<i64> =
                reply[kind].as_array().into_iter().flatten().filter_map(Value::as_i64).collect();
            if got != want {
                return Err(format!("{kind} callbacks {got:?}, expected once per offset in {range}"));
            }
        }
    }
    if let Some(batches) = expect["unacked_batches"].as_array() {
        let got = reply["batches"].as_array().cloned().unwrap_or_default();
        if got.len() != batches.len() {
            return Err(format!("{} unacked batches, expected {}", got.len(), batches.len()));
        }
        for (i, (g, w)) in got.iter().zip(batches).enumerate() {
            let want = ranges(&json!([w]));
            let mut ids = Vec::new();
            for rec in g.as_array().into_iter().flatten() {
                let rec = rec.as_str().unwrap_or_default();
                let bytes = if case.record_type == "proto" { unhex(rec)? } else { rec.as_bytes().to_vec() };
                ids.push(identify(&case.record_type, &bytes)?);
            }
            if ids != want {
                return Err(format!("unacked batch {i} holds {ids:?}, expected {want:?}"));
            }
        }
    }
    Ok(())
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
