//! Bearer tokens: HS256 JWTs with `sub` (a user UUID) and `exp`, signed and
//! checked by `jsonwebtoken`, and the `Authorization: Bearer` header they
//! come in.
//!
//! Only HS256 is accepted, whatever the token's header claims. `verify` takes
//! the time from its caller, so expiry is tested without a clock.

use std::fmt;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use jsonwebtoken::errors::ErrorKind as JwtError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::problem::{ErrorKind, Problem};

/// The signing secret and the keys made from it; never shows in logs or
/// debug output.
#[derive(Clone)]
pub struct Secret {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        let s = s.into();
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the caller's clock, in `verify`.
        validation.validate_exp = false;
        validation.required_spec_claims = ["sub".to_owned(), "exp".to_owned()].into();
        Self { encoding: EncodingKey::from_secret(s.as_bytes()), decoding: DecodingKey::from_secret(s.as_bytes()), validation }
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

/// Signs `claims` as an HS256 JWT.
pub fn mint(secret: &Secret, claims: &Claims) -> String {
    // Serializing these claims and signing with HMAC cannot fail.
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &secret.encoding).unwrap_or_default()
}

/// Verifies an HS256 JWT and returns its claims, if unexpired at `now` (seconds).
pub fn verify(secret: &Secret, token: &str, now: i64) -> Result<Claims, TokenError> {
    let claims = match jsonwebtoken::decode::<Claims>(token, &secret.decoding, &secret.validation) {
        Ok(data) => data.claims,
        Err(e) => return Err(refusal(token, e.kind())),
    };
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

fn refusal(token: &str, kind: &JwtError) -> TokenError {
    match kind {
        JwtError::InvalidAlgorithm | JwtError::InvalidAlgorithmName => TokenError::Algorithm,
        JwtError::InvalidSignature => TokenError::Signature,
        JwtError::MissingRequiredClaim(_) | JwtError::InvalidSubject => TokenError::Claims,
        // JSON that does not parse is the header's (an algorithm
        // `jsonwebtoken` does not know, such as `none`) or, once the
        // signature was checked, the claims'.
        JwtError::Json(_) if jsonwebtoken::decode_header(token).is_err() => match header_names_an_algorithm(token) {
            true => TokenError::Algorithm,
            false => TokenError::Malformed,
        },
        JwtError::Json(_) => TokenError::Claims,
        _ => TokenError::Malformed,
    }
}

/// Whether a token's header is JSON with an `alg` (which then is not HS256).
fn header_names_an_algorithm(token: &str) -> bool {
    use base64::Engine;
    #[derive(Deserialize)]
    struct Alg {
        #[allow(dead_code)]
        alg: String,
    }
    let Some(header) = token.split('.').next() else { return false };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else { return false };
    serde_json::from_slice::<Alg>(&bytes).is_ok()
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// What a request without a token is told.
pub const NO_TOKEN: &str = "an Authorization: Bearer <JWT> header is required";

/// Why a request is not authenticated: each service answers it with its 401.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    /// No token came; the text says where one is expected.
    #[error("{0}")]
    Missing(&'static str),
    #[error(transparent)]
    Refused(#[from] TokenError),
}

impl From<Unauthenticated> for Problem {
    fn from(e: Unauthenticated) -> Self {
        Problem::new(ErrorKind::Unauthorized, e.to_string())
    }
}

/// The caller a token names; `missing` is what a request without one is told.
pub fn authenticate(secret: &Secret, token: Option<&str>, missing: &'static str, now: i64) -> Result<Claims, Unauthenticated> {
    let token = token.ok_or(Unauthenticated::Missing(missing))?;
    Ok(verify(secret, token, now)?)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims { sub: Uuid::from_u128(5), exp, name: Some("Ada".into()), email: None }
    }

    fn signed(secret: &str, header: &[u8], payload: &[u8]) -> String {
        use hmac::Mac;
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
        m.update(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
    }

    #[test]
    fn a_minted_token_verifies() {
        let s = Secret::new("s3cret");
        let t = mint(&s, &claims(2_000));
        assert_eq!(verify(&s, &t, 1_000), Ok(claims(2_000)));
    }

    #[test]
    fn a_token_signed_elsewhere_with_the_secret_verifies() {
        let t = signed("k", br#"{"alg":"HS256","typ":"JWT"}"#, br#"{"sub":"00000000-0000-0000-0000-000000000005","exp":2000}"#);
        assert_eq!(verify(&Secret::new("k"), &t, 1_000).map(|c| c.sub), Ok(Uuid::from_u128(5)));
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
        assert_eq!(verify(&s, "", 1_000), Err(TokenError::Malformed));
    }

    #[test]
    fn other_algorithms_are_refused() {
        let s = Secret::new("s3cret");
        let p = serde_json::to_vec(&claims(2_000)).unwrap_or_default();
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode(&p));
        assert_eq!(verify(&s, &none, 1_000), Err(TokenError::Algorithm));
        let hs512 = signed("s3cret", br#"{"alg":"HS512"}"#, &p);
        assert_eq!(verify(&s, &hs512, 1_000), Err(TokenError::Algorithm));
    }

    #[test]
    fn a_subject_that_is_not_a_uuid_or_a_missing_expiry_is_refused() {
        let s = Secret::new("k");
        let bob = signed("k", br#"{"alg":"HS256"}"#, br#"{"sub":"bob","exp":99999}"#);
        assert_eq!(verify(&s, &bob, 1), Err(TokenError::Claims));
        let forever = signed("k", br#"{"alg":"HS256"}"#, br#"{"sub":"00000000-0000-0000-0000-000000000005"}"#);
        assert_eq!(verify(&s, &forever, 1), Err(TokenError::Claims));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_not_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        for (value, token) in
            [("Bearer abc", Some("abc")), ("bearer  abc ", Some("abc")), ("BEARER abc", Some("abc")), ("Basic abc", None), ("Bearer", None)]
        {
            h.insert(AUTHORIZATION, value.parse().unwrap_or_else(|_| unreachable!()));
            assert_eq!(bearer(&h), token, "{value}");
        }
    }

    #[test]
    fn authentication_says_why_it_failed() {
        let s = Secret::new("k");
        assert_eq!(authenticate(&s, None, NO_TOKEN, 1), Err(Unauthenticated::Missing(NO_TOKEN)));
        assert_eq!(authenticate(&s, Some("abc"), NO_TOKEN, 1), Err(Unauthenticated::Refused(TokenError::Malformed)));
        let t = mint(&s, &claims(2_000));
        assert_eq!(authenticate(&s, Some(&t), NO_TOKEN, 1_000).map(|c| c.sub), Ok(Uuid::from_u128(5)));
        assert_eq!(Problem::from(Unauthenticated::Missing(NO_TOKEN)).kind, ErrorKind::Unauthorized);
    }

    #[test]
    fn the_secret_does_not_show_in_debug_output() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
