//! The C ABI seen from C: `tests/c/null_args.c` calls every function of `zerobus.h` with NULL
//! for each handle, buffer and string parameter, against a mock server; and the header must
//! compile as C++ (and the C example as C99).
//!
//! The C program links `target/debug/libzerobus.a`, which `cargo test` does not promise to build:
//! `make unit` (and `make test`) build it first with `cargo build -p zerobus-ffi`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use zerobus_conformance::mock::{FaultScript, MockServer, MockServerConfig, StreamAction, StreamFault};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$CARGO_TARGET_DIR/debug`, or the workspace's `target/debug`.
fn lib_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("..").join("target"));
    target.join("debug")
}

/// The newest modification time of any file under `dir`.
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() { self::newest(&path) } else { entry.metadata().ok()?.modified().ok() };
        newest = newest.max(time);
    }
    newest
}

/// The static library, or a panic that says how to build it.
fn static_lib() -> PathBuf {
    let lib = lib_dir().join("libzerobus.a");
    let Ok(meta) = std::fs::metadata(&lib) else {
        panic!(
            "{} is missing: build it first with `cargo build -p zerobus-ffi` (`make unit` and `make test` do)",
            lib.display()
        );
    };
    let built = meta.modified().ok();
    let sources = [crate_dir().join("src"), crate_dir().join("..").join("core").join("src")];
    if let (Some(built), Some(src)) = (built, sources.iter().filter_map(|d| newest(d)).max()) {
        if src > built {
            eprintln!(
                "warning: {} is older than the sources; this test checks the library as last built \
                 (run `cargo build -p zerobus-ffi`)",
                lib.display()
            );
        }
    }
    lib
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned())
}

fn run(cmd: &mut Command) -> std::process::Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

/// Every function `zerobus.h` declares.
fn declared_functions() -> Vec<String> {
    let header = std::fs::read_to_string(crate_dir().join("include").join("zerobus.h")).expect("zerobus.h");
    let mut names = Vec::new();
    for line in header.lines() {
        // Declarations start at column 0 with a return type and have `zerobus_…(` on that line.
        if line.starts_with(|c: char| c.is_ascii_alphabetic()) && !line.starts_with("typedef") {
            if let Some(open) = line.find('(') {
                let name = line[..open].rsplit([' ', '*']).next().unwrap_or_default();
                if name.starts_with("zerobus_") {
                    names.push(name.to_owned());
                }
            }
        }
    }
    names
}

#[test]
fn null_args_c_calls_every_declared_function() {
    let source = std::fs::read_to_string(crate_dir().join("tests").join("c").join("null_args.c")).unwrap();
    let declared = declared_functions();
    assert!(declared.len() > 50, "parsed only {} functions from zerobus.h", declared.len());
    let missing: Vec<&String> = declared.iter().filter(|f| !source.contains(&format!("{f}("))).collect();
    assert!(missing.is_empty(), "tests/c/null_args.c never calls {missing:?}");
}

#[test]
fn every_function_rejects_null_arguments() {
    let lib = static_lib();
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let exe = out_dir.join("null_args");
    let cc = tool("CC", "cc");
    let mut compile = Command::new(&cc);
    compile
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-I"])
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests").join("c").join("null_args.c"))
        .arg(&lib)
        // What `cargo rustc -p zerobus-ffi --lib --crate-type staticlib -- --print
        // native-static-libs` lists for this target.
        .args(["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc", "-o"])
        .arg(&exe);
    run(&mut compile);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = MockServerConfig::default();
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
fn example_compiles_as_c99() {
    let cc = tool("CC", "cc");
    run(Command::new(&cc)
        .args(["-fsyntax-only", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("examples").join("ingest_json.c")));
}
