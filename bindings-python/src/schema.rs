//! A table's schema as Unity Catalog describes it (`Sdk.get_table_schema`,
//! `ZerobusStream.table_schema`): columns, the record descriptor and the `.proto` derived from
//! them by core's Delta → proto2 mapping.

use prost::Message;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zerobus_core::schema;
use zerobus_core::TableSchema as CoreSchema;

use crate::errors;

/// One column of a table.
#[pyclass(module = "zerobus._core", name = "Column", frozen, get_all)]
#[derive(Clone)]
pub struct Column {
    /// Column name.
    name: String,
    /// SQL type text as Unity Catalog spells it (`bigint`, `array<string>`).
    type_text: String,
    /// Unity Catalog's type name (`LONG`, `ARRAY`).
    type_name: String,
    /// False for `NOT NULL`.
    nullable: bool,
    /// Zero-based position; the proto field number is `position + 1`.
    position: u32,
    /// The column's comment.
    comment: Option<String>,
}

#[pymethods]
impl Column {
    fn __repr__(&self) -> String {
        format!(
            "Column(name={:?}, type_text={:?}, nullable={}, position={})",
            self.name,
            self.type_text,
            if self.nullable { "True" } else { "False" },
            self.position
        )
    }
}

/// A table's schema.
#[pyclass(module = "zerobus._core", name = "TableSchema", frozen)]
pub struct TableSchema {
    inner: CoreSchema,
}

impl TableSchema {
    pub(crate) fn new(inner: CoreSchema) -> Self {
        TableSchema { inner }
    }
}

pub(crate) fn schema_py(py: Python<'_>, s: CoreSchema) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, TableSchema::new(s))?.into_any())
}

#[pymethods]
impl TableSchema {
    /// `catalog.schema.table`.
    #[getter]
    fn table_name(&self) -> String {
        self.inner.full_name()
    }

    /// The columns, in position order.
    #[getter]
    fn columns(&self) -> Vec<Column> {
        self.inner
            .columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                type_text: c.data_type.to_string(),
                type_name: c.data_type.uc_type_name().to_owned(),
                nullable: c.nullable,
                position: c.position,
                comment: c.comment.clone(),
            })
            .collect()
    }

    /// The serialized `DescriptorProto` of the table's record message (what a stream from the
    /// table is opened with).
    #[getter]
    fn descriptor_proto<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let d = schema::descriptor(&self.inner).map_err(|e| errors::invalid(py, e.to_string()))?;
        Ok(PyBytes::new(py, &d.encode_to_vec()))
    }

    /// The record message as `.proto` (proto2) source.
    fn proto_file(&self, py: Python<'_>) -> PyResult<String> {
        schema::proto_file(&self.inner).map_err(|e| errors::invalid(py, e.to_string()))
    }

    /// The table as Unity Catalog's REST API returns it, as JSON text.
    fn to_json(&self) -> String {
        self.inner.to_uc_json().to_string()
    }

    fn __repr__(&self) -> String {
        format!("TableSchema({:?}, {} columns)", self.inner.full_name(), self.inner.columns.len())
    }
}
