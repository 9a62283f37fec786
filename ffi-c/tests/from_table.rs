//! Streams from their table and table schemas seen from C: `tests/c/from_table.c` reads declared
//! tables' schemas (every accessor, both authentications, every failure) and creates PROTO
//! streams with no descriptor, ingesting JSON text through every JSON call; then this test checks
//! that the server received exactly the records the typed encoder makes of that text.
//!
//! The C program links `target/debug/libzerobus.a`, which `cargo test` does not promise to build:
//! `make unit` (and `make test`) build it first with `cargo build -p zerobus-ffi`.

mod common;

use std::process::Command;

use common::{compile_c, run};
use zerobus_conformance::mock::zerobus_schema::{parse_table, TypedEncoder};
use zerobus_conformance::mock::{MockServer, MockServerConfig};

const AIR: &str = "main.default.air_quality(device_name STRING NOT NULL, temp INT, humidity BIGINT, \
     at TIMESTAMP, tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)";
const NESTED: &str = "main.default.nested(id INT, m ARRAY<ARRAY<INT>>)";
const ODD: &str = "main.default.odd(id INT, `my col` STRING)";

/// What from_table.c ingests into main.default.air_quality, in order (R8 through the byte call,
/// encoded by the generic JSON encoder from the schema's descriptor; R9 on a second stream).
const RECEIVED: [&str; 10] = [
    r#"{"device_name":"sensor-1","temp":21,"humidity":40,"at":"2026-01-02T03:04:05Z","tags":["a","b"],"loc":{"lat":52.5,"lon":13.4}}"#,
    r#"{"device_name":"sensor-2","temp":-3}"#,
    r#"{"device_name":"sensor-3","at":1700000000000000}"#,
    r#"{"device_name":"sensor-4","loc":null}"#,
    r#"{"device_name":"sensor-5","humidity":"9007199254740993"}"#,
    r#"{"device_name":"sensor-6"}"#,
    r#"{"device_name":"sensor-7","tags":[]}"#,
    r#"{"device_name":"sensor-8","temp":2147483647}"#,
    r#"{"device_name":"sensor-9","temp":9}"#,
    r#"{"device_name":"from-a-provider"}"#,
];

#[test]
fn streams_from_the_table_encode_json_text_by_its_columns() {
    let exe = compile_c("from_table");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let air = parse_table(AIR).unwrap();
    let config = MockServerConfig {
        table_schemas: vec![air.clone(), parse_table(NESTED).unwrap(), parse_table(ODD).unwrap()],
        ..MockServerConfig::default()
    };
    let server = runtime.block_on(MockServer::start(config.clone())).expect("mock server");
    let output = run(Command::new(&exe).args([
        server.grpc_url(),
        server.workspace_url(),
        config.client_id.clone(),
        config.client_secret.clone(),
    ]));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    print!("{}", String::from_utf8_lossy(&output.stdout));

    let encoder = TypedEncoder::new(&air).unwrap();
    let want: Vec<Vec<u8>> = RECEIVED
        .iter()
        .map(|json| {
            let mut out = Vec::new();
            encoder.encode(json, &mut out).unwrap();
            out
        })
        .collect();
    let got: Vec<Vec<u8>> =
        server.records("main.default.air_quality").into_iter().map(|r| r.payload.to_vec()).collect();
    assert_eq!(got, want, "the server received other records than the typed encoder makes of the JSON");
    runtime.block_on(server.shutdown());
}
