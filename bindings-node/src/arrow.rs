//! Arrow streams (`ZerobusArrowStream` in `index.js`). An apache-arrow `Table` / `RecordBatch`
//! crosses as its column buffers (`queue_columns`, see [`zerobus_core::arrow_columns`]), which the core
//! encodes to IPC once; IPC stream bytes (and batches whose layout that does not take) cross as
//! one buffer per call (`queue_ipc`), copied once, whose record batch messages the core passes
//! through as they are. The `_nocopy` forms (`ingestBatchNoCopy`) skip that copy: the core sends
//! the JavaScript memory itself and holds them until the call is acked. Everything
//! else (schema checks, the in-flight bounds, offsets, acks, recovery) is the core's.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use napi::bindgen_prelude::{Array, Buffer, Either, ObjectFinalize, Uint8Array, Uint8ArraySlice};
use napi::Env;
use napi_derive::napi;
use zerobus_core::arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use zerobus_core::{ArrowTableProperties, BufferOwner, ZerobusArrowStream};

use crate::callbacks::{EventFn, HeadersFn, JsEvents, JsHeaders};
use crate::options::NativeArrowOptions;
use crate::{
    drop_quietly, guard_sync, guarded, invalid, pending_or_offset, to_js_error, trip, NativeMetrics,
    NativePending, NativeSdk,
};

/// One column of the published SDK's `ArrowTableProperties.schemaFields`.
#[napi(object)]
pub struct NativeArrowField {
    /// Column name.
    pub name: String,
    /// The published `ArrowDataType` number (see [`published_type`]).
    pub data_type: i32,
    /// Default true, as published.
    pub nullable: Option<bool>,
}

/// The published TypeScript SDK's `ArrowDataType` values, in its order, as Arrow types. An
/// unknown value is an error here (the published SDK silently made it `Utf8`).
fn published_type(name: &str, value: i32) -> napi::Result<DataType> {
    let utc = || Some(Arc::from("UTC"));
    Ok(match value {
        0 => DataType::Boolean,
        1 => DataType::Int8,
        2 => DataType::Int16,
        3 => DataType::Int32,
        4 => DataType::Int64,
        5 => DataType::UInt8,
        6 => DataType::UInt16,
        7 => DataType::UInt32,
        8 => DataType::UInt64,
        9 => DataType::Float32,
        10 => DataType::Float64,
        11 => DataType::Utf8,
        12 => DataType::LargeUtf8,
        13 => DataType::Binary,
        14 => DataType::LargeBinary,
        15 => DataType::Date32,
        16 => DataType::Date64,
        17 => DataType::Timestamp(TimeUnit::Microsecond, utc()),
        18 => DataType::Timestamp(TimeUnit::Nanosecond, utc()),
        other => {
            return Err(invalid(format!(
                "schemaFields: column {name:?} has dataType {other}, which is not an ArrowDataType (0 to 18); pass an apache-arrow Schema for other types"
            )))
        }
    })
}

fn schema_from_fields(fields: &[NativeArrowField]) -> napi::Result<SchemaRef> {
    let fields = fields
        .iter()
        .map(|f| Ok(Field::new(&f.name, published_type(&f.name, f.data_type)?, f.nullable.unwrap_or(true))))
        .collect::<napi::Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

#[napi]
impl NativeSdk {
    /// Opens an Arrow stream. The schema is `schema_ipc` (an IPC stream holding the schema
    /// message; batches after it are ignored), else `fields` (the published `schemaFields`), else
    /// none = from the table (the core reads it from Unity Catalog). `events` and `headers` as
    /// for `createStream`.
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub async fn create_arrow_stream(
        &self,
        table_name: String,
        schema_ipc: Option<Buffer>,
        fields: Option<Vec<NativeArrowField>>,
        client_id: String,
        client_secret: String,
        options: NativeArrowOptions,
        events: Option<EventFn>,
        headers: Option<HeadersFn>,
    ) -> napi::Result<NativeArrowStream> {
        guarded(async move {
            trip("NativeSdk.createArrowStream");
            let mut opts = options.to_core()?;
            let schema = match (schema_ipc, fields) {
                (Some(ipc), _) => Some(zerobus_core::schema_from_ipc(&ipc).map_err(to_js_error)?),
                (None, Some(fields)) => Some(schema_from_fields(&fields)?),
                (None, None) => None,
            };
            let table = ArrowTableProperties { table_name, schema };
            let js_events = Arc::new(JsEvents::default());
            if let Some(f) = events {
                *js_events.tsfn.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(f));
                opts.ack_callback = Some(js_events.clone());
            }
            let js_headers = headers.map(|f| Arc::new(JsHeaders::new(f)));
            let stream = match &js_headers {
                Some(provider) => {
                    self.inner.create_arrow_stream_with_headers_provider(table, provider.clone(), opts).await
                }
                None => self.inner.create_arrow_stream(table, client_id, client_secret, opts).await,
            };
            match stream {
                Ok(s) => Ok(NativeArrowStream { inner: Arc::new(s), events: js_events, headers: js_headers }),
                Err(e) => {
                    js_events.release();
                    if let Some(h) = &js_headers {
                        h.release();
                    }
                    Err(to_js_error(e))
                }
            }
        })
        .await
    }
}

