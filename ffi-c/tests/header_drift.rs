//! The committed `include/zerobus.h` must equal a fresh cbindgen generation. Regenerate with
//! `make header` (runs this test with ZEROBUS_UPDATE_HEADER=1).

use std::path::PathBuf;

#[test]
fn committed_header_matches_generated() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = crate_dir.join("include").join("zerobus.h");
    if std::env::var_os("ZEROBUS_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/zerobus.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/zerobus.h differs from what cbindgen generates from src/: run `make header` and commit it"
    );
}
