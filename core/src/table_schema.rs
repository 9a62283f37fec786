//! A table's schema from Unity Catalog (`GET {workspace_url}/api/2.1/unity-catalog/tables/{name}`,
//! PROTOCOL.md §7), fetched with the stream's own credentials, and what a stream created "from
//! the table" keeps of it: the schema, its record descriptor and the typed JSON encoder.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use zerobus_schema::{TableSchema, TypedEncoder};

use crate::auth::{Auth, TokenService};
use crate::retry::{Next, RetryBudget};
use crate::{ErrorCode, StreamConfigurationOptions, ZerobusError, ZerobusResult};

/// A PROTO stream opened from its table's schema: JSON records given to it are encoded here.
#[derive(Debug)]
pub(crate) struct FromTable {
    pub schema: TableSchema,
    pub encoder: TypedEncoder,
}

impl FromTable {
    pub fn new(schema: TableSchema) -> ZerobusResult<Arc<FromTable>> {
        let encoder = TypedEncoder::new(&schema).map_err(|e| {
            ZerobusError::invalid_argument(format!(
                "{e}; such a table cannot be written as PROTO records: open a JSON stream instead"
            ))
        })?;
        Ok(Arc::new(FromTable { schema, encoder }))
    }
}

/// Fetches `table`'s schema, retrying what is retryable within the options' create budget.
pub(crate) async fn fetch(
    service: &TokenService,
    auth: &Auth,
    table: &str,
    opts: &StreamConfigurationOptions,
) -> ZerobusResult<TableSchema> {
    let mut budget = RetryBudget::for_open(opts);
    loop {
        let error = match fetch_once(service, auth, table).await {
            Ok(schema) => return Ok(schema),
            Err(e) => e,
        };
        match budget.attempt_failed(error, auth) {
            Next::GiveUp(e) => return Err(e),
            Next::RetryAfter(wait) => tokio::time::sleep(wait).await,
        }
    }
}

async fn fetch_once(service: &TokenService, auth: &Auth, table: &str) -> ZerobusResult<TableSchema> {
    let authorization = match auth {
        Auth::OAuth(oauth) => format!("Bearer {}", oauth.token().await?.0 .0),
        Auth::Headers(provider) => {
            let provider = provider.clone();
            let headers = tokio::task::spawn_blocking(move || provider.get_headers())
                .await
                .map_err(|e| ZerobusError::internal(format!("headers provider panicked: {e}")))??;
            headers
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    ZerobusError::invalid_argument(format!(
                        "table {table}: the headers provider gave no `authorization` header, which reading the \
                         table's schema needs; return one, or pass a descriptor"
                    ))
                })?
        }
    };
    let url = format!("{}{}", service.workspace_url, zerobus_schema::table_path(table));
    let request = http::Request::get(&url)
        .header(http::header::AUTHORIZATION, authorization)
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::new()))
        .map_err(|e| {
            ZerobusError::invalid_argument(format!("table schema URL {url}: {e}; check the table name"))
        })?;
    let unreachable = |e: &dyn std::fmt::Display| {
        ZerobusError::new(
            ErrorCode::Unavailable,
            format!(
                "Unity Catalog at {} unreachable: {e}; check the workspace URL and the network",
                service.workspace_url
            ),
        )
    };
    let response = service.http.request(request).await.map_err(|e| unreachable(&e))?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|e| unreachable(&e))?.to_bytes();
    // Unity Catalog's errors are `{"error_code": …, "message": …}`; neither holds a credential.
    let reason = || {
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .map(|v| {
                let code = v.get("error_code").and_then(|c| c.as_str()).unwrap_or("");
                let msg = v.get("message").and_then(|c| c.as_str()).unwrap_or("");
                match (code.is_empty(), msg.is_empty()) {
                    (false, false) => format!("{code}: {msg}"),
                    _ => format!("{code}{msg}"),
                }
            })
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "no reason given".into())
    };
    let (code, advice) = match status.as_u16() {
        200..=299 => {
            return TableSchema::from_uc_json(&body).map_err(|e| {
                ZerobusError::new(
                    ErrorCode::ProtocolError,
                    format!("table {table}: Unity Catalog's answer: {e}"),
                )
            })
        }
        401 => (ErrorCode::Unauthenticated, "check the client id and secret"),
        403 => (
            ErrorCode::PermissionDenied,
            "grant the service principal USE CATALOG, USE SCHEMA and SELECT on it",
        ),
        404 => (ErrorCode::NotFound, "check the catalog.schema.table name"),
        429 | 500..=599 => (ErrorCode::Unavailable, "will retry"),
        _ => (ErrorCode::ProtocolError, "check that the workspace URL is the Databricks workspace"),
    };
    Err(ZerobusError::new(
        code,
        format!(
            "reading the schema of table {table} from Unity Catalog: HTTP {status} ({}); {advice}",
            reason()
        ),
    ))
}
