//! Arrow streams for the Kotlin SDK: the core's `ZerobusArrowStream` behind uniffi.
//!
//! Arrow data crosses in two forms, both passed to the core without a copy of the rows here:
//! - **IPC bytes** (`ingest_ipc`): an Arrow IPC stream (schema message, then record batches), the
//!   core's `queue_ipc_batch` (sent without re-encoding). Needs no Arrow library on the JVM.
//! - **C Data Interface** (`ingest_c_data`): the addresses of an `ArrowArray` / `ArrowSchema`
//!   pair Arrow Java's `Data.exportVectorSchemaRoot` filled (a struct array whose children are
//!   the columns). Imported here as a `RecordBatch`, which the core checks and encodes.
//!
//! Both take their place in line on the first poll, i.e. on the calling coroutine's thread
//! before it suspends (the core's `queue_*` calls), so offsets follow call order; only a call
//! that has to wait for room waits, inside the runtime's context on the caller's thread
//! ([`InRuntime`]). The imported batch is dropped on that same JVM thread, so Arrow Java's
//! release callback (a JNI call into the JVM) runs on a thread the JVM knows.

use std::sync::Arc;

use arrow_array::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::{Array, RecordBatch, StructArray};
use zerobus_core::{
    ArrowStreamConfigurationOptions, ArrowTableProperties, HeadersProvider, IpcCompression, Queued,
    ZerobusArrowStream,
};

use crate::{
    guard, guarded, internal, invalid_argument, on_runtime, AckAdapter, FfiAckListener, FfiError,
    FfiHeadersProvider, FfiMetrics, FfiSdk, HeadersAdapter, InRuntime,
};

/// Arrow stream options under the core's names. `None` keeps the core's default.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct FfiArrowStreamOptions {
    /// See `ArrowStreamConfigurationOptions::max_inflight_batches`.
    pub max_inflight_batches: Option<u64>,
    /// See `ArrowStreamConfigurationOptions::max_inflight_bytes`.
    pub max_inflight_bytes: Option<u64>,
    /// See `ArrowStreamConfigurationOptions::recovery`.
    pub recovery: Option<bool>,
    /// See `ArrowStreamConfigurationOptions::recovery_timeout_ms`.
    pub recovery_timeout_ms: Option<u64>,
    /// See `ArrowStreamConfigurationOptions::recovery_backoff_ms`.
    pub recovery_backoff_ms: Option<u64>,
    /// See `ArrowStreamConfigurationOptions::recovery_backoff_max_ms`.
    pub recovery_backoff_max_ms: Option<u64>,
    /// See `ArrowStreamConfigurationOptions::recovery_retries`.
    pub recovery_retries: Option<u32>,
    /// See `ArrowStreamConfigurationOptions::server_lack_of_ack_timeout_ms`.
    pub server_lack_of_ack_timeout_ms: Option<u64>,
    /// See `ArrowStreamConfigurationOptions::flush_timeout_ms`.
    pub flush_timeout_ms: Option<u64>,
    /// See `ArrowStreamConfigurationOptions::connection_timeout_ms`.
    pub connection_timeout_ms: Option<u64>,
    /// `none`, `lz4_frame` or `zstd` (the core parses it).
    pub ipc_compression: Option<String>,
    /// See `ArrowStreamConfigurationOptions::stream_paused_max_wait_time_ms`.
    pub stream_paused_max_wait_time_ms: Option<u64>,
    /// See `ArrowStreamConfigurationOptions::callback_max_wait_time_ms`.
    pub callback_max_wait_time_ms: Option<u64>,
}

