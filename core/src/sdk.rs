//! The SDK object: where the service is, how to trust it, and the shared token cache.

use std::sync::Arc;

use http::Uri;
use tonic::transport::{Certificate, ClientTlsConfig};

use crate::arrow_stream::{ArrowStreamConfigurationOptions, ArrowTableProperties, ZerobusArrowStream};
use crate::auth::{Auth, HeadersProvider, OAuth, Secret, TokenService};
use crate::options::{parse_table_name, RecordType, StreamConfigurationOptions, TableProperties};
use crate::proxy::Connector;
use crate::stream::{RecordRef, ZerobusStream};
use crate::table_schema::{self, FromTable};
use crate::transport::Transport;
use crate::{ZerobusError, ZerobusResult};
use zerobus_schema::TableSchema;

/// Name and version sent in `user-agent` by the Rust SDK.
pub const SDK_NAME: &str = "zerobus-sdk-rs";
/// This crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Entry point: one per Zerobus endpoint, cheap to clone, shared by every stream it creates.
#[derive(Clone, Debug)]
pub struct ZerobusSdk {
    inner: Arc<SdkInner>,
}

#[derive(Debug)]
struct SdkInner {
    transport: Arc<Transport>,
    tokens: Arc<TokenService>,
}

/// Builds a [`ZerobusSdk`].
#[derive(Clone, Debug, Default)]
pub struct ZerobusSdkBuilder {
    endpoint: Option<String>,
    workspace_url: Option<String>,
    ca_pems: Vec<Vec<u8>>,
    application_name: Option<String>,
    sdk_name: Option<String>,
}

impl ZerobusSdkBuilder {
    /// The Zerobus endpoint, `https://<workspace-id>.zerobus.<region>.cloud.databricks.com`.
    /// A bare host means `https://`; plaintext needs an explicit `http://` (local servers, tests).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The workspace (Unity Catalog) URL; its `/oidc/v1/token` issues OAuth tokens.
    pub fn workspace_url(mut self, url: impl Into<String>) -> Self {
        self.workspace_url = Some(url.into());
        self
    }

    /// Same as [`workspace_url`](Self::workspace_url), under the published SDK's name.
    pub fn unity_catalog_url(self, url: impl Into<String>) -> Self {
        self.workspace_url(url)
    }

    /// Trusts the CA certificates in `pem` as well as the system roots (private deployments,
    /// TLS-inspecting proxies).
    pub fn add_ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Appended to `user-agent` so the service can tell applications apart.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Replaces `zerobus-sdk-rs/<version>` in `user-agent`; for language bindings.
    #[doc(hidden)]
    pub fn sdk_name(mut self, name_and_version: impl Into<String>) -> Self {
        self.sdk_name = Some(name_and_version.into());
        self
    }

    /// Checks the URLs and certificates and builds the SDK.
    pub fn build(self) -> ZerobusResult<ZerobusSdk> {
        let endpoint = parse_url("endpoint", self.endpoint.as_deref())?;
        let workspace = parse_url("workspace URL", self.workspace_url.as_deref())?;
        let host = endpoint.host().unwrap_or_default();
        // PROTOCOL.md §4: the workspace id is the first DNS label of the endpoint host.
        let workspace_id = host.split('.').next().unwrap_or_default().to_owned();

        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        let mut tls = ClientTlsConfig::new().with_native_roots();
        for pem in &self.ca_pems {
            use rustls_pki_types::pem::PemObject;
            let mut found = 0;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| {
                    ZerobusError::invalid_argument(format!("CA certificate PEM does not parse: {e}; pass the PEM text of the CA (-----BEGIN CERTIFICATE----- blocks)"))
                })?;
                roots.add(cert).map_err(|e| {
                    ZerobusError::invalid_argument(format!(
                        "CA certificate is not usable: {e}; pass the certificate of a certificate authority"
                    ))
                })?;
                found += 1;
            }
            if found == 0 {
                return Err(ZerobusError::invalid_argument("CA certificate PEM holds no CERTIFICATE block; pass PEM text with at least one -----BEGIN CERTIFICATE----- block"));
            }
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        let tls = (endpoint.scheme_str() == Some("https")).then_some(tls);

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let rustls_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ZerobusError::internal(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(rustls_config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(Connector::from_env(workspace.host().unwrap_or_default())?);
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);

        let mut user_agent = self.sdk_name.unwrap_or_else(|| format!("{SDK_NAME}/{VERSION}"));
        if let Some(app) = self.application_name.filter(|a| !a.is_empty()) {
            user_agent.push(' ');
            user_agent.push_str(&app);
        }
        let workspace_str = workspace.to_string();
        Ok(ZerobusSdk {
            inner: Arc::new(SdkInner {
                transport: Arc::new(Transport { endpoint, tls, user_agent }),
                tokens: Arc::new(TokenService::new(&workspace_str, workspace_id, http)),
            }),
        })
    }
}

