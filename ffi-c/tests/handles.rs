//! Handles seen from C: `tests/c/handles.c` calls every entry point of `zerobus.h` that takes a
//! handle with freed, freed-then-reused, wrong-typed and forged handles, uses a closed stream,
//! frees a stream while threads ingest on it, hands JSON text to a PROTO stream and lets a
//! headers provider fail, against a mock server. Under valgrind too, when it is installed.
//!
//! The C program links `target/debug/libzerobus.a`, which `cargo test` does not promise to build:
//! `make unit` (and `make test`) build it first with `cargo build -p zerobus-ffi`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{compile_c, crate_dir, declared_functions, run};
use zerobus_conformance::mock::zerobus_schema::parse_table;
use zerobus_conformance::mock::{FaultScript, MockServer, MockServerConfig, StreamAction, StreamFault};

/// The C handle types (every `struct zerobus_<name> *` parameter is a handle, except the
/// `zerobus_error **` out-parameter and the caller-owned `zerobus_metrics`).
const HANDLE_TYPES: [&str; 12] = [
    "zerobus_sdk",
    "zerobus_sdk_builder",
    "zerobus_stream",
    "zerobus_stream_options",
    "zerobus_json_encoder",
    "zerobus_batches",
    "zerobus_buffer",
    "zerobus_error",
    "zerobus_headers",
    "zerobus_table_schema",
    "zerobus_arrow_stream",
    "zerobus_arrow_stream_options",
];

/// Whether a parameter list takes a handle (a single-pointer parameter of a handle type).
fn takes_handle(params: &str) -> bool {
    params.split(',').any(|p| {
        let p = p.trim().trim_start_matches("const ").trim_start_matches("struct ");
        HANDLE_TYPES.iter().any(|t| {
            p.strip_prefix(t)
                .map(|rest| rest.trim_start().starts_with('*') && !rest.trim_start().starts_with("**"))
                .unwrap_or(false)
        })
    })
}

/// The program, compiled once per test process.
fn exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile_c("handles"))
}

/// Runs `program args…` (the C program's arguments appended) against a fresh mock server whose
/// first connection stores records but never acknowledges them; every later one acks. It declares
/// the columns of one more table, for table schema handles.
fn run_against_mock(program: &mut Command) -> std::process::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let typed = "main.default.typed";
    let config = MockServerConfig {
        table_schemas: vec![parse_table(&format!("{typed}(id BIGINT NOT NULL)")).unwrap()],
        ..MockServerConfig::default()
    };
    let server = runtime.block_on(MockServer::start(config.clone())).expect("mock server");
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: Some(1),
            action: StreamAction::WithholdAcksAfter { messages: 0 },
        }],
        ..FaultScript::default()
    });
    let output = run(program.args([
        server.grpc_url(),
        server.workspace_url(),
        config.client_id.clone(),
        config.client_secret.clone(),
        "main.default.events".to_owned(),
        typed.to_owned(),
    ]));
    runtime.block_on(server.shutdown());
    output
}

#[test]
fn handles_c_calls_every_entry_point_that_takes_a_handle() {
    let source = std::fs::read_to_string(crate_dir().join("tests").join("c").join("handles.c")).unwrap();
    let with_handles: Vec<String> = declared_functions()
        .into_iter()
        .filter(|(_, params)| takes_handle(params))
        .map(|(name, _)| name)
        .collect();
    assert!(
        with_handles.len() > 50,
        "found only {} functions taking a handle in zerobus.h",
        with_handles.len()
    );
    for f in ["zerobus_stream_free", "zerobus_headers_add", "zerobus_error_code", "zerobus_batches_record"] {
        assert!(with_handles.iter().any(|n| n == f), "{f} not recognised as taking a handle");
    }
    for f in ["zerobus_version", "zerobus_sdk_new", "zerobus_sdk_builder_new", "zerobus_json_encoder_new"] {
        assert!(!with_handles.iter().any(|n| n == f), "{f} takes no handle");
    }
    let missing: Vec<&String> = with_handles.iter().filter(|f| !source.contains(&format!("{f}("))).collect();
    assert!(missing.is_empty(), "tests/c/handles.c never calls {missing:?}");
}

#[test]
fn dead_reused_wrong_and_forged_handles_are_refused() {
    let output = run_against_mock(&mut Command::new(exe()));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    print!("{}", String::from_utf8_lossy(&output.stdout));
}

/// The same program under valgrind's memcheck: no invalid access, no definite leak, in any of
/// the checks (the free racing six ingesting threads included).
#[test]
fn handles_under_valgrind() {
    let valgrind =
        std::env::var_os("VALGRIND").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("valgrind"));
    if Command::new(&valgrind).arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("valgrind is not installed: skipping the valgrind run of tests/c/handles.c");
        return;
    }
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("handles.valgrind.log");
    let _ = std::fs::remove_file(&log);
    let mut cmd = Command::new(&valgrind);
    cmd.args([
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--show-leak-kinds=definite",
        "--error-exitcode=99",
    ])
    .arg(format!("--log-file={}", log.display()))
    .arg(exe());
    let output = run_against_mock(&mut cmd);
    print!("{}", String::from_utf8_lossy(&output.stdout));
    let report =
        std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("no valgrind log {}: {e}", log.display()));
    assert!(report.contains("ERROR SUMMARY: 0 errors"), "valgrind found errors:\n{report}");
}