impl FfiArrowStreamOptions {
    /// The values as they are; ranges are checked by the core at creation.
    fn to_core(
        &self,
        ack: Option<Box<dyn FfiAckListener>>,
    ) -> Result<ArrowStreamConfigurationOptions, FfiError> {
        let mut o = ArrowStreamConfigurationOptions::default();
        if let Some(v) = self.max_inflight_batches {
            o.max_inflight_batches = v as usize;
        }
        if let Some(v) = self.max_inflight_bytes {
            o.max_inflight_bytes = v as usize;
        }
        if let Some(v) = self.recovery {
            o.recovery = v;
        }
        if let Some(v) = self.recovery_timeout_ms {
            o.recovery_timeout_ms = v;
        }
        if let Some(v) = self.recovery_backoff_ms {
            o.recovery_backoff_ms = v;
        }
        if let Some(v) = self.recovery_backoff_max_ms {
            o.recovery_backoff_max_ms = v;
        }
        if let Some(v) = self.recovery_retries {
            o.recovery_retries = v;
        }
        if let Some(v) = self.server_lack_of_ack_timeout_ms {
            o.server_lack_of_ack_timeout_ms = v;
        }
        if let Some(v) = self.flush_timeout_ms {
            o.flush_timeout_ms = v;
        }
        if let Some(v) = self.connection_timeout_ms {
            o.connection_timeout_ms = v;
        }
        if let Some(name) = &self.ipc_compression {
            o.ipc_compression = name.parse::<IpcCompression>()?;
        }
        if self.stream_paused_max_wait_time_ms.is_some() {
            o.stream_paused_max_wait_time_ms = self.stream_paused_max_wait_time_ms;
        }
        if self.callback_max_wait_time_ms.is_some() {
            o.callback_max_wait_time_ms = self.callback_max_wait_time_ms;
        }
        o.ack_callback = ack.map(|l| Arc::new(AckAdapter(l)) as Arc<dyn zerobus_core::AckCallback>);
        Ok(o)
    }
}

/// The table and schema of a new Arrow stream: `schema_ipc` `None` = read from the table.
fn arrow_table(table: String, schema_ipc: Option<Vec<u8>>) -> Result<ArrowTableProperties, FfiError> {
    Ok(match schema_ipc {
        Some(bytes) => ArrowTableProperties::new(table, zerobus_core::schema_from_ipc(&bytes)?),
        None => ArrowTableProperties::from_table(table),
    })
}

#[uniffi::export]
impl FfiSdk {
    /// Opens an Arrow stream with OAuth client credentials. `schema_ipc`: an Arrow IPC stream
    /// whose schema message is the batches' schema (batches after it are ignored); `None` reads
    /// the schema from the table.
    pub async fn create_arrow_stream(
        &self,
        table: String,
        schema_ipc: Option<Vec<u8>>,
        client_id: String,
        client_secret: String,
        options: FfiArrowStreamOptions,
        ack: Option<Box<dyn FfiAckListener>>,
    ) -> Result<Arc<FfiArrowStream>, FfiError> {
        guarded(async move {
            let sdk = self.inner.clone();
            let table = arrow_table(table, schema_ipc)?;
            let options = options.to_core(ack)?;
            on_runtime(async move {
                let stream = sdk.create_arrow_stream(table, client_id, client_secret, options).await?;
                Ok(Arc::new(FfiArrowStream { inner: Arc::new(stream) }))
            })
            .await
        })
        .await
    }

    /// Opens an Arrow stream whose call metadata comes from `provider`, asked on every connect.
    pub async fn create_arrow_stream_with_headers_provider(
        &self,
        table: String,
        schema_ipc: Option<Vec<u8>>,
        provider: Box<dyn FfiHeadersProvider>,
        options: FfiArrowStreamOptions,
        ack: Option<Box<dyn FfiAckListener>>,
    ) -> Result<Arc<FfiArrowStream>, FfiError> {
        guarded(async move {
            let sdk = self.inner.clone();
            let table = arrow_table(table, schema_ipc)?;
            let options = options.to_core(ack)?;
            let provider: Arc<dyn HeadersProvider> = Arc::new(HeadersAdapter(provider));
            on_runtime(async move {
                let stream = sdk.create_arrow_stream_with_headers_provider(table, provider, options).await?;
                Ok(Arc::new(FfiArrowStream { inner: Arc::new(stream) }))
            })
            .await
        })
        .await
    }

    /// A new stream on `old`'s table, schema, credentials and options, with `old`'s unacked rows
    /// queued on it first (`old` must be closed or failed).
    pub async fn recreate_arrow_stream(
        &self,
        old: Arc<FfiArrowStream>,
    ) -> Result<Arc<FfiArrowStream>, FfiError> {
        guarded(async move {
            let sdk = self.inner.clone();
            let old = old.inner.clone();
            on_runtime(async move {
                let stream = sdk.recreate_arrow_stream(&old).await?;
                Ok(Arc::new(FfiArrowStream { inner: Arc::new(stream) }))
            })
            .await
        })
        .await
    }
}

