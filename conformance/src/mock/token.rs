//! The OAuth token endpoint (`POST /oidc/v1/token`), HTTP/1.1 like the real workspace's. The
//! same server answers Unity Catalog's table API (`uc.rs`), as the workspace URL does.
//! The client secret is compared and forgotten: it is never logged, stored or echoed.

use super::dev_token::{self, Claims};
use super::{Shared, TokenRequestLog, TOKEN_PATH, UC_TABLES_PATH};
use base64::Engine as _;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const MAX_BODY: usize = 64 * 1024;
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Accepts connections until the task is aborted; aborting drops the `JoinSet` and with it every
/// connection.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    super::accept_loop(listener, "mock token endpoint", move |tcp| {
        let shared = shared.clone();
        async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
        }
    })
    .await
}

pub(crate) fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static response parts are valid")
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Full<Bytes>> {
    json_response(status, serde_json::json!({ "error": error, "error_description": description }))
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if let Some(table) = req.uri().path().strip_prefix(UC_TABLES_PATH) {
        let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        return super::uc::table(shared, req.method(), table, authorization);
    }
    if req.uri().path() != TOKEN_PATH {
        return oauth_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint");
    }
    if req.method() != Method::POST {
        return oauth_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "the token endpoint takes POST",
        );
    }
    let basic = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(parse_basic);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "request body unreadable or larger than 64 KiB",
            )
        }
    };
    let form = parse_form(&body);

    let delay = shared.state().faults.token.delay_ms;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }

    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    // RFC 6749 §2.3.1 lets clients send credentials in the body instead of Basic auth.
    let credentials =
        basic.or_else(|| Some((field("client_id")?.to_string(), field("client_secret")?.to_string())));
    let secret_matched = credentials
        .as_ref()
        .is_some_and(|(id, secret)| *id == shared.config.client_id && *secret == shared.config.client_secret);
    let client_id = credentials.map(|(id, _)| id).or_else(|| field("client_id").map(str::to_string));
    let details_raw = field("authorization_details");
    let details: Option<Result<serde_json::Value, _>> =
        details_raw.map(serde_json::from_str::<serde_json::Value>);

    let mut log = TokenRequestLog {
        basic_client_id: client_id,
        basic_secret_matched: secret_matched,
        form: form
            .iter()
            .filter(|(k, _)| k != "client_secret")
            .map(|(k, v)| {
                if k == "subject_token" {
                    (k.clone(), format!("<redacted {} bytes>", v.len()))
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect(),
        authorization_details: details.as_ref().and_then(|d| d.as_ref().ok().cloned()),
        status: 0,
        issued_token: None,
    };

    let mut state = shared.state();
    let (response, issued) = (|| {
        if state.token_fail_left > 0 {
            state.token_fail_left -= 1;
            return (
                oauth_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "token endpoint unavailable (scripted fault)",
                ),
                None,
            );
        }
        if state.token_reject_left > 0 {
            state.token_reject_left -= 1;
            return (
                oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "client authentication failed (scripted fault)",
                ),
                None,
            );
        }
        match field("grant_type") {
            Some("client_credentials") => {
                if !secret_matched {
                    return (
                        oauth_error(
                            StatusCode::UNAUTHORIZED,
                            "invalid_client",
                            "client authentication failed: unknown client id or wrong secret",
                        ),
                        None,
                    );
                }
            }
            Some(TOKEN_EXCHANGE) => {
                if field("subject_token").is_none_or(str::is_empty) {
                    return (
                        oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request",
                            "token exchange needs subject_token",
                        ),
                        None,
                    );
                }
            }
            Some(other) => {
                return (
                    oauth_error(
                        StatusCode::BAD_REQUEST,
                        "unsupported_grant_type",
                        &format!("grant_type {other:?} is not supported"),
                    ),
                    None,
                )
            }
            None => {
                return (oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "missing grant_type"), None)
            }
        }
        let table = match details {
            None => None,
            Some(Ok(ref value)) => match table_of(value) {
                Ok(table) => table,
                Err(e) => return (oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e), None),
            },
            Some(Err(ref e)) => {
                return (
                    oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        &format!("authorization_details is not JSON: {e}"),
                    ),
                    None,
                )
            }
        };
        let lifetime = state.faults.token.lifetime_secs.unwrap_or(shared.config.token_lifetime_secs);
        let claims =
            Claims { table, exp_ms: dev_token::now_ms() + lifetime * 1000, nonce: shared.unique_id("") };
        let token = dev_token::issue(shared.config.token_key.as_bytes(), &claims);
        (
            json_response(
                StatusCode::OK,
                serde_json::json!({
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": lifetime,
                }),
            ),
            Some(token),
        )
    })();
    log.status = response.status().as_u16();
    log.issued_token = issued;
    state.token_requests.push(log);
    response
}

/// The table a token is for: `object_full_path` of the `TABLE` entry. `Ok(None)` when the list
/// names no table (the token then opens no stream).
fn table_of(details: &serde_json::Value) -> Result<Option<String>, String> {
    let entries = details.as_array().ok_or("authorization_details must be a JSON array")?;
    let mut table = None;
    for entry in entries {
        let object = entry.as_object().ok_or("authorization_details entries must be objects")?;
        if object.get("object_type").and_then(|t| t.as_str()) == Some("TABLE") {
            let path = object
                .get("object_full_path")
                .and_then(|p| p.as_str())
                .ok_or("the TABLE entry of authorization_details has no object_full_path")?;
            table = Some(path.to_string());
        }
    }
    Ok(table)
}

/// `Basic base64(id:secret)` → (id, secret).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// `application/x-www-form-urlencoded` → decoded pairs, in order.
pub(crate) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut kv = pair.splitn(2, |&b| b == b'=');
            let k = kv.next().unwrap_or_default();
            let v = kv.next().unwrap_or_default();
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
