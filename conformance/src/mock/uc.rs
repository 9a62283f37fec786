//! Unity Catalog's table API on the workspace URL: `GET /api/2.1/unity-catalog/tables/{full_name}`
//! answers a declared table's schema as UC does (PROTOCOL.md §7), to a bearer token the gRPC
//! service would accept for that table (the same check, [`Shared::authenticate`]).
//!
//! Errors are Databricks REST errors, `{"error_code": …, "message": …}`: 401 `UNAUTHENTICATED`
//! for a missing, invalid, expired or revoked token, 403 `PERMISSION_DENIED` for a token issued
//! for another table, 404 `TABLE_DOES_NOT_EXIST` for a table without declared columns, 405 for a
//! method other than GET.

use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body_util::Full;

use super::grpc::grant_allows;
use super::token::{hex, json_response};
use super::{SchemaRequestLog, Shared};

/// Answers a request for the table named by `raw_name` (the path after the API prefix, still
/// percent-encoded) and logs it.
pub(crate) fn table(
    shared: &Shared,
    method: &Method,
    raw_name: &str,
    authorization: Option<&str>,
) -> Response<Full<Bytes>> {
    let name = percent_decode(raw_name);
    let mut state = shared.state();
    let answer = (|| {
        if method != Method::GET {
            return Err((
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("{method} is not allowed here; the table API takes GET"),
            ));
        }
        let auth = shared
            .authenticate(&state, authorization)
            .map_err(|status| (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", status.message().to_string()))?;
        if !grant_allows(&auth.grant, &name) {
            return Err((
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                format!("the access token was not issued for table {name}"),
            ));
        }
        shared.schemas.get(&name).map(|t| t.uc_json.clone()).ok_or_else(|| {
            (StatusCode::NOT_FOUND, "TABLE_DOES_NOT_EXIST", format!("Table '{name}' does not exist."))
        })
    })();
    let (response, error_code) = match answer {
        Ok(body) => (
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(body))
                .expect("static response parts are valid"),
            None,
        ),
        Err((status, code, message)) => {
            let mut response =
                json_response(status, serde_json::json!({ "error_code": code, "message": message }));
            if status == StatusCode::METHOD_NOT_ALLOWED {
                response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET"));
            }
            (response, Some(code.to_string()))
        }
    };
    state.schema_requests.push(SchemaRequestLog {
        table: name,
        status: response.status().as_u16(),
        error_code,
    });
    response
}

/// `%2E` → `.`; a path keeps `+` as it is.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
