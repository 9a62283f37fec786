//! `make bench`: measures every surface of the SDK, the published SDK and a raw tonic ceiling
//! against one mock server in one run, and writes `BENCHMARKS.md`.
//!
//! - [`driver`]: the driver contract of `bench/DRIVER.md`, shared by the Rust drivers;
//! - [`runner`]: starts the server, runs each driver per case, measures CPU, RSS and the server's
//!   CPU from outside, and writes the report;
//! - [`taxi`]: the taxi-shaped table and rows of the typed-encoding runs;
//! - `typed`: the typed encoder against prost-reflect;
//! - `taxi_surfaces`: the taxi rows on every surface as JSON, typed PROTO and Arrow.
#![allow(missing_docs)]

pub mod driver;
pub mod runner;
pub mod taxi;
mod taxi_surfaces;
mod typed;
