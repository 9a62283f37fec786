//! # zerobus-core
//!
//! The Zerobus Ingest client core: everything that can go wrong between an application and a
//! Delta table lives here (OAuth, TLS, channels, streams, offsets, acks, backpressure, flush and
//! close, recovery, error classification), and every language binding reaches it.
//!
//! ```no_run
//! use zerobus_core::{RecordType, StreamConfigurationOptions, TableProperties, ZerobusSdk};
//!
//! # async fn run() -> zerobus_core::ZerobusResult<()> {
//! let sdk = ZerobusSdk::new("https://1234.zerobus.us-west-2.cloud.databricks.com",
//!                           "https://my-workspace.cloud.databricks.com")?;
//! let options = StreamConfigurationOptions { record_type: RecordType::Json, ..Default::default() };
//! let stream = sdk
//!     .create_stream(TableProperties::new("main.default.events"), "client-id", "secret", options)
//!     .await?;
//! let offset = stream.ingest_record_offset(r#"{"id": 1}"#).await?;
//! stream.wait_for_offset(offset).await?;
//! stream.close().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod arrow_columns;
mod arrow_stream;
mod auth;
mod callbacks;
pub mod encode;
mod error;
mod flight;
mod ipc_body;
mod json_check;
mod options;
mod proxy;
mod retry;
mod sdk;
mod stream;
mod table_schema;
mod transport;
mod wire;

pub use arrow_stream::{
    ArrowStreamConfigurationOptions, ArrowTableProperties, ZerobusArrowStream, DEFAULT_CONNECTION_TIMEOUT_MS,
    DEFAULT_MAX_INFLIGHT_BATCHES,
};
pub use auth::HeadersProvider;
pub use encode::{EncodeError, JsonToProto};
pub use error::{ErrorCode, ZerobusError, ZerobusResult};
pub use flight::{batches_to_ipc, schema_from_ipc, IpcCompression};
pub use options::{
    AckCallback, RecordType, StreamConfigurationOptions, TableProperties, DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_MAX_INFLIGHT_REQUESTS, DEFAULT_RECOVERY_BACKOFF_MAX_MS, MAX_CALL_PAYLOAD_BYTES, MAX_OPTION_MS,
};
pub use sdk::{ZerobusSdk, ZerobusSdkBuilder, SDK_NAME, VERSION};
pub use stream::{PendingIngest, Queued, RecordRef, StreamMetrics, ZerobusStream};

/// Table schemas: Delta types, the proto2 / Arrow mappings, the typed JSON encoder.
pub use zerobus_schema as schema;
pub use zerobus_schema::{TableSchema, TypedError};

/// The arrow crates core builds on (one major across the workspace), so callers build batches
/// with exactly the types [`ZerobusArrowStream`] takes.
pub use arrow_array::{self, RecordBatch};
/// What keeps memory lent to [`ZerobusArrowStream::queue_columns_held`] alive: any
/// `Send + Sync` value; the stream drops its last clone when it is done with the memory.
pub use arrow_buffer::alloc::Allocation as BufferOwner;
pub use arrow_ipc;
pub use arrow_schema::{self, Schema as ArrowSchema, SchemaRef as ArrowSchemaRef};

/// Re-exported so callers can build descriptors without naming prost-types themselves.
pub use prost_types::DescriptorProto;
