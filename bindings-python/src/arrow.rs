//! Arrow data between Python and the core through the Arrow PyCapsule interface
//! (<https://arrow.apache.org/docs/format/CDataInterface/PyCapsuleInterface.html>), with
//! arrow-rs's own C Data / C Stream FFI: no IPC round trip, no pyarrow on this side. Any
//! producer works: pyarrow `Table` / `RecordBatch` / `RecordBatchReader` / `Schema`, Polars,
//! DuckDB, nanoarrow, arro3.
//!
//! Ownership, per the interface: a schema capsule is *borrowed* (read while the capsule is alive;
//! its producer releases it when the capsule is collected); array and stream capsules are
//! *moved* out (`from_raw` leaves a released struct behind, so the capsule's destructor does
//! nothing), and their memory is released by arrow-rs when the last buffer of the imported data
//! is dropped: the core sends an uncompressed batch's buffers as they are, so that is when the
//! server has acked the batch (or the stream is dropped), possibly on one of core's threads
//! (pyarrow's release takes the GIL itself when a buffer is a Python object's; no core lock is
//! held while acked batches are freed). What this module exports ([`ArrowBatch`],
//! [`ArrowSchema`]) is owned by its capsule until the consumer moves it out, and released by the
//! capsule's destructor otherwise.

use std::ffi::{CStr, CString};
use std::ptr::NonNull;

use arrow_array::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_array::{Array, RecordBatch, RecordBatchOptions, StructArray};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef};
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyCapsule, PyMemoryView, PyTuple};

use crate::errors;

const SCHEMA: &CStr = c"arrow_schema";
const ARRAY: &CStr = c"arrow_array";
const STREAM: &CStr = c"arrow_array_stream";

/// What one ingest call carries.
pub(crate) enum Input {
    /// Record batches imported through the C Data / C Stream interface (a table's, or one).
    Batches(Vec<RecordBatch>),
    /// An Arrow IPC stream, passed to the core as it is.
    Ipc(Bytes),
}

fn kind(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "object".to_owned())
}

fn arrow_err(py: Python<'_>, what: &str, e: ArrowError) -> PyErr {
    errors::invalid_record(py, format!("{what}: {e}"))
}

/// The capsule's pointer, checked to be a capsule of that name (the interface's names).
fn capsule_ptr<T>(py: Python<'_>, obj: &Bound<'_, PyAny>, name: &CStr, method: &str) -> PyResult<NonNull<T>> {
    let capsule = obj
        .cast::<PyCapsule>()
        .map_err(|_| errors::invalid(py, format!("{method} returned {}, not a PyCapsule", kind(obj))))?;
    let ptr = capsule.pointer_checked(Some(name)).map_err(|_| {
        errors::invalid(py, format!("{method} returned a capsule not named {:?}", name.to_string_lossy()))
    })?;
    Ok(ptr.cast())
}

/// A schema from `__arrow_c_schema__`.
fn import_schema(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Schema> {
    let capsule = obj.call_method0("__arrow_c_schema__")?;
    let ptr = capsule_ptr::<FFI_ArrowSchema>(py, &capsule, SCHEMA, "__arrow_c_schema__()")?;
    // SAFETY: the capsule is named "arrow_schema", so by the PyCapsule interface its pointer is a
    // valid `struct ArrowSchema` (whose layout `FFI_ArrowSchema` is) owned by the capsule, which
    // `capsule` keeps alive for the whole borrow; it is only read, never moved or released here.
    let ffi = unsafe { ptr.as_ref() };
    Schema::try_from(ffi).map_err(|e| arrow_err(py, "the schema cannot be read", e))
}

/// The stream's schema from what `create_arrow_stream` takes: an object with
/// `__arrow_c_schema__` (a pyarrow `Schema`), an Arrow IPC stream holding the schema message
/// (`bytes`), or `None` (from the table).
pub(crate) fn schema_arg(py: Python<'_>, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<SchemaRef>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(None) };
    if let Some(ipc) = ipc_bytes(obj)? {
        return zerobus_core::schema_from_ipc(&ipc).map(Some).map_err(|e| errors::to_py(py, e));
    }
    if obj.hasattr("__arrow_c_schema__")? {
        return Ok(Some(std::sync::Arc::new(import_schema(py, obj)?)));
    }
    Err(errors::invalid(
        py,
        format!(
            "schema must be an Arrow schema (an object with __arrow_c_schema__, such as a \
             pyarrow.Schema), an Arrow IPC stream of the schema (bytes), or None to read it from \
             the table; got {}",
            kind(obj)
        ),
    ))
}

/// `bytes`, `bytearray` or `memoryview` as one buffer for the core (`None` for other objects).
fn ipc_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Option<Bytes>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        let data = b.as_bytes();
        // The one copy into the buffer the core keeps until the call is acknowledged, made
        // without the GIL: a `bytes` is immutable and `obj` keeps it alive meanwhile.
        return Ok(Some(obj.py().detach(|| Bytes::copy_from_slice(data))));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Some(Bytes::from(b.to_vec())));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        // abi3 before 3.11 has no buffer protocol: `tobytes()` makes the one contiguous copy.
        let b = obj.call_method0("tobytes")?;
        let b = b.cast::<PyBytes>()?;
        return Ok(Some(Bytes::copy_from_slice(b.as_bytes())));
    }
    Ok(None)
}

