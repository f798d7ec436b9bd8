//! JSON request bodies: refused unless declared JSON (415), larger than a
//! limit (413), or not valid JSON of the expected shape (400), and kept with
//! their canonical form (the parsed value written back out, keys sorted).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::de::DeserializeOwned;

use crate::problem::{ErrorKind, Problem};

/// The largest body a request may carry.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A parsed JSON body and its canonical form.
pub struct JsonBody<T> {
    pub value: T,
    pub canonical: String,
}

/// Why a body was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the request body must be JSON (Content-Type: application/json)")]
    NotJson,
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    #[error("the body does not fit the command: {0}")]
    Shape(String),
}

impl BodyError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotJson => ErrorKind::UnsupportedMediaType,
            Self::TooLarge(_) => ErrorKind::PayloadTooLarge,
            Self::Malformed(_) | Self::Shape(_) => ErrorKind::BadRequest,
        }
    }
}

impl From<BodyError> for Problem {
    fn from(e: BodyError) -> Self {
        Problem::new(e.kind(), e.to_string())
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = BodyError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(BodyError::NotJson);
        }
        let bytes = read_limited(req).await?;
        parse_json(&bytes)
    }
}

impl axum::response::IntoResponse for BodyError {
    fn into_response(self) -> axum::response::Response {
        Problem::from(self).into_response()
    }
}

/// Reads the body, refusing more than `MAX_BODY_BYTES`.
async fn read_limited(req: Request) -> Result<Bytes, BodyError> {
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(BodyError::TooLarge(MAX_BODY_BYTES));
    }
    axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|_| BodyError::TooLarge(MAX_BODY_BYTES))
}

/// Parses a body: malformed JSON, wrong types and missing fields are all 400.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<JsonBody<T>, BodyError> {
    let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| BodyError::Malformed(e.to_string()))?;
    let canonical = raw.to_string();
    let value = T::deserialize(raw).map_err(|e| BodyError::Shape(e.to_string()))?;
    Ok(JsonBody { value, canonical })
}

/// `application/json` or any `application/*+json`, whatever its parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bodies_ignore_key_order_and_spacing() {
        let a: JsonBody<serde_json::Value> = parse_json(br#"{"b": 1, "a": [1, 2]}"#).unwrap_or_else(|_| panic!());
        let b: JsonBody<serde_json::Value> = parse_json(br#"{"a":[1,2],"b":1}"#).unwrap_or_else(|_| panic!());
        assert_eq!(a.canonical, b.canonical);
    }

    #[test]
    fn bodies_that_are_not_json_or_do_not_fit_are_told_apart() {
        assert!(matches!(parse_json::<serde_json::Value>(b"{"), Err(BodyError::Malformed(_))));
        assert!(matches!(parse_json::<u8>(b"\"x\""), Err(BodyError::Shape(_))));
    }
}
