//! End-to-end tests of the `zerobus` binary: `serve` runs as a child process and `ingest` runs
//! against the variables it prints, the way a script would use them.

use std::path::PathBuf;
use std::process::Command;

use prost::Message;

mod common;

use common::{scratch, text, Serve, BIN};

fn stats_records(path: &PathBuf, table: &str) -> u64 {
    let stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    stats["tables"][table]["records"].as_u64().expect("table in stats file")
}

#[test]
fn serve_then_ingest_generated_records() {
    let dir = scratch("generate");
    let stats = dir.join("stats.json");
    let serve = Serve::start(&["--stats-file", stats.to_str().unwrap(), "--no-payloads"]);
    assert!(serve.vars["ZEROBUS_ENDPOINT"].starts_with("http://127.0.0.1:"));
    assert!(serve.vars["ZEROBUS_WORKSPACE_URL"].starts_with("http://127.0.0.1:"));
    assert_eq!(serve.vars["ZEROBUS_CLIENT_ID"], "zerobus-dev-client");
    assert_eq!(serve.vars["ZEROBUS_CLIENT_SECRET"], "zerobus-dev-secret");
    assert!(serve.vars["ZEROBUS_TABLES"].split(',').any(|t| t == "main.default.events"));

    let out = serve.ingest("main.default.events", &["--generate", "5000", "--size", "220"], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("queued: 5000  acked: 5000  recoveries: 0  resent: 0  elapsed: "), "{stdout}");
    assert!(stdout.contains(" records/s  ") && stdout.trim_end().ends_with(" MB/s"), "{stdout}");
    // Not a terminal: no progress line, and the secret appears nowhere.
    assert_eq!(text(&out.stderr), "");
    assert!(!stdout.contains("zerobus-dev-secret"));

    let summary = serve.stop();
    assert!(summary.contains("main.default.events"), "{summary}");
    assert_eq!(stats_records(&stats, "main.default.events"), 5000);
    assert_eq!(stats_records(&stats, "main.default.json_table"), 0);
}

#[test]
fn bad_line_fails_before_anything_is_sent() {
    let dir = scratch("badline");
    let stats = dir.join("stats.json");
    let file = dir.join("records.jsonl");
    std::fs::write(&file, "{\"a\":1}\n{\"a\":2}\n{\"a\":3,}\n{\"a\":4}\n").unwrap();
    let serve = Serve::start(&["--stats-file", stats.to_str().unwrap()]);

    let out = serve.ingest("main.default.events", &["--file", file.to_str().unwrap()], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("records.jsonl line 3: not a JSON object"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let missing = dir.join("missing.jsonl");
    let out = serve.ingest("main.default.events", &["--file", missing.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read "), "{}", text(&out.stderr));

    serve.stop();
    assert_eq!(stats_records(&stats, "main.default.events"), 0);
}

#[test]
fn stdin_stops_at_the_first_bad_line() {
    let serve = Serve::start(&[]);
    let input = "{\"a\":1}\n\n{\"a\":2}\n[1, 2]\n{\"a\":4}\n";
    let out = serve.ingest("main.default.events", &["--batch-size", "1"], Some(input));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("<stdin> line 4: not a JSON object: got an array"), "{stderr}");
    assert!(stderr.contains("2 records before it were ingested, 2 acked"), "{stderr}");
    assert!(text(&out.stdout).starts_with("queued: 2  acked: 2"));
    serve.stop();
}

#[test]
fn bad_table_name_is_reported() {
    let serve = Serve::start(&[]);
    let out = serve.ingest("nope", &["--generate", "10"], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("INVALID_ARGUMENT") && stderr.contains("\"nope\""), "{stderr}");

    let out = serve.ingest("main.default.absent", &["--generate", "10"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("main.default.absent"), "{}", text(&out.stderr));
    serve.stop();
}

#[test]
fn proto_records_from_json_lines() {
    let dir = scratch("proto");
    let stats = dir.join("stats.json");
    let descriptor = dir.join("record.desc");
    let record = zerobus_conformance::records::record_descriptor();
    std::fs::write(&descriptor, record.encode_to_vec()).unwrap();
    let set = prost_types::FileDescriptorSet {
        file: vec![prost_types::FileDescriptorProto {
            name: Some("record.proto".into()),
            package: Some("demo".into()),
            message_type: vec![record],
            ..Default::default()
        }],
    };
    let set_file = dir.join("set.desc");
    std::fs::write(&set_file, set.encode_to_vec()).unwrap();
    let lines = dir.join("records.jsonl");
    std::fs::write(&lines, "{\"seed\":1,\"seq\":2,\"pad\":\"x\"}\n{\"seed\":1,\"seq\":3}\n").unwrap();
    let serve = Serve::start(&["--stats-file", stats.to_str().unwrap()]);
    let table = "main.default.proto_table";
    let (d, f) = (descriptor.to_str().unwrap(), lines.to_str().unwrap());

    let out = serve.ingest(table, &["--format", "proto", "--descriptor", d, "--file", f], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("queued: 2  acked: 2"), "{}", text(&out.stdout));

    let s = set_file.to_str().unwrap();
    let args = ["--format", "proto", "--descriptor", s, "--message", "demo.ConformanceRecord", "--file", f];
    let out = serve.ingest(table, &args, None);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // An encoding error names the line and the field.
    std::fs::write(&lines, "{\"seed\":1,\"seq\":2}\n{\"seed\":\"many\",\"seq\":3}\n").unwrap();
    let out = serve.ingest(table, &["--format", "proto", "--descriptor", d, "--file", f], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 2: ") && stderr.contains("`seed`"), "{stderr}");

    serve.stop();
    assert_eq!(stats_records(&stats, table), 4);
}

#[test]
fn usage_errors_and_help_keep_the_secret() {
    let out = Command::new(BIN)
        .args(["ingest", "--help"])
        .env("ZEROBUS_CLIENT_SECRET", "hunter2-very-secret")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(help.contains("ZEROBUS_CLIENT_SECRET") && !help.contains("hunter2"), "{help}");

    let out = Command::new(BIN)
        .args(["ingest", "--endpoint", "http://x", "--workspace-url", "http://x", "--table", "a.b.c"])
        .args(["--client-id", "i", "--client-secret", "s", "--descriptor", "d.desc"])
        .env_remove("ZEROBUS_ENDPOINT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let out = Command::new(BIN).arg("version").output().unwrap();
    assert_eq!(text(&out.stdout).trim(), format!("zerobus {}", zerobus_core::VERSION));
}