/// One Arrow stream.
#[derive(uniffi::Object)]
pub struct FfiArrowStream {
    inner: Arc<ZerobusArrowStream>,
}

/// Waits (if it must) for a queued call's offset. An Arrow call always has one; `None` would be
/// a core bug.
async fn offset_of(queued: Queued) -> Result<i64, FfiError> {
    match InRuntime(queued.offset()).await? {
        Some(offset) => Ok(offset),
        None => {
            Err(internal("the core queued an Arrow call without an offset; this is a bug, please report it"))
        }
    }
}

/// Imports what Arrow Java's `Data.exportVectorSchemaRoot` wrote at `array` and `schema`: a
/// struct array whose children are the batch's columns. Moves the array out of its struct (Arrow
/// Java then only frees the struct's memory); the schema struct is only read.
///
/// # Safety
/// `array` and `schema` are the addresses of a live, exported `ArrowArray` and `ArrowSchema`
/// (C Data Interface) that nobody else reads or releases until this returns.
unsafe fn import_batch(array: u64, schema: u64) -> Result<RecordBatch, FfiError> {
    if array == 0 || schema == 0 {
        return Err(invalid_argument("the ArrowArray or ArrowSchema address is 0; export the batch first"));
    }
    // SAFETY: the caller guarantees a live exported ArrowArray at `array`; `from_raw` moves it out
    // and leaves a released (empty) struct behind, so its release callback runs exactly once, when
    // the imported data is dropped.
    let array = unsafe { FFI_ArrowArray::from_raw(array as usize as *mut FFI_ArrowArray) };
    // SAFETY: the caller guarantees a live exported ArrowSchema at `schema` for this call; it is
    // borrowed, and Arrow Java releases it when it closes its struct.
    let schema = unsafe { &*(schema as usize as *const FFI_ArrowSchema) };
    // SAFETY: `array` and `schema` come from one export (the caller's contract), so the schema
    // describes the array's layout.
    let data = unsafe { from_ffi(array, schema) }
        .map_err(|e| invalid_argument(format!("the exported Arrow batch cannot be imported: {e}")))?;
    let structs = StructArray::from(data);
    if structs.null_count() > 0 {
        return Err(invalid_argument(
            "the exported Arrow batch has null rows at the top level; export a VectorSchemaRoot",
        ));
    }
    Ok(RecordBatch::from(structs))
}

#[uniffi::export]
impl FfiArrowStream {
    /// The table this stream writes to.
    pub fn table_name(&self) -> Result<String, FfiError> {
        guard(|| Ok(self.inner.table_name().to_owned()))
    }

    /// The schema batches must have, as an Arrow IPC stream holding only the schema message.
    pub fn schema_ipc(&self) -> Result<Vec<u8>, FfiError> {
        guard(|| Ok(zerobus_core::batches_to_ipc(self.inner.schema(), &[])?))
    }

    /// Queues an Arrow IPC stream (schema, then one or more batches) under one offset, sent
    /// without re-encoding; waits for room if the in-flight bounds are reached.
    pub async fn ingest_ipc(&self, ipc: Vec<u8>) -> Result<i64, FfiError> {
        guarded(async move {
            let queued = self.inner.queue_ipc_batch(&ipc.into())?;
            offset_of(queued).await
        })
        .await
    }

    /// Queues the batch Arrow Java exported to the `ArrowArray` at `array` and the `ArrowSchema`
    /// at `schema` under one offset. The Kotlin layer (`ingestBatch(VectorSchemaRoot)`) allocates
    /// both structs, exports into them and closes them after this returns.
    pub async fn ingest_c_data(&self, array: u64, schema: u64) -> Result<i64, FfiError> {
        guarded(async move {
            // SAFETY: the Kotlin layer's contract above: both addresses are a fresh export that
            // it keeps alive, and touches no further, until this call returns (it awaits it).
            let batch = unsafe { import_batch(array, schema) }?;
            let queued = self.inner.queue_batch_copied(&batch)?;
            drop(batch);
            offset_of(queued).await
        })
        .await
    }

