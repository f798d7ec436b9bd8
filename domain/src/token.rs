//! Bearer tokens: HS256 JWTs with `sub` (a user UUID) and `exp`.
//!
//! Only HS256 is accepted, whatever the token's header claims, and the signature
//! is compared in constant time. Pure functions: the caller passes the time.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

/// A secret that never shows in logs or debug output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The claims Sunday reads from a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("only HS256 tokens are accepted")]
    Algorithm,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token's claims are invalid (sub must be a user UUID, exp is required)")]
    Claims,
    #[error("the token has expired")]
    Expired,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &Secret) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(secret.bytes()).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// Signs `claims` as an HS256 JWT.
pub fn mint(secret: &Secret, claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Verifies an HS256 JWT and returns its claims, if unexpired at `now` (seconds).
pub fn verify(secret: &Secret, token: &str, now: i64) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header: Header = decode_json(h)?;
    if header.alg != "HS256" {
        return Err(TokenError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed)?;
    let mut m = mac(secret);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&signature).map_err(|_| TokenError::Signature)?;
    let claims: Claims = decode_json(p).map_err(|_| TokenError::Claims)?;
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims { sub: Uuid::from_u128(5), exp, name: Some("Ada".into()), email: None }
    }

    #[test]
    fn a_minted_token_verifies() {
        let s = Secret::new("s3cret");
        let t = mint(&s, &claims(2_000));
        assert_eq!(verify(&s, &t, 1_000), Ok(claims(2_000)));
    }

    #[test]
    fn expired_wrong_key_and_tampered_tokens_fail() {
        let s = Secret::new("s3cret");
        let t = mint(&s, &claims(2_000));
        assert_eq!(verify(&s, &t, 2_000), Err(TokenError::Expired));
        assert_eq!(verify(&Secret::new("other"), &t, 1_000), Err(TokenError::Signature));
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"00000000-0000-0000-0000-000000000009","exp":9999}"#);
        parts[1] = &forged;
        assert_eq!(verify(&s, &parts.join("."), 1_000), Err(TokenError::Signature));
        assert_eq!(verify(&s, "abc", 1_000), Err(TokenError::Malformed));
    }

    #[test]
    fn alg_none_is_refused() {
        let s = Secret::new("s3cret");
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(2_000)).unwrap_or_default());
        assert_eq!(verify(&s, &format!("{h}.{p}."), 1_000), Err(TokenError::Algorithm));
    }

    #[test]
    fn a_subject_that_is_not_a_uuid_is_refused() {
        let s = Secret::new("k");
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"bob","exp":99999}"#);
        let input = format!("{h}.{p}");
        let mut m = mac(&s);
        m.update(input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        assert_eq!(verify(&s, &format!("{input}.{sig}"), 1), Err(TokenError::Claims));
    }
}
