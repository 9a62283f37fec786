//! Testees: the programs that turn the runner's requests into one binding's API calls, and how
//! a case ended for each.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Longest a testee may take to answer one request before the case fails.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables that choose a proxy; cleared for every testee unless a case sets them.
const PROXY_VARS: [&str; 10] = [
    "grpc_proxy",
    "GRPC_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "no_grpc_proxy",
    "NO_GRPC_PROXY",
    "no_proxy",
    "NO_PROXY",
];

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
pub(crate) struct Process {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    next_id: u64,
}

impl Process {
    pub fn start(testee: &Testee, env: &[(String, String)]) -> Result<Process, String> {
        let mut command = Command::new(&testee.command[0]);
        command.args(&testee.command[1..]);
        for var in PROXY_VARS {
            command.env_remove(var);
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let mut child = command
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

    pub fn call(&mut self, request: Value) -> Result<Value, String> {
        self.call_within(request, REPLY_TIMEOUT)
    }

    /// [`call`](Self::call) with its own bound on the reply.
    pub fn call_within(&mut self, mut request: Value, bound: Duration) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        writeln!(self.stdin, "{request}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| format!("testee stdin closed: {e}"))?;
        let line = self.lines.recv_timeout(bound).map_err(|_| {
            format!("testee did not answer {} within {}s (a hang)", request["op"], bound.as_secs())
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
    pub fn finish(mut self) -> Result<(), String> {
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
