//! The SDK class: one per Zerobus endpoint; opens streams (sync, and for `zerobus.sdk.aio`
//! completing an awaitable) and recreates them.

use std::sync::Arc;

use prost::Message;
use pyo3::prelude::*;
use zerobus_core::{
    ArrowStreamConfigurationOptions, ArrowTableProperties, DescriptorProto, HeadersProvider,
    StreamConfigurationOptions, TableProperties, ZerobusArrowStream, ZerobusResult, ZerobusSdk,
    ZerobusStream,
};

use crate::arrow_stream::ArrowStream;
use crate::asyncio::{self, Task};
use crate::callbacks::PyHeaders;
use crate::schema::{schema_py, TableSchema};
use crate::stream::{Owned, Stream};
use crate::{arrow, errors, options, runtime, wait};

/// The native SDK (`zerobus.sdk.sync.ZerobusSdk` and `zerobus.sdk.aio.ZerobusSdk` wrap it).
#[pyclass(module = "zerobus._core", name = "Sdk", frozen)]
pub struct Sdk {
    inner: ZerobusSdk,
}

/// Everything a new stream is opened from, converted while the GIL is held.
struct Open {
    sdk: ZerobusSdk,
    table: TableProperties,
    options: StreamConfigurationOptions,
    auth: Auth,
}

enum Auth {
    OAuth { client_id: String, client_secret: String },
    Headers(Arc<dyn HeadersProvider>),
}

impl Open {
    async fn run(self) -> ZerobusResult<ZerobusStream> {
        match self.auth {
            Auth::OAuth { client_id, client_secret } => {
                self.sdk.create_stream(self.table, client_id, client_secret, self.options).await
            }
            Auth::Headers(h) => {
                self.sdk.create_stream_with_headers_provider(self.table, h, self.options).await
            }
        }
    }
}

fn stream_py(py: Python<'_>, s: ZerobusStream) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, Stream { inner: Owned::new(s) })?.into_any())
}

/// Everything a new Arrow stream is opened from, converted while the GIL is held.
struct OpenArrow {
    sdk: ZerobusSdk,
    table: ArrowTableProperties,
    options: ArrowStreamConfigurationOptions,
    auth: Auth,
}

impl OpenArrow {
    async fn run(self) -> ZerobusResult<ZerobusArrowStream> {
        match self.auth {
            Auth::OAuth { client_id, client_secret } => {
                self.sdk.create_arrow_stream(self.table, client_id, client_secret, self.options).await
            }
            Auth::Headers(h) => {
                self.sdk.create_arrow_stream_with_headers_provider(self.table, h, self.options).await
            }
        }
    }
}

fn arrow_stream_py(py: Python<'_>, s: ZerobusArrowStream) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, ArrowStream { inner: Owned::new(s) })?.into_any())
}

