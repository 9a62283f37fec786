//! Helpers shared by the `zerobus` binary's end-to-end tests: a `zerobus serve` child process
//! and `zerobus ingest` runs against the variables it prints.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_zerobus");

/// A scratch directory unique to one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `zerobus serve`, stopped by closing its stdin.
pub struct Serve {
    pub child: Child,
    stdin: Option<ChildStdin>,
    pub vars: HashMap<String, String>,
}

impl Serve {
    pub fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--exit-on-stdin-close")
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("zerobus serve starts");
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut vars = HashMap::new();
        for _ in 0..5 {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            let (k, v) = line.trim_end().split_once('=').expect("KEY=value line");
            vars.insert(k.to_owned(), v.to_owned());
        }
        Serve { child, stdin, vars }
    }

    /// `zerobus ingest` with the server's variables in its environment, as a command to run.
    pub fn ingest_command(&self, table: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("ingest").args(args).env("ZEROBUS_TABLE", table);
        for key in ["ENDPOINT", "WORKSPACE_URL", "CLIENT_ID", "CLIENT_SECRET"] {
            let key = format!("ZEROBUS_{key}");
            cmd.env(&key, &self.vars[&key]);
        }
        cmd
    }

    /// Kills the server at once (no clean shutdown), as a crash or a restart would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdin = None;
    }

    /// `zerobus ingest` with the server's variables in its environment.
    pub fn ingest(&self, table: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.ingest_command(table, args);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("zerobus ingest starts");
        if let Some(text) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Closes stdin and waits for a clean exit; returns serve's stderr.
    pub fn stop(mut self) -> String {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "serve exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "serve did not stop after stdin closed");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut err = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err).unwrap();
        err
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // Only when a test failed before `stop`: don't leave the child running.
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Two loopback ports free right now, for a server that must come back on the same ones.
pub fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

/// `key: N` from `zerobus ingest`'s summary line.
pub fn field(summary: &str, key: &str) -> u64 {
    let rest = summary.split(&format!("{key}: ")).nth(1).unwrap_or_else(|| panic!("no {key} in {summary:?}"));
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// Waits for `child` to exit, killing it and failing the test after `bound`.
pub fn wait(child: &mut Child, bound: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("zerobus ingest did not finish within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
