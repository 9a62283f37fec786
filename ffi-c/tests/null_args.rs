//! The C ABI seen from C: `tests/c/null_args.c` calls every function of `zerobus.h` with NULL
//! for each handle, buffer and string parameter, against a mock server (with one declared table,
//! for the schema calls); and the header must
//! compile as C++ (and the C examples as C99).
//!
//! The C program links `target/debug/libzerobus.a`, which `cargo test` does not promise to build:
//! `make unit` (and `make test`) build it first with `cargo build -p zerobus-ffi`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{compile_c, crate_dir, declared_functions, run, tool};
use zerobus_conformance::mock::zerobus_schema::parse_table;
use zerobus_conformance::mock::{FaultScript, MockServer, MockServerConfig, StreamAction, StreamFault};

#[test]
fn null_args_c_calls_every_declared_function() {
    let source = std::fs::read_to_string(crate_dir().join("tests").join("c").join("null_args.c")).unwrap();
    let declared: Vec<String> = declared_functions().into_iter().map(|(name, _)| name).collect();
    assert!(declared.len() > 50, "parsed only {} functions from zerobus.h", declared.len());
    let missing: Vec<&String> = declared.iter().filter(|f| !source.contains(&format!("{f}("))).collect();
    assert!(missing.is_empty(), "tests/c/null_args.c never calls {missing:?}");
}

#[test]
fn every_function_rejects_null_arguments() {
    let exe = compile_c("null_args");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // A declared table, for the schema calls and streams from the table.
    let typed = "main.default.typed";
    let config = MockServerConfig {
        table_schemas: vec![parse_table(&format!("{typed}(id BIGINT NOT NULL)")).unwrap()],
        ..MockServerConfig::default()
    };
    let server = runtime.block_on(MockServer::start(config.clone())).expect("mock server");
    // Store every record and never acknowledge one, so the C program finds them unacked.
    server.set_faults(FaultScript {
        streams: vec![StreamFault {
            connection: None,
            action: StreamAction::WithholdAcksAfter { messages: 0 },
        }],
        ..FaultScript::default()
    });
    let output = run(Command::new(&exe).args([
        server.grpc_url(),
        server.workspace_url(),
        config.client_id.clone(),
        config.client_secret.clone(),
        "main.default.events".to_owned(),
        typed.to_owned(),
    ]));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    print!("{}", String::from_utf8_lossy(&output.stdout));
    runtime.block_on(server.shutdown());
}

#[test]
fn header_compiles_as_cpp() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let source = dir.join("zerobus_header_check.cpp");
    std::fs::write(
        &source,
        "#include \"zerobus.h\"\n\
         // Every declaration must have C linkage and use only C++-compatible types.\n\
         extern \"C\" { typedef const char *(*version_fn)(void); }\n\
         static version_fn check_version = &zerobus_version;\n\
         int main() { zerobus_metrics m = zerobus_metrics(); (void)m; return check_version() ? 0 : 1; }\n",
    )
    .unwrap();
    let cxx = tool("CXX", "g++");
    run(Command::new(&cxx)
        .args(["-fsyntax-only", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(crate_dir().join("include"))
        .arg(&source));
}

#[test]
fn examples_compile_as_c99() {
    let cc = tool("CC", "cc");
    for example in ["ingest_json.c", "from_table.c"] {
        run(Command::new(&cc)
            .args(["-fsyntax-only", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
            .arg(crate_dir().join("include"))
            .arg(crate_dir().join("examples").join(example)));
    }
}
