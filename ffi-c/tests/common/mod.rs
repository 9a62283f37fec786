//! What the C test harnesses (`null_args.rs`, `handles.rs`) share: finding the static library,
//! compiling a C program against it, and running commands.
//!
//! The C programs link `target/debug/libzerobus.a`, which `cargo test` does not promise to build:
//! `make unit` (and `make test`) build it first with `cargo build -p zerobus-ffi`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$CARGO_TARGET_DIR/debug`, or the workspace's `target/debug`.
pub fn lib_dir() -> PathBuf {
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
pub fn static_lib() -> PathBuf {
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

pub fn tool(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned())
}

pub fn run(cmd: &mut Command) -> std::process::Output {
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

/// Compiles `tests/c/<name>.c` as strict C99 against the static library, to
/// `$CARGO_TARGET_TMPDIR/<name>`, and returns the executable.
pub fn compile_c(name: &str) -> PathBuf {
    let lib = static_lib();
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let cc = tool("CC", "cc");
    let mut compile = Command::new(&cc);
    compile
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-I"])
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests").join("c").join(format!("{name}.c")))
        .arg(&lib)
        // What `cargo rustc -p zerobus-ffi --lib --crate-type staticlib -- --print
        // native-static-libs` lists for this target.
        .args(["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc", "-o"])
        .arg(&exe);
    run(&mut compile);
    exe
}

/// Every function `zerobus.h` declares, with its parameter list as written.
pub fn declared_functions() -> Vec<(String, String)> {
    let header = std::fs::read_to_string(crate_dir().join("include").join("zerobus.h")).expect("zerobus.h");
    let mut out = Vec::new();
    let mut lines = header.lines();
    while let Some(line) = lines.next() {
        // Declarations start at column 0 with a return type and have `zerobus_…(` on that line.
        if !line.starts_with(|c: char| c.is_ascii_alphabetic()) || line.starts_with("typedef") {
            continue;
        }
        let Some(open) = line.find('(') else { continue };
        let name = line[..open].rsplit([' ', '*']).next().unwrap_or_default();
        if !name.starts_with("zerobus_") {
            continue;
        }
        let mut params = line[open + 1..].to_owned();
        while !params.contains(");") {
            match lines.next() {
                Some(next) => {
                    params.push(' ');
                    params.push_str(next.trim());
                }
                None => break,
            }
        }
        let params = params.split(");").next().unwrap_or_default().to_owned();
        out.push((name.to_owned(), params));
    }
    out
}