fn parse_url(what: &str, url: Option<&str>) -> ZerobusResult<Uri> {
    let url = url.map(str::trim).filter(|u| !u.is_empty()).ok_or_else(|| {
        ZerobusError::invalid_argument(format!(
            "the {what} is required; set it on the SDK (a URL such as https://host)"
        ))
    })?;
    let with_scheme = if url.contains("://") { url.to_owned() } else { format!("https://{url}") };
    let uri: Uri = with_scheme.trim_end_matches('/').parse().map_err(|e| {
        ZerobusError::invalid_argument(format!(
            "{what} {url:?} is not a URL: {e}; pass a URL such as https://host"
        ))
    })?;
    match uri.scheme_str() {
        Some("https") | Some("http") => {}
        _ => {
            return Err(ZerobusError::invalid_argument(format!(
                "{what} {url:?} must start with https:// (or http:// for a local plaintext server)"
            )))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(ZerobusError::invalid_argument(format!(
            "{what} {url:?} has no host; pass a URL such as https://host"
        )));
    }
    Ok(uri)
}

impl ZerobusSdk {
    /// Starts building an SDK.
    pub fn builder() -> ZerobusSdkBuilder {
        ZerobusSdkBuilder::default()
    }

    /// An SDK for `endpoint` with tokens from `workspace_url`, as the published SDKs spell it.
    pub fn new(endpoint: impl Into<String>, workspace_url: impl Into<String>) -> ZerobusResult<Self> {
        Self::builder().endpoint(endpoint).workspace_url(workspace_url).build()
    }

    /// The `user-agent` this SDK sends.
    pub fn user_agent(&self) -> &str {
        &self.inner.transport.user_agent
    }

    /// Opens a stream authenticated with OAuth client credentials (a service principal).
    ///
    /// Resolves once the server answered `create_stream`. Retryable failures are retried within
    /// the recovery budget of `options`; a final one is returned as is.
    pub async fn create_stream(
        &self,
        table: TableProperties,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        options: StreamConfigurationOptions,
    ) -> ZerobusResult<ZerobusStream> {
        let auth = self.oauth(&table.table_name, client_id.into(), client_secret.into())?;
        self.open(table, auth, options).await
    }

    /// Opens a stream whose call metadata comes from `provider`, asked on every connect.
    pub async fn create_stream_with_headers_provider(
        &self,
        table: TableProperties,
        provider: Arc<dyn HeadersProvider>,
        options: StreamConfigurationOptions,
    ) -> ZerobusResult<ZerobusStream> {
        self.open(table, Auth::Headers(provider), options).await
    }

    /// Opens a new stream on `old`'s table with its credentials and options (its ack callback
    /// included), then queues every call `old` holds unacknowledged, in order and with its batch
    /// structure kept, before it returns: the new stream's first offsets are those calls, and new
    /// ingests follow them. Use it after `old` failed for good (or was closed with records
    /// unacknowledged) to send them once more; `old` must be closed or failed, so a record is not
    /// in flight on two streams at once.
    ///
    /// `old` may come from another `ZerobusSdk`: the new stream uses the same connection settings
    /// as `old` (endpoint, TLS, token service), not this SDK's.
    pub async fn recreate_stream(&self, old: &ZerobusStream) -> ZerobusResult<ZerobusStream> {
        if !old.is_closed() {
            return Err(ZerobusError::invalid_argument(format!(
                "table {}: recreate_stream needs a closed or failed stream; close it first (its \
                 unacknowledged records are then sent again on the new stream)",
                old.table_name()
            )));
        }
        let (transport, table, from_table, auth, options) = old.recreate_parts();
        let batches = old.get_unacked_batches();
        let stream = ZerobusStream::open(transport, table, from_table, auth, options).await?;
        let json = stream.record_type() == RecordType::Json;
        for batch in &batches {
            let records = batch.iter().map(|r| match (json, std::str::from_utf8(r)) {
                // JSON records were checked as UTF-8 when first ingested.
                (true, Ok(text)) => RecordRef::Json(text),
                _ => RecordRef::Proto(r),
            });
            stream.ingest_records_offset(records).await?;
        }
        Ok(stream)
    }

    /// Opens an Arrow stream (Flight `DoPut`, PROTOCOL.md §9) authenticated with OAuth client
    /// credentials. With `table.schema` `None` the schema is read from the table first.
    pub async fn create_arrow_stream(
        &self,
        table: ArrowTableProperties,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        options: ArrowStreamConfigurationOptions,
    ) -> ZerobusResult<ZerobusArrowStream> {
        let auth = self.oauth(&table.table_name, client_id.into(), client_secret.into())?;
        self.open_arrow(table, auth, options).await
    }

    /// [`create_arrow_stream`](Self::create_arrow_stream) with call metadata from `provider`.
    pub async fn create_arrow_stream_with_headers_provider(
        &self,
        table: ArrowTableProperties,
        provider: Arc<dyn HeadersProvider>,
        options: ArrowStreamConfigurationOptions,
    ) -> ZerobusResult<ZerobusArrowStream> {
        self.open_arrow(table, Auth::Headers(provider), options).await
    }

    /// Opens a new Arrow stream on `old`'s table with its schema, credentials and options, and
    /// queues `old`'s unacknowledged rows on it (from the first unacked row, in order) before it
    /// returns. `old` must be closed or failed.
    pub async fn recreate_arrow_stream(&self, old: &ZerobusArrowStream) -> ZerobusResult<ZerobusArrowStream> {
        if !old.is_closed() {
            return Err(ZerobusError::invalid_argument(format!(
                "table {}: recreate_arrow_stream needs a closed or failed stream; close it first",
                old.table_name()
            )));
        }
        let batches = old.get_unacked_batches()?;
        let (transport, auth) = old.recreate_parts();
        let stream = ZerobusArrowStream::open(
            transport,
            old.table_name().to_owned(),
            old.schema().clone(),
            auth,
            old.options().clone(),
        )
        .await?;
        for batch in batches {
            stream.ingest_batch(batch).await?;
        }
        Ok(stream)
    }

    async fn open_arrow(
        &self,
        table: ArrowTableProperties,
        auth: Auth,
        options: ArrowStreamConfigurationOptions,
    ) -> ZerobusResult<ZerobusArrowStream> {
        parse_table_name(&table.table_name)?;
        options.validate()?;
        let schema = match table.schema {
            Some(schema) => schema,
            None => {
                let opts = options.stream_options();
                let schema = table_schema::fetch(&self.inner.tokens, &auth, &table.table_name, &opts).await?;
                Arc::new(zerobus_schema::arrow_schema(&schema))
            }
        };
        ZerobusArrowStream::open(self.inner.transport.clone(), table.table_name, schema, auth, options).await
    }

    async fn open(
        &self,
        table: TableProperties,
        auth: Auth,
        options: StreamConfigurationOptions,
    ) -> ZerobusResult<ZerobusStream> {
        parse_table_name(&table.table_name)?;
        options.validate()?;
        let mut table = table;
        let mut from_table = None;
        if options.record_type == RecordType::Proto && table.descriptor_proto.is_none() {
            // From the table: its schema gives the descriptor, and JSON records are encoded to it.
            let schema = table_schema::fetch(&self.inner.tokens, &auth, &table.table_name, &options).await?;
            let t = FromTable::new(schema)?;
            table.descriptor_proto = Some(t.encoder.descriptor().clone());
            from_table = Some(t);
        }
        ZerobusStream::open(self.inner.transport.clone(), table, from_table, auth, options).await
    }

    /// Reads `table`'s schema from Unity Catalog with OAuth client credentials (the same token a
    /// stream on the table uses). Map it with [`zerobus_schema::descriptor`] /
    /// [`zerobus_schema::proto_file`] / [`zerobus_schema::arrow_schema`].
    pub async fn get_table_schema(
        &self,
        table_name: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> ZerobusResult<TableSchema> {
        parse_table_name(table_name)?;
        let auth = self.oauth(table_name, client_id.into(), client_secret.into())?;
        table_schema::fetch(&self.inner.tokens, &auth, table_name, &StreamConfigurationOptions::default())
            .await
    }

    /// [`get_table_schema`](Self::get_table_schema) authenticated by a headers provider's
    /// `authorization` header.
    pub async fn get_table_schema_with_headers_provider(
        &self,
        table_name: &str,
        provider: Arc<dyn HeadersProvider>,
    ) -> ZerobusResult<TableSchema> {
        parse_table_name(table_name)?;
        let auth = Auth::Headers(provider);
        table_schema::fetch(&self.inner.tokens, &auth, table_name, &StreamConfigurationOptions::default())
            .await
    }

    fn oauth(&self, table: &str, client_id: String, client_secret: String) -> ZerobusResult<Auth> {
        if client_id.is_empty() {
            return Err(ZerobusError::invalid_argument(
                "client id is empty; pass the OAuth client id of the service principal",
            ));
        }
        Ok(Auth::OAuth(Arc::new(OAuth {
            service: self.inner.tokens.clone(),
            client_id,
            secret: Secret(client_secret),
            table: table.to_owned(),
        })))
    }
}