/// One record batch from `__arrow_c_array__` (a struct array and its schema).
fn import_array(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<RecordBatch> {
    let pair = obj.call_method0("__arrow_c_array__")?;
    let pair = pair.cast::<PyTuple>().map_err(|_| {
        errors::invalid(py, "__arrow_c_array__() must return a (schema, array) tuple of PyCapsules")
    })?;
    if pair.len() != 2 {
        return Err(errors::invalid(
            py,
            "__arrow_c_array__() must return a (schema, array) tuple of PyCapsules",
        ));
    }
    let (schema_capsule, array_capsule) = (pair.get_item(0)?, pair.get_item(1)?);
    let schema_ptr = capsule_ptr::<FFI_ArrowSchema>(py, &schema_capsule, SCHEMA, "__arrow_c_array__()")?;
    let array_ptr = capsule_ptr::<FFI_ArrowArray>(py, &array_capsule, ARRAY, "__arrow_c_array__()")?;
    // SAFETY: the capsule is named "arrow_array", so its pointer is a valid `struct ArrowArray`
    // owned by the capsule; `from_raw` moves it out and leaves a released struct in its place
    // (release = NULL), which the interface says the capsule's destructor then skips. From here
    // the array is ours, released once when its last buffer is dropped.
    let array = unsafe { FFI_ArrowArray::from_raw(array_ptr.as_ptr()) };
    // SAFETY: as in `import_schema`: a valid `struct ArrowSchema` borrowed from its live capsule;
    // `from_ffi` only reads it, and the array it describes is the one just moved out.
    let data = unsafe { from_ffi(array, schema_ptr.as_ref()) }
        .map_err(|e| arrow_err(py, "the record batch cannot be imported", e))?;
    if !matches!(data.data_type(), DataType::Struct(_)) {
        return Err(errors::invalid_record(
            py,
            format!(
                "ingest_batch takes a record batch (a struct array of the columns), got an array of {}; \
                 wrap the columns in a pyarrow.RecordBatch or Table",
                data.data_type()
            ),
        ));
    }
    let rows = data.len();
    let (fields, columns, nulls) = StructArray::from(data).into_parts();
    if nulls.is_some_and(|n| n.null_count() > 0) {
        return Err(errors::invalid_record(
            py,
            "the struct array has null rows, which a record batch cannot have; drop or fill them first",
        ));
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(std::sync::Arc::new(Schema::new(fields)), columns, &options)
        .map_err(|e| arrow_err(py, "the record batch is not valid", e))
}

/// Every batch of `__arrow_c_stream__` (a table's chunks, a reader's batches).
fn import_stream(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Vec<RecordBatch>> {
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let ptr = capsule_ptr::<FFI_ArrowArrayStream>(py, &capsule, STREAM, "__arrow_c_stream__()")?;
    // SAFETY: the capsule is named "arrow_array_stream", so its pointer is a valid `struct
    // ArrowArrayStream` owned by the capsule; `from_raw` moves it out and leaves a released one
    // behind (the capsule's destructor skips it). The reader releases the stream when dropped.
    let reader = unsafe { ArrowArrayStreamReader::from_raw(ptr.as_ptr()) }
        .map_err(|e| arrow_err(py, "the Arrow stream's schema cannot be read", e))?;
    // Without the GIL: a producer may compute its batches here (a DuckDB result); one that needs
    // Python takes the GIL itself, as the C Stream interface's producers do.
    py.detach(|| reader.collect::<Result<Vec<_>, _>>())
        .map_err(|e| arrow_err(py, "reading the Arrow stream failed", e))
}

/// What `ingest_batch` takes, as one call: `bytes`-like (an IPC stream), an object with
/// `__arrow_c_array__` (one record batch; checked first, the cheaper form when an object has
/// both) or `__arrow_c_stream__` (every batch of a table or reader).
pub(crate) fn input(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Input> {
    if let Some(ipc) = ipc_bytes(obj)? {
        return Ok(Input::Ipc(ipc));
    }
    if obj.hasattr("__arrow_c_array__")? {
        return Ok(Input::Batches(vec![import_array(py, obj)?]));
    }
    if obj.hasattr("__arrow_c_stream__")? {
        return Ok(Input::Batches(import_stream(py, obj)?));
    }
    Err(errors::invalid(
        py,
        format!(
            "ingest_batch takes Arrow data: an object with __arrow_c_stream__ or __arrow_c_array__ \
             (a pyarrow Table, RecordBatch or RecordBatchReader, a Polars DataFrame, a DuckDB \
             result) or an Arrow IPC stream as bytes; got {}",
            kind(obj)
        ),
    ))
}

/// An IPC stream from `bytes`, `bytearray` or `memoryview` (`ingest_ipc_batch`).
pub(crate) fn ipc_arg(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    ipc_bytes(obj)?.ok_or_else(|| {
        errors::invalid(
            py,
            format!(
                "ingest_ipc_batch takes an Arrow IPC stream as bytes, bytearray or memoryview; got {}",
                kind(obj)
            ),
        )
    })
}

fn schema_capsule<'py>(py: Python<'py>, schema: &Schema) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi =
        FFI_ArrowSchema::try_from(schema).map_err(|e| arrow_err(py, "the schema cannot be exported", e))?;
    // The capsule owns the struct; its destructor drops it, which releases it unless the
    // consumer moved it out (then release is NULL and dropping does nothing).
    PyCapsule::new(py, ffi, Some(CString::from(SCHEMA)))
}

/// A record batch of the core's (an unacknowledged one) exported through the PyCapsule
/// interface: `pyarrow.record_batch(b)`, `polars.from_arrow(b)` and any other consumer take it
/// without a copy.
#[pyclass(module = "zerobus._core", frozen)]
pub struct ArrowBatch {
    batch: RecordBatch,
}

impl ArrowBatch {
    pub(crate) fn new(batch: RecordBatch) -> Self {
        ArrowBatch { batch }
    }
}

#[pymethods]
impl ArrowBatch {
    /// The batch's schema as an `arrow_schema` capsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.batch.schema())
    }

    /// The batch as (`arrow_schema`, `arrow_array`) capsules of a struct array. A requested
    /// schema is not applied (the interface lets a producer ignore it): the batch is the
    /// stream's schema already.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema;
        let schema = schema_capsule(py, &self.batch.schema())?;
        let data = StructArray::from(self.batch.clone()).into_data();
        let array = PyCapsule::new(py, FFI_ArrowArray::new(&data), Some(CString::from(ARRAY)))?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }

    /// Rows in the batch.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    fn __repr__(&self) -> String {
        format!("ArrowBatch(num_rows={}, num_columns={})", self.batch.num_rows(), self.batch.num_columns())
    }
}

/// A schema of the core's exported through the PyCapsule interface (`pyarrow.schema(s)`).
#[pyclass(module = "zerobus._core", frozen)]
pub struct ArrowSchema {
    schema: SchemaRef,
}

impl ArrowSchema {
    pub(crate) fn new(schema: SchemaRef) -> Self {
        ArrowSchema { schema }
    }
}

#[pymethods]
impl ArrowSchema {
    /// The schema as an `arrow_schema` capsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }

    fn __repr__(&self) -> String {
        let fields: Vec<String> =
            self.schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect();
        format!("ArrowSchema({})", fields.join(", "))
    }
}