    /// A handle for the Arrow ingest fast path (`fast_arrow.rs`): one reference to the core
    /// stream in the fast path's handle table, owned by the Kotlin `ArrowStream`, which gives it
    /// back with `NativeIngest.arrowRelease`.
    pub fn fast_handle(&self) -> Result<i64, FfiError> {
        guard(|| crate::fast_arrow::arrow_stream_handle(&self.inner))
    }

    /// Waits until `offset` is acknowledged (bounded by `flush_timeout_ms`).
    pub async fn wait_for_offset(&self, offset: i64) -> Result<(), FfiError> {
        guarded(async move {
            let s = self.inner.clone();
            on_runtime(async move { Ok(s.wait_for_offset(offset).await?) }).await
        })
        .await
    }

    /// Waits until everything queued so far is acknowledged.
    pub async fn flush(&self) -> Result<(), FfiError> {
        guarded(async move {
            let s = self.inner.clone();
            on_runtime(async move { Ok(s.flush().await?) }).await
        })
        .await
    }

    /// Flushes and closes; idempotent. (`close` is taken by the generated `AutoCloseable`.)
    pub async fn close_stream(&self) -> Result<(), FfiError> {
        guarded(async move {
            let s = self.inner.clone();
            on_runtime(async move { Ok(s.close().await?) }).await
        })
        .await
    }

    /// Whether the stream no longer accepts batches.
    pub fn is_closed(&self) -> Result<bool, FfiError> {
        guard(|| Ok(self.inner.is_closed()))
    }

    /// The unacknowledged rows as one Arrow IPC stream (schema, then the batches in order).
    pub fn unacked_ipc(&self) -> Result<Vec<u8>, FfiError> {
        guard(|| Ok(self.inner.get_unacked_ipc()?))
    }

    /// A snapshot of the stream's counters (records = rows).
    pub fn metrics(&self) -> Result<FfiMetrics, FfiError> {
        guard(|| Ok(FfiMetrics::from(self.inner.metrics())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int32Array};
    use zerobus_core::arrow_schema::{DataType, Field, Schema};

    #[test]
    fn options_keep_defaults_and_parse_the_compression() {
        let o = FfiArrowStreamOptions::default().to_core(None).unwrap();
        assert_eq!(o.max_inflight_batches, zerobus_core::DEFAULT_MAX_INFLIGHT_BATCHES);
        assert_eq!(o.ipc_compression, IpcCompression::None);
        let o = FfiArrowStreamOptions {
            ipc_compression: Some("LZ4_FRAME".into()),
            connection_timeout_ms: Some(5),
            ..Default::default()
        };
        let core = o.to_core(None).unwrap();
        assert_eq!((core.ipc_compression, core.connection_timeout_ms), (IpcCompression::Lz4Frame, 5));
        let bad = FfiArrowStreamOptions { ipc_compression: Some("gzip".into()), ..Default::default() };
        let Err(FfiError::Failed { code, detail, .. }) = bad.to_core(None) else { panic!("gzip accepted") };
        assert_eq!(code, "INVALID_ARGUMENT");
        assert!(detail.contains("ipc_compression"), "{detail}");
    }

    #[test]
    fn a_batch_exported_through_the_c_data_interface_imports_as_its_columns() {
        let schema = Arc::new(Schema::new(vec![Field::new("seats", DataType::Int32, true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef])
            .unwrap();
        let (mut array, mut schema) =
            arrow_array::ffi::to_ffi(&StructArray::from(batch.clone()).to_data()).unwrap();
        // SAFETY: both structs are a fresh export that lives on this stack frame until the call returns.
        let imported = unsafe {
            import_batch(
                &mut array as *mut FFI_ArrowArray as usize as u64,
                &mut schema as *mut _ as usize as u64,
            )
        }
        .unwrap();
        assert_eq!(imported, batch);
        // SAFETY: a zero address is refused before anything is read.
        assert!(unsafe { import_batch(0, 0) }.is_err());
    }

    #[test]
    fn a_schema_that_is_not_ipc_is_invalid_argument() {
        let Err(FfiError::Failed { code, detail, .. }) = arrow_table("a.b.c".into(), Some(vec![1, 2, 3]))
        else {
            panic!("expected an error")
        };
        assert_eq!(code, "INVALID_ARGUMENT");
        assert!(detail.contains("IPC"), "{detail}");
    }
}
