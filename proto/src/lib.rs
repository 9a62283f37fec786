//! The Zerobus Ingest wire contract: every message of the service's `.proto` (package
//! `databricks.zerobus`) and the gRPC client and server for service `Zerobus`.
//!
//! The `.proto` lives beside this crate (`proto/zerobus.proto`) and is compiled at build time by
//! protox, so no `protoc` is needed. The SDK's hot path does not use these message types to send
//! records (it writes the bytes itself, see `zerobus-core`'s `wire` module); they serve the mock
//! server, tests and the control messages.
#![allow(missing_docs, clippy::all)]

tonic::include_proto!("databricks.zerobus");

/// Full gRPC path of the stable bidirectional ingest RPC.
pub const EPHEMERAL_STREAM_PATH: &str = "/databricks.zerobus.Zerobus/EphemeralStream";