/// The native Arrow stream handle (`ZerobusArrowStream` in `index.js`).
#[napi(custom_finalize)]
pub struct NativeArrowStream {
    inner: Arc<ZerobusArrowStream>,
    events: Arc<JsEvents>,
    headers: Option<Arc<JsHeaders>>,
}

impl ObjectFinalize for NativeArrowStream {
    fn finalize(self, _env: Env) -> napi::Result<()> {
        drop_quietly(self);
        Ok(())
    }
}

#[napi]
impl NativeArrowStream {
    /// Queues one Arrow IPC stream (schema message, then record batches) under one offset, in
    /// line at the moment of the call: its offset, or a `NativePending` holding its place while
    /// the in-flight bounds are reached.
    ///
    /// The bytes are copied once, here, whoever wrote them: holding the `Uint8Array` itself until
    /// its call is acked kept up to the in-flight bound of JavaScript buffers alive past the
    /// core's byte count (their references are released on the JavaScript thread, then by its
    /// GC), measured at 1.6 GB peak RSS and slower than the copy (`make bench`, taxi rows).
    #[napi(catch_unwind)]
    pub fn queue_ipc(&self, data: Uint8Array) -> napi::Result<Option<Either<i64, NativePending>>> {
        guard_sync(|| {
            trip("NativeArrowStream.queueIpc");
            let bytes = Bytes::copy_from_slice(&data);
            Ok(pending_or_offset(self.inner.queue_ipc_batch(&bytes).map_err(to_js_error)?))
        })
    }

    /// Queues apache-arrow record batches (a `Table`'s, or one `RecordBatch`) under one offset
    /// from their column buffers, as [`zerobus_core::arrow_columns`] describes: `schema` is the IPC
    /// bytes of their schema, `nodes` and `buffers` what `columnBatches` in `index.js` writes.
    /// Same answer as [`queue_ipc`](Self::queue_ipc).
    #[napi(catch_unwind)]
    pub fn queue_columns(
        &self,
        schema: Uint8Array,
        nodes: Vec<u32>,
        buffers: Vec<Uint8Array>,
    ) -> napi::Result<Option<Either<i64, NativePending>>> {
        guard_sync(|| {
            trip("NativeArrowStream.queueColumns");
            let nodes: Vec<u64> = nodes.into_iter().map(u64::from).collect();
            let slices: Vec<&[u8]> = buffers.iter().map(|b| &b[..]).collect();
            // The `Uint8Array`s are this synchronous call's: no JavaScript runs on this thread
            // while it does, so none is written, detached or collected (a SharedArrayBuffer,
            // which another thread could write, never gets here: `index.js` sends it as IPC).
            let queued = self.inner.queue_columns(&schema, &nodes, &slices);
            Ok(pending_or_offset(queued.map_err(to_js_error)?))
        })
    }

    /// [`queue_columns`](Self::queue_columns) without the copy (`ingestBatchNoCopy` in
    /// `index.js`): the core sends the buffers' memory as it is and holds `anchor` (one napi
    /// reference) until every row of the call is acked, the call fails, or the stream is
    /// dropped. `anchor` is an empty `Uint8Array` whose `lent` property is `buffers`, so that
    /// one reference keeps every buffer's ArrayBuffer from the GC: a reference per buffer cost
    /// one release on the JavaScript thread per buffer, more than the copy saved.
    #[napi(catch_unwind)]
    pub fn queue_columns_no_copy(
        &self,
        schema: Uint8Array,
        nodes: Vec<u32>,
        buffers: Array,
        anchor: Uint8Array,
    ) -> napi::Result<Option<Either<i64, NativePending>>> {
        guard_sync(|| {
            trip("NativeArrowStream.queueColumnsNoCopy");
            let nodes: Vec<u64> = nodes.into_iter().map(u64::from).collect();
            let mut slices: Vec<&[u8]> = Vec::with_capacity(buffers.len() as usize);
            for i in 0..buffers.len() {
                let view: Uint8ArraySlice<'_> = buffers
                    .get(i)?
                    .ok_or_else(|| invalid(format!("queueColumnsNoCopy: buffers[{i}] is missing")))?;
                // SAFETY: the slice is the memory of the view's ArrayBuffer, which the view keeps
                // alive; `anchor.lent` is this array, so holding `anchor` keeps every view, and
                // the slice outlives this scope only inside `owner` (see below).
                slices.push(unsafe { std::slice::from_raw_parts(view.as_ptr(), view.len()) });
            }
            let owner: Arc<dyn BufferOwner> = Arc::new(Lent(AssertUnwindSafe(anchor)));
            // SAFETY: each slice's memory is a JavaScript ArrayBuffer that `owner` keeps from the
            // GC until its last clone drops (a napi-rs `Uint8Array` holds a reference, released on
            // the JavaScript thread whichever thread drops it). That nothing writes, detaches or
            // transfers it until then is `ingestBatchNoCopy`'s contract with its caller
            // (index.d.ts); a SharedArrayBuffer, which another thread could write, never gets
            // here (`index.js` copies it as IPC).
            let queued = unsafe { self.inner.queue_columns_held(&schema, &nodes, &slices, owner) };
            Ok(pending_or_offset(queued.map_err(to_js_error)?))
        })
    }

