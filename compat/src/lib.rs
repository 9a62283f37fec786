//! Compatibility harness between this workspace's mock Zerobus server and the **published** Rust
//! client, `databricks-zerobus-ingest-sdk` from the registry (the version pinned in `Cargo.toml`).
//!
//! The crate exists for two reasons:
//! - so the mock server (`zerobus_conformance::mock`) is continuously checked against the client
//!   the real service is used with (see `tests/compat_published_client.rs`): if the mock drifts
//!   from the wire contract, these tests break;
//! - so benchmarks (issue 7) can run the published client as the peer of our server or next to
//!   our own client, through [`plaintext_sdk`].
//!
//! It is not part of the default members: building it pulls the published client's dependency
//! tree (reqwest, rustls, its own protoc).

use std::sync::Arc;

pub use databricks_zerobus_ingest_sdk as published;
use databricks_zerobus_ingest_sdk::{NoTlsConfig, ZerobusSdkBuilder};

/// A published-client SDK builder for a local plaintext server: `grpc_url` and `workspace_url`
/// are `http://host:port` (e.g. `MockServer::grpc_url()` / `workspace_url()`). Add options, then
/// `.build()`.
///
/// Plaintext needs the published crate's `testing` feature: `NoTlsConfig` (2.x and 3.x; 3.x also
/// spells it `no_tls()`). The connector factory that answers `None` pins a direct connection, so
/// `grpc_proxy`/`https_proxy` variables in the environment can't route loopback traffic through a
/// proxy.
pub fn plaintext_sdk(grpc_url: &str, workspace_url: &str) -> ZerobusSdkBuilder {
    ZerobusSdkBuilder::new()
        .endpoint(grpc_url)
        .unity_catalog_url(workspace_url)
        .tls_config(Arc::new(NoTlsConfig))
        .connector_factory(Arc::new(|_host: &str| None))
}
