//! Request extractors that fail in the API's problem shape: path ids (404
//! when not a UUID) and the command headers (JSON bodies are the edge's:
//! `sunday_edge::json`), and the deserializers command bodies share.

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use uuid::Uuid;

use crate::AppState;
use crate::problem::ApiError;

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// For integer fields: a JSON number with no fractional part (`5` or `5.0`,
/// both integers to JSON Schema); anything else is a wrong type.
pub fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!("{n} is not a whole number in range"))),
    }
}

/// `whole_number` for a field that may be absent but not `null`.
pub fn some_whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    whole_number(d).map(Some)
}

/// For `Option` fields that may be absent but not `null`: `null` is a wrong type.
pub fn non_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// For fields where absent and `null` mean different things.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Path segments as text; one that is not valid UTF-8 names no resource (a
/// 404 in the API's problem shape, not axum's plain-text 400).
pub struct Segment<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Segment<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => Ok(Self(p.0)),
            Err(_) => Err(ApiError::NotFound("resource")),
        }
    }
}

/// Path ids: anything that is not a UUID names no resource, so it is a 404.
pub fn path_id(raw: &str, what: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(what))
}

/// The headers that shape how a command runs.
#[derive(Clone, Debug, Default)]
pub struct CommandHeaders {
    /// `If-Match`: `Some(u64::MAX)` when present but not a version (never matches).
    pub if_match: Option<u64>,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<Uuid>,
    pub traceparent: Option<String>,
    pub method: Method,
    pub path: String,
}

impl FromRequestParts<AppState> for CommandHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let text = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let if_match = text("if-match").map(parse_if_match);
        let idempotency_key = match text("idempotency-key") {
            Some(k) if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY_LEN => {
                return Err(ApiError::BadRequest(format!("Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters")));
            }
            k => k.map(str::to_owned),
        };
        let correlation_id = text("x-correlation-id").or(text("x-request-id")).and_then(|s| Uuid::parse_str(s).ok());
        Ok(Self {
            if_match,
            idempotency_key,
            correlation_id,
            traceparent: text("traceparent").map(str::to_owned),
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
        })
    }
}

/// `"3"`, `W/"3"` or `3` is version 3; anything else matches no version.
fn parse_if_match(raw: &str) -> u64 {
    let v = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
    v.parse().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        assert_eq!(parse_if_match("\"3\""), 3);
        assert_eq!(parse_if_match("W/\"3\""), 3);
        assert_eq!(parse_if_match("7"), 7);
        assert_eq!(parse_if_match("\"x\""), u64::MAX);
    }

    #[test]
    fn a_whole_number_written_with_a_point_is_read_exactly() {
        let read = |text: &str| whole_number(&mut serde_json::Deserializer::from_str(text)).ok();
        assert_eq!(read("2251799813685247.0"), Some(2_251_799_813_685_247), "parsed to the nearest double, no fraction");
        assert_eq!(read("5.0"), Some(5));
        assert_eq!(read("5.5"), None);
    }
}
