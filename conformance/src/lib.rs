//! Conformance kit for the Zerobus SDKs: a mock Zerobus server (real gRPC and a real HTTP OAuth
//! token endpoint on loopback, with scripted faults), the deterministic record generator shared
//! with every testee, and the runner that drives testees through the cases.
#![warn(missing_docs)]

pub mod chaos;
pub mod fault_proxy;
pub mod mock;
pub mod proto_json;
pub mod records;
pub mod runner;
