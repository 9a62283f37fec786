//! Compiles `zerobus.proto` with protox (pure Rust), so a machine needs no `protoc`.

fn main() {
    println!("cargo:rerun-if-changed=zerobus.proto");
    let fds = protox::compile(["zerobus.proto"], ["."]).expect("zerobus.proto must compile");
    tonic_prost_build::configure()
        // Record payloads are `Bytes` so the server and tests can hold them without copying.
        .bytes(".")
        .compile_fds(fds)
        .expect("generating Rust code from zerobus.proto");
}
