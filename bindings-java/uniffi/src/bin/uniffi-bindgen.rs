//! `uniffi-bindgen generate --library target/debug/libzerobus_uniffi.so --language kotlin ...`
fn main() {
    uniffi::uniffi_bindgen_main()
}
