//! Access tokens the mock issues: signed with a fixed development key and checked statelessly, so
//! a restarted `zerobus serve` accepts the tokens its previous instance issued, as a real service
//! does, while expiry and revocation still work.
//!
//! A token is `zbdev1.<claims>.<signature>`: the claims are base64url JSON `{"table", "exp_ms",
//! "nonce"}` and the signature is HMAC-SHA256 over `zbdev1.<claims>` with the server's key. The key
//! is a development key, not a secret: these tokens guard nothing but a local test server.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// The key `zerobus serve` and the conformance server sign tokens with unless told otherwise.
pub const DEV_TOKEN_KEY: &str = "zerobus-dev-token-key (development only, not a secret)";

const PREFIX: &str = "zbdev1.";

/// What a token grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The TABLE entry of `authorization_details`; `None` grants no table.
    pub table: Option<String>,
    /// Expiry, milliseconds since the Unix epoch.
    pub exp_ms: u64,
    /// Makes every token distinct.
    pub nonce: String,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Invalid,
    Expired,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Signs `claims` with `key`.
pub(crate) fn issue(key: &[u8], claims: &Claims) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signed = format!("{PREFIX}{body}");
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Checks the signature and the expiry of `token`.
pub(crate) fn verify(key: &[u8], token: &str) -> Result<Claims, Refused> {
    let (signed, tag) = token.rsplit_once('.').ok_or(Refused::Invalid)?;
    let body = signed.strip_prefix(PREFIX).ok_or(Refused::Invalid)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Refused::Invalid)?;
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), signed.as_bytes(), &tag)
        .map_err(|_| Refused::Invalid)?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).map_err(|_| Refused::Invalid)?)
        .map_err(|_| Refused::Invalid)?;
    if now_ms() >= claims.exp_ms {
        return Err(Refused::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_ms: u64) -> Claims {
        Claims { table: Some("main.default.events".into()), exp_ms, nonce: "n1".into() }
    }

    #[test]
    fn a_token_verifies_with_its_key_only() {
        let t = issue(b"k1", &claims(now_ms() + 60_000));
        assert_eq!(verify(b"k1", &t).unwrap(), claims(verify(b"k1", &t).unwrap().exp_ms));
        assert_eq!(verify(b"k2", &t), Err(Refused::Invalid));
    }

    #[test]
    fn tampered_and_expired_tokens_are_refused() {
        let t = issue(b"k", &claims(now_ms() + 60_000));
        let other = issue(b"k", &Claims { table: None, ..claims(now_ms() + 60_000) });
        let (head, _) = other.rsplit_once('.').unwrap();
        let (_, tag) = t.rsplit_once('.').unwrap();
        assert_eq!(verify(b"k", &format!("{head}.{tag}")), Err(Refused::Invalid));
        assert_eq!(verify(b"k", "zbdev1.nonsense"), Err(Refused::Invalid));
        assert_eq!(verify(b"k", &issue(b"k", &claims(now_ms() - 1))), Err(Refused::Expired));
    }
}
