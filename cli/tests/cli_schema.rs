//! End-to-end tests of tables with declared columns: `zerobus serve --table 'DEF'`, then
//! `zerobus schema` prints the table's .proto and `zerobus ingest --format proto` writes JSON lines
//! to it with nothing else given.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use prost::Message;

mod common;

use common::{scratch, text, Serve, BIN};

const AIR: &str = "main.default.air_quality";
const AIR_DEF: &str = "main.default.air_quality(device_name STRING NOT NULL, temp INT, humidity BIGINT, \
     at TIMESTAMP, tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)";

/// `zerobus <args>` with the server's variables in its environment.
fn run(serve: &Serve, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("ZEROBUS_TABLE").stdin(Stdio::null());
    for key in ["ENDPOINT", "WORKSPACE_URL", "CLIENT_ID", "CLIENT_SECRET"] {
        let key = format!("ZEROBUS_{key}");
        cmd.env(&key, &serve.vars[&key]);
    }
    cmd.output().unwrap()
}

fn stats_records(path: &Path, table: &str) -> u64 {
    let stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    stats["tables"][table]["records"].as_u64().expect("table in stats file")
}

/// Fields without `json_name`, which protoc fills in and the mapping leaves out.
fn without_json_names(mut d: prost_types::DescriptorProto) -> prost_types::DescriptorProto {
    for f in &mut d.field {
        f.json_name = None;
    }
    d.nested_type = d.nested_type.into_iter().map(without_json_names).collect();
    d
}

#[test]
fn schema_prints_a_proto_that_compiles_to_the_tables_message() {
    let dir = scratch("schema-proto");
    let serve = Serve::start(&["--table", AIR_DEF]);
    assert!(serve.vars["ZEROBUS_TABLES"].split(',').any(|t| t == AIR), "{:?}", serve.vars);
    let desc_out = dir.join("air.desc");
    let out = run(&serve, &["schema", AIR, "--descriptor-out", desc_out.to_str().unwrap()]);
    let proto = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(proto.contains("syntax = \"proto2\";"), "{proto}");
    assert!(proto.contains("required string device_name = 1;"), "{proto}");

    let file = dir.join("air_quality.proto");
    std::fs::write(&file, &proto).unwrap();
    let compiled =
        protox::compile(["air_quality.proto"], [&dir]).unwrap_or_else(|e| panic!("{e:?}\n{proto}"));
    let message = compiled.file[0].message_type[0].clone();
    let table = zerobus_schema::parse_table(AIR_DEF).unwrap();
    let expected = zerobus_schema::descriptor(&table).unwrap();
    assert_eq!(without_json_names(message), expected);

    let written = prost_types::FileDescriptorSet::decode(&std::fs::read(&desc_out).unwrap()[..]).unwrap();
    assert_eq!(written, zerobus_schema::file_descriptor_set(&table).unwrap());

    // The table name may come from the environment, as for `ingest`.
    let mut cmd = Command::new(BIN);
    cmd.arg("schema").env("ZEROBUS_TABLE", AIR);
    for key in ["ENDPOINT", "WORKSPACE_URL", "CLIENT_ID", "CLIENT_SECRET"] {
        let key = format!("ZEROBUS_{key}");
        cmd.env(&key, &serve.vars[&key]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), proto);
    serve.stop();
}