    /// [`queue_ipc`](Self::queue_ipc) without the copy (`ingestBatchNoCopy` given IPC bytes): the
    /// core sends the record batch messages from the caller's memory and holds the `Uint8Array`
    /// until every row of the call is acked, the call fails, or the stream is dropped.
    #[napi(catch_unwind)]
    pub fn queue_ipc_no_copy(&self, data: Uint8Array) -> napi::Result<Option<Either<i64, NativePending>>> {
        guard_sync(|| {
            trip("NativeArrowStream.queueIpcNoCopy");
            // The same contract as `queue_columns_no_copy`: the caller does not write, detach or
            // transfer the bytes until the call is acked, and `index.js` copies shared memory.
            let bytes = Bytes::from_owner(Lent(AssertUnwindSafe(data)));
            Ok(pending_or_offset(self.inner.queue_ipc_batch(&bytes).map_err(to_js_error)?))
        })
    }

    /// Waits until `offset` is acknowledged (every row of its call is durable).
    #[napi(catch_unwind)]
    pub async fn wait_for_offset(&self, offset: i64) -> napi::Result<()> {
        guarded(async move { self.inner.wait_for_offset(offset).await.map_err(to_js_error) }).await
    }

    /// Waits until every batch queued so far is acknowledged.
    #[napi(catch_unwind)]
    pub async fn flush(&self) -> napi::Result<()> {
        guarded(async move { self.inner.flush().await.map_err(to_js_error) }).await
    }

    /// Closes the stream; when it resolves every ack/error callback has run and the callback and
    /// headers functions are released.
    #[napi(catch_unwind)]
    pub async fn close(&self) -> napi::Result<()> {
        guarded(async move {
            let result = self.inner.close().await;
            self.events.barrier_and_release().await;
            if let Some(h) = &self.headers {
                h.release();
            }
            result.map_err(to_js_error)
        })
        .await
    }

    /// Whether the stream no longer accepts batches.
    #[napi(catch_unwind)]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The table this stream writes to.
    #[napi(catch_unwind)]
    pub fn table_name(&self) -> String {
        self.inner.table_name().to_owned()
    }

    /// The schema batches must have, as an IPC stream holding only the schema message.
    #[napi(catch_unwind)]
    pub fn schema_ipc(&self) -> napi::Result<Buffer> {
        guard_sync(|| {
            let ipc = zerobus_core::batches_to_ipc(self.inner.schema(), &[]).map_err(to_js_error)?;
            Ok(Buffer::from(ipc))
        })
    }

    /// The unacknowledged rows, in offset order, as one IPC stream (the schema, then one record
    /// batch per physical batch, the first starting at the first unacknowledged row).
    #[napi(catch_unwind)]
    pub fn get_unacked_ipc(&self) -> napi::Result<Buffer> {
        guard_sync(|| Ok(Buffer::from(self.inner.get_unacked_ipc().map_err(to_js_error)?)))
    }

    /// A snapshot of the stream's counters (records are rows).
    #[napi(catch_unwind)]
    pub fn metrics(&self) -> napi::Result<NativeMetrics> {
        guard_sync(|| Ok(NativeMetrics::new(self.inner.metrics())))
    }
}

/// The JavaScript memory lent to the core by a no-copy call, as the owner its Arrow buffers
/// hold: a `Uint8Array` that keeps the call's buffers alive. Dropped off the JavaScript thread
/// (a core thread, after the ack), it hands its reference to napi-rs's per-environment release
/// queue, which deletes it on the JavaScript thread; after that the GC may collect the memory.
/// `AssertUnwindSafe`: nothing here is left half-changed by a panic, the array is only read.
struct Lent(AssertUnwindSafe<Uint8Array>);

impl AsRef<[u8]> for Lent {
    /// The lent IPC bytes of `queue_ipc_no_copy` (the anchor of `queue_columns_no_copy` is empty).
    fn as_ref(&self) -> &[u8] {
        &self.0[..]
    }
}
