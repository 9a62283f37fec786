//! Credentials for the stream: OAuth machine-to-machine tokens (PROTOCOL.md §4) with a shared
//! cache, or a caller's headers provider asked again on every connect.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;

use crate::proxy::Connector;
use crate::{ErrorCode, ZerobusError, ZerobusResult};

/// Supplies the call metadata of a stream instead of OAuth: it must return at least
/// `authorization` and `x-databricks-zerobus-table-name`. Asked again on every (re)connect, on a
/// thread where blocking is allowed.
pub trait HeadersProvider: Send + Sync {
    /// The headers for the next connection attempt. An error fails that attempt; its code decides
    /// whether the stream retries.
    fn get_headers(&self) -> ZerobusResult<Vec<(String, String)>>;
}

/// A string that never shows in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    client_id: String,
    secret_hash: u64,
    table: String,
}

#[derive(Clone)]
struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

pub(crate) type HttpClient = Client<hyper_rustls::HttpsConnector<Connector>, Full<Bytes>>;

/// The token endpoint and the tokens it gave out, shared by every stream of one SDK.
pub(crate) struct TokenService {
    /// The workspace URL without a trailing `/` (Unity Catalog's REST API lives under it too).
    pub workspace_url: String,
    token_url: String,
    workspace_id: String,
    pub http: HttpClient,
    cache: Mutex<HashMap<CacheKey, CachedToken>>,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService").field("token_url", &self.token_url).finish_non_exhaustive()
    }
}

impl TokenService {
    pub fn new(workspace_url: &str, workspace_id: String, http: HttpClient) -> Self {
        let workspace_url = workspace_url.trim_end_matches('/').to_owned();
        TokenService {
            token_url: format!("{workspace_url}/oidc/v1/token"),
            workspace_url,
            workspace_id,
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

/// OAuth client credentials for one table.
pub(crate) struct OAuth {
    pub service: Arc<TokenService>,
    pub client_id: String,
    pub secret: Secret,
    pub table: String,
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("table", &self.table)
            .finish()
    }
}

impl OAuth {
    fn key(&self) -> CacheKey {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.secret.0.hash(&mut h);
        CacheKey { client_id: self.client_id.clone(), secret_hash: h.finish(), table: self.table.clone() }
    }

    /// A valid token: the cached one unless it is due for refresh. Returns whether the token
    /// endpoint was asked.
    pub async fn token(&self) -> ZerobusResult<(Secret, bool)> {
        let key = self.key();
        if let Some(t) = self.service.cache.lock().unwrap().get(&key) {
            if Instant::now() < t.refresh_at {
                return Ok((t.token.clone(), false));
            }
        }
        let (token, lifetime) = self.fetch().await?;
        // Refresh within min(300 s, half the lifetime) of expiry.
        let margin = Duration::from_secs(300).min(lifetime / 2);
        let refresh_at = Instant::now() + lifetime.saturating_sub(margin);
        self.service.cache.lock().unwrap().insert(key, CachedToken { token: token.clone(), refresh_at });
        Ok((token, true))
    }

    /// Drops the cached token after the server refused it, so the next connect fetches anew.
    pub fn invalidate(&self) {
        self.service.cache.lock().unwrap().remove(&self.key());
    }

    async fn fetch(&self) -> ZerobusResult<(Secret, Duration)> {
        let (catalog, schema, _) = crate::options::parse_table_name(&self.table)?;
        let details = serde_json::json!([
            {"type": "unity_catalog_privileges", "privileges": ["USE CATALOG"],
             "object_type": "CATALOG", "object_full_path": catalog},
            {"type": "unity_catalog_privileges", "privileges": ["USE SCHEMA"],
             "object_type": "SCHEMA", "object_full_path": format!("{catalog}.{schema}")},
            {"type": "unity_catalog_privileges", "privileges": ["SELECT", "MODIFY"],
             "object_type": "TABLE", "object_full_path": self.table, "operations": ["zerobuswrite"]},
        ]);
        let resource =
            format!("api://databricks/workspaces/{}/zerobusDirectWriteApi", self.service.workspace_id);
        let body = form_encode(&[
            ("grant_type", "client_credentials"),
            ("scope", "all-apis"),
            ("resource", &resource),
            ("authorization_details", &details.to_string()),
        ]);
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.client_id, self.secret.0));
        let request = http::Request::post(&self.service.token_url)
            .header(http::header::AUTHORIZATION, format!("Basic {basic}"))
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| {
                ZerobusError::invalid_argument(format!("token endpoint URL: {e}; check the workspace URL"))
            })?;
        let unreachable = |e: &dyn fmt::Display| {
            ZerobusError::new(
                ErrorCode::TokenEndpointError,
                format!(
                    "token endpoint {} unreachable: {e}; check the workspace URL and the network",
                    self.service.token_url
                ),
            )
        };
        let response = self.service.http.request(request).await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| unreachable(&e))?.to_bytes();
        if status.is_server_error() {
            return Err(ZerobusError::new(
                ErrorCode::TokenEndpointError,
                format!("token endpoint answered HTTP {status}; will retry"),
            ));
        }
        if !status.is_success() {
            // The endpoint's `error` field says why (invalid_client, …); it never holds the secret.
            let reason = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "no reason given".into());
            return Err(ZerobusError::new(
                ErrorCode::Unauthenticated,
                format!(
                    "token endpoint refused client id {:?} for table {} (HTTP {status}: {reason}); check the client id and secret",
                    self.client_id, self.table
                ),
            ));
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            access_token: String,
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            ZerobusError::new(
                ErrorCode::ProtocolError,
                format!("token endpoint answered a malformed body (expected access_token, expires_in): {e}; check that the workspace URL is the Databricks workspace"),
            )
        })?;
        Ok((Secret(parsed.access_token), Duration::from_secs(parsed.expires_in.unwrap_or(3600))))
    }
}

/// `application/x-www-form-urlencoded` encoding.
fn form_encode(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode(k, &mut out);
        out.push('=');
        percent_encode(v, &mut out);
    }
    out
}

fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// How a stream authenticates.
#[derive(Clone)]
pub(crate) enum Auth {
    OAuth(Arc<OAuth>),
    Headers(Arc<dyn HeadersProvider>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::OAuth(o) => o.fmt(f),
            Auth::Headers(_) => f.write_str("HeadersProvider"),
        }
    }
}

impl crate::retry::TokenCache for Auth {
    fn invalidate_token(&self) {
        if let Auth::OAuth(oauth) = self {
            oauth.invalidate();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        assert_eq!(
            form_encode(&[("a b", "x=y&z"), ("j", "[{\"k\":\"v\"}]")]),
            "a+b=x%3Dy%26z&j=%5B%7B%22k%22%3A%22v%22%7D%5D"
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        assert_eq!(format!("{:?}", Secret("hunter2".into())), "<redacted>");
    }
}