impl Sdk {
    #[allow(clippy::too_many_arguments)]
    fn open(
        &self,
        py: Python<'_>,
        table_name: String,
        descriptor: Option<&[u8]>,
        client_id: Option<String>,
        client_secret: Option<String>,
        options: Option<&Bound<'_, PyAny>>,
        headers_provider: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Open> {
        let mut table = TableProperties::new(table_name);
        if let Some(d) = descriptor {
            table.descriptor_proto = Some(DescriptorProto::decode(d).map_err(|e| {
                errors::invalid(
                    py,
                    format!(
                        "table {}: the descriptor is not a serialized DescriptorProto: {e}",
                        table.table_name
                    ),
                )
            })?);
        }
        let options = options::to_core(py, options, descriptor.is_some())?;
        let auth = Self::auth(py, client_id, client_secret, headers_provider)?;
        Ok(Open { sdk: self.inner.clone(), table, options, auth })
    }

    fn auth(
        py: Python<'_>,
        client_id: Option<String>,
        client_secret: Option<String>,
        headers_provider: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Auth> {
        Ok(match (headers_provider.filter(|h| !h.is_none()), client_id, client_secret) {
            (Some(h), _, _) => Auth::Headers(Arc::new(PyHeaders::new(h)?)),
            (None, Some(client_id), Some(client_secret)) => Auth::OAuth { client_id, client_secret },
            (None, _, _) => {
                return Err(errors::invalid(
                    py,
                    "client_id and client_secret are required unless a headers_provider is given",
                ))
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn open_arrow(
        &self,
        py: Python<'_>,
        table_name: String,
        schema: Option<&Bound<'_, PyAny>>,
        client_id: Option<String>,
        client_secret: Option<String>,
        options: Option<&Bound<'_, PyAny>>,
        headers_provider: Option<Bound<'_, PyAny>>,
    ) -> PyResult<OpenArrow> {
        let table = ArrowTableProperties { table_name, schema: arrow::schema_arg(py, schema)? };
        let options = options::arrow_to_core(py, options)?;
        let auth = Self::auth(py, client_id, client_secret, headers_provider)?;
        Ok(OpenArrow { sdk: self.inner.clone(), table, options, auth })
    }

    /// The schema read, converted while the GIL is held.
    fn schema_fetch(
        &self,
        py: Python<'_>,
        table_name: String,
        client_id: Option<String>,
        client_secret: Option<String>,
        headers_provider: Option<Bound<'_, PyAny>>,
    ) -> PyResult<impl std::future::Future<Output = ZerobusResult<zerobus_core::TableSchema>> + Send + 'static>
    {
        let auth = Self::auth(py, client_id, client_secret, headers_provider)?;
        let sdk = self.inner.clone();
        Ok(async move {
            match auth {
                Auth::OAuth { client_id, client_secret } => {
                    sdk.get_table_schema(&table_name, client_id, client_secret).await
                }
                Auth::Headers(h) => sdk.get_table_schema_with_headers_provider(&table_name, h).await,
            }
        })
    }
}

#[pymethods]
impl Sdk {
    /// An SDK for the Zerobus endpoint `host`, with tokens from the workspace at
    /// `unity_catalog_url`. `http://` URLs are plaintext (local servers); `https://` is TLS,
    /// trusting the system roots plus `ca_certificates_pem`.
    #[new]
    #[pyo3(signature = (host, unity_catalog_url, application_name=None, ca_certificates_pem=None))]
    fn new(
        py: Python<'_>,
        host: String,
        unity_catalog_url: String,
        application_name: Option<String>,
        ca_certificates_pem: Option<Vec<Vec<u8>>>,
    ) -> PyResult<Self> {
        let mut builder = ZerobusSdk::builder()
            .endpoint(host)
            .workspace_url(unity_catalog_url)
            .sdk_name(concat!("zerobus-sdk-python/", env!("CARGO_PKG_VERSION")));
        for pem in ca_certificates_pem.unwrap_or_default() {
            builder = builder.add_ca_certificate_pem(pem);
        }
        if let Some(name) = application_name {
            builder = builder.application_name(name);
        }
        let _entered = runtime().enter();
        Ok(Sdk { inner: builder.build().map_err(|e| errors::to_py(py, e))? })
    }

    /// Opens a stream, waiting with the GIL released until the server answered.
    #[pyo3(signature = (table_name, descriptor, client_id, client_secret, options=None, headers_provider=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_stream(
        &self,
        py: Python<'_>,
        table_name: String,
        descriptor: Option<Vec<u8>>,
        client_id: Option<String>,
        client_secret: Option<String>,
        options: Option<Bound<'_, PyAny>>,
        headers_provider: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Stream> {
        let open = self.open(
            py,
            table_name,
            descriptor.as_deref(),
            client_id,
            client_secret,
            options.as_ref(),
            headers_provider,
        )?;
        let stream = wait(py, open.run())?;
        Ok(Stream { inner: Owned::new(stream) })
    }

    /// `create_stream` completing `future` on `event_loop`.
    #[pyo3(signature = (table_name, descriptor, client_id, client_secret, options, headers_provider, event_loop, future))]
    #[allow(clippy::too_many_arguments)]
    fn _create_stream_async(
        &self,
        py: Python<'_>,
        table_name: String,
        descriptor: Option<Vec<u8>>,
        client_id: Option<String>,
        client_secret: Option<String>,
        options: Option<Bound<'_, PyAny>>,
        headers_provider: Option<Bound<'_, PyAny>>,
        event_loop: Bound<'_, PyAny>,
        future: Bound<'_, PyAny>,
    ) -> PyResult<Task> {
        let open = self.open(
            py,
            table_name,
            descriptor.as_deref(),
            client_id,
            client_secret,
            options.as_ref(),
            headers_provider,
        )?;
        Ok(asyncio::spawn(event_loop, future, open.run(), stream_py))
    }

    /// Reads `table_name`'s schema from Unity Catalog with OAuth client credentials (or a headers
    /// provider's `authorization`), waiting with the GIL released.
    #[pyo3(signature = (table_name, client_id=None, client_secret=None, headers_provider=None))]
    fn get_table_schema(
        &self,
        py: Python<'_>,
        table_name: String,
        client_id: Option<String>,
        client_secret: Option<String>,
        headers_provider: Option<Bound<'_, PyAny>>,
    ) -> PyResult<TableSchema> {
        let fetch = self.schema_fetch(py, table_name, client_id, client_secret, headers_provider)?;
        Ok(TableSchema::new(wait(py, fetch)?))
    }

    /// `get_table_schema` completing `future` on `event_loop`.
    #[pyo3(signature = (table_name, client_id, client_secret, headers_provider, event_loop, future))]
    #[allow(clippy::too_many_arguments)]
    fn _get_table_schema_async(
        &self,
        py: Python<'_>,
        table_name: String,
        client_id: Option<String>,
        client_secret: Option<String>,
        headers_provider: Option<Bound<'_, PyAny>>,
        event_loop: Bound<'_, PyAny>,
        future: Bound<'_, PyAny>,
    ) -> PyResult<Task> {
        let fetch = self.schema_fetch(py, table_name, client_id, client_secret, headers_provider)?;
        Ok(asyncio::spawn(event_loop, future, fetch, schema_py))
    }

    /// A new stream on `old`'s table, credentials and options that sends `old`'s unacknowledged
    /// calls again, in order, before anything new. `old` must be closed or failed.
    fn recreate_stream(&self, py: Python<'_>, old: &Stream) -> PyResult<Stream> {
        let old = Arc::clone(&old.inner);
        let sdk = self.inner.clone();
        let stream = wait(py, async move { sdk.recreate_stream(&old).await })?;
        Ok(Stream { inner: Owned::new(stream) })
    }

    /// `recreate_stream` completing `future` on `event_loop`.
    fn _recreate_stream_async(
        &self,
        old: &Stream,
        event_loop: Bound<'_, PyAny>,
        future: Bound<'_, PyAny>,
    ) -> Task {
        let old = Arc::clone(&old.inner);
        let sdk = self.inner.clone();
        asyncio::spawn(event_loop, future, async move { sdk.recreate_stream(&old).await }, stream_py)
    }
    /// Opens an Arrow stream (Flight `DoPut`), waiting with the GIL released until the server
    /// is ready. `schema`: an object with `__arrow_c_schema__` (a pyarrow `Schema`), an Arrow
    /// IPC stream of the schema (`bytes`), or `None` to read it from the table.
    #[pyo3(signature = (table_name, schema, client_id, client_secret, options=None, headers_provider=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_arrow_stream(
        &self,
        py: Python<'_>,
        table_name: String,
        schema: Option<Bound<'_, PyAny>>,
        client_id: Option<String>,
        client_secret: Option<String>,
        options: Option<Bound<'_, PyAny>>,
        headers_provider: Option<Bound<'_, PyAny>>,
    ) -> PyResult<ArrowStream> {
        let open = self.open_arrow(
            py,
            table_name,
            schema.as_ref(),
            client_id,
            client_secret,
            options.as_ref(),
            headers_provider,
        )?;
        let stream = wait(py, open.run())?;
        Ok(ArrowStream { inner: Owned::new(stream) })
    }

    /// `create_arrow_stream` completing `future` on `event_loop`.
    #[pyo3(signature = (table_name, schema, client_id, client_secret, options, headers_provider, event_loop, future))]
    #[allow(clippy::too_many_arguments)]
    fn _create_arrow_stream_async(
        &self,
        py: Python<'_>,
        table_name: String,
        schema: Option<Bound<'_, PyAny>>,
        client_id: Option<String>,
        client_secret: Option<String>,
        options: Option<Bound<'_, PyAny>>,
        headers_provider: Option<Bound<'_, PyAny>>,
        event_loop: Bound<'_, PyAny>,
        future: Bound<'_, PyAny>,
    ) -> PyResult<Task> {
        let open = self.open_arrow(
            py,
            table_name,
            schema.as_ref(),
            client_id,
            client_secret,
            options.as_ref(),
            headers_provider,
        )?;
        Ok(asyncio::spawn(event_loop, future, open.run(), arrow_stream_py))
    }

    /// A new Arrow stream on `old`'s table, schema, credentials and options that first queues
    /// `old`'s unacknowledged rows, in order. `old` must be closed or failed.
    fn recreate_arrow_stream(&self, py: Python<'_>, old: &ArrowStream) -> PyResult<ArrowStream> {
        let old = Arc::clone(&old.inner);
        let sdk = self.inner.clone();
        let stream = wait(py, async move { sdk.recreate_arrow_stream(&old).await })?;
        Ok(ArrowStream { inner: Owned::new(stream) })
    }

    /// `recreate_arrow_stream` completing `future` on `event_loop`.
    fn _recreate_arrow_stream_async(
        &self,
        old: &ArrowStream,
        event_loop: Bound<'_, PyAny>,
        future: Bound<'_, PyAny>,
    ) -> Task {
        let old = Arc::clone(&old.inner);
        let sdk = self.inner.clone();
        asyncio::spawn(
            event_loop,
            future,
            async move { sdk.recreate_arrow_stream(&old).await },
            arrow_stream_py,
        )
    }
}