#[test]
fn ingest_proto_from_the_table_needs_nothing_else() {
    let dir = scratch("schema-ingest");
    let stats = dir.join("stats.json");
    let rows = dir.join("rows.jsonl");
    std::fs::write(
        &rows,
        concat!(
            r#"{"device_name":"a","temp":21,"humidity":40,"at":"2024-05-01T12:00:00Z","tags":["indoor","lab"],"loc":{"lat":52.5,"lon":13.4}}"#,
            "\n",
            r#"{"device_name":"b","at":1714564800000000}"#,
            "\n\n",
            r#"{"device_name":"c","temp":null,"tags":[],"loc":null,"at":"2024-05-01T14:00:00.5+02:00"}"#,
            "\n",
        ),
    )
    .unwrap();
    let serve = Serve::start(&["--table", AIR_DEF, "--stats-file", stats.to_str().unwrap()]);
    let file = rows.to_str().unwrap();
    for batch in ["1000", "1"] {
        let out = serve.ingest(AIR, &["--format", "proto", "--file", file, "--batch-size", batch], None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("queued: 3  acked: 3"), "{}", text(&out.stdout));
    }

    // A line that does not fit the table names its input line and column; the lines before it
    // are ingested, as a bad line of a JSON stream leaves them.
    std::fs::write(
        &rows,
        concat!(
            r#"{"device_name":"d"}"#,
            "\n",
            r#"{"device_name":"e","loc":{"lat":1.5}}"#,
            "\n",
            r#"{"device_name":"f","loc":{"lat":"north"}}"#,
            "\n",
            r#"{"device_name":"g"}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = serve.ingest(AIR, &["--format", "proto", "--file", file], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rows.jsonl line 3: ") && stderr.contains("loc.lat"), "{stderr}");
    assert!(stderr.contains("the 2 records before it were ingested, 2 acked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // A missing NOT NULL column, one record per call.
    std::fs::write(&rows, "{\"device_name\":\"h\"}\n{\"temp\":3}\n").unwrap();
    let out = serve.ingest(AIR, &["--format", "proto", "--file", file, "--batch-size", "1"], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rows.jsonl line 2: ") && stderr.contains("device_name"), "{stderr}");

    serve.stop();
    assert_eq!(stats_records(&stats, AIR), 3 + 3 + 2 + 1);
}

#[test]
fn unknown_tables_are_named() {
    let serve = Serve::start(&["--table", AIR_DEF]);
    let out = run(&serve, &["schema", "main.default.nope"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("main.default.nope"), "{stderr}");
    assert!(stderr.contains("NOT_FOUND"), "{stderr}");
    assert_eq!(text(&out.stdout), "");

    // A table that takes records but has no declared columns has no schema to read either.
    let out = serve.ingest("main.default.events", &["--format", "proto"], Some("{\"a\":1}\n"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("main.default.events") && stderr.contains("NOT_FOUND"), "{stderr}");
    assert!(stderr.contains("pass --descriptor FILE, or use --format json"), "{stderr}");
    serve.stop();
}

#[test]
fn failed_records_of_a_stream_from_its_table_are_written_as_json_lines() {
    let dir = scratch("schema-failed");
    let failed = dir.join("failed.jsonl");
    let serve = Serve::start(&["--table", AIR_DEF, "--withhold-acks"]);
    let mut ingest = serve
        .ingest_command(
            AIR,
            &["--format", "proto", "--no-recovery", "--failed-records", failed.to_str().unwrap()],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = [r#"{"device_name":"a","temp":1}"#, r#"{"device_name":"b","at":"2024-05-01T12:00:00Z"}"#];
    let mut stdin = ingest.stdin.take().unwrap();
    {
        use std::io::Write;
        writeln!(stdin, "{}\n{}", lines[0], lines[1]).unwrap();
        stdin.flush().unwrap();
    }
    // Sent (a partial call goes out once input pauses) and never acked; then the server dies.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    serve.kill();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(stdin);
    let out = ingest.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the 2 unacknowledged records are in"), "{stderr}");
    assert!(stderr.contains("re-ingest them with --file"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&failed).unwrap(), format!("{}\n{}\n", lines[0], lines[1]));
}

#[test]
fn tables_files_and_bad_definitions() {
    let dir = scratch("schema-files");
    let tables = dir.join("tables.sql");
    std::fs::write(
        &tables,
        "-- two tables\nmain.sales.orders(id BIGINT NOT NULL, amount DECIMAL(10,2));\n\
         main.sales.items(order_id BIGINT, attrs MAP<STRING, STRING>)\n",
    )
    .unwrap();
    let serve = Serve::start(&["--tables-file", tables.to_str().unwrap(), "--table", "main.x.plain"]);
    let names: Vec<&str> = serve.vars["ZEROBUS_TABLES"].split(',').collect();
    for t in ["main.sales.orders", "main.sales.items", "main.x.plain", "main.default.events"] {
        assert!(names.contains(&t), "{t} in {names:?}");
    }
    let out = run(&serve, &["schema", "main.sales.items"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("map<string, string> attrs = 2;"), "{}", text(&out.stdout));
    serve.stop();

    // A bad --table definition is a usage error carrying the parser's message.
    let out = Command::new(BIN).args(["serve", "--table", "main.default.t(id BIGNUM)"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown type BIGNUM"), "{stderr}");

    // A bad tables file fails at start, naming the file.
    std::fs::write(&tables, "main.a.b(x INT)\nmain.a.c(y INT,\n").unwrap();
    let out = Command::new(BIN).args(["serve", "--tables-file", tables.to_str().unwrap()]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: tables file ") && stderr.contains("tables.sql"), "{stderr}");

    // The same table twice.
    let out = Command::new(BIN)
        .args(["serve", "--table", "main.a.b(x INT)", "--table", "main.a.b(y INT)"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("main.a.b is defined twice"), "{}", text(&out.stderr));
}
