//! What every read shares: the caller, the read-your-writes wait, pagination
//! cursors, and the answer with `ETag` and `X-Sunday-Position`.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::QueryState;
use crate::problem::QueryError;

/// The authenticated reader, once the read models are as fresh as it asked.
pub(crate) struct Reader {
    pub(crate) user_id: Uuid,
    /// The checkpoint the answer reflects at least.
    pub(crate) position: i64,
    if_none_match: Option<String>,
}

impl FromRequestParts<QueryState> for Reader {
    type Rejection = QueryError;

    async fn from_request_parts(parts: &mut Parts, state: &QueryState) -> Result<Self, Self::Rejection> {
        let user_id = authenticate(&parts.headers, state)?;
        state.limits.check(sunday_edge::Kind::Reads, user_id).map_err(QueryError::TooManyRequests)?;
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            // PostgreSQL cannot compare text with U+0000 in it: refuse it here.
            return Err(QueryError::BadRequest("query parameters must not contain the NUL character (U+0000)".into()));
        }
        let min = match parts.headers.get("x-sunday-min-position") {
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .ok_or_else(|| QueryError::BadRequest("X-Sunday-Min-Position must be a log position (an integer)".into()))?,
            ),
            None => None,
        };
        let position = wait_for(state, min).await?;
        let if_none_match = parts.headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Self { user_id, position, if_none_match })
    }
}

fn authenticate(headers: &HeaderMap, state: &QueryState) -> Result<Uuid, QueryError> {
    let token = sunday_edge::token::bearer(headers);
    let now = chrono::Utc::now().timestamp();
    if let Some(user) = token.and_then(|t| state.tokens.get(t, now)) {
        return Ok(user);
    }
    let claims = sunday_edge::token::authenticate(&state.config.jwt_secret, token, sunday_edge::token::NO_TOKEN, now)?;
    state.tokens.put(token.unwrap_or_default(), claims.sub, claims.exp);
    Ok(claims.sub)
}

/// Tokens already verified, so a client's every read does not pay for the
/// signature again. Entries are checked against their expiry on each use.
pub(crate) struct VerifiedTokens {
    inner: std::sync::Mutex<lru::LruCache<String, (Uuid, i64)>>,
}

impl VerifiedTokens {
    pub(crate) fn new(capacity: usize) -> Self {
        let cap = std::num::NonZeroUsize::new(capacity.max(1)).unwrap_or(std::num::NonZeroUsize::MIN);
        Self { inner: std::sync::Mutex::new(lru::LruCache::new(cap)) }
    }

    fn get(&self, token: &str, now: i64) -> Option<Uuid> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.get(token) {
            Some((user, exp)) if *exp > now => Some(*user),
            _ => None,
        }
    }

    fn put(&self, token: &str, user: Uuid, exp: i64) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).put(token.to_owned(), (user, exp));
    }
}

/// Waits until the read models reach `min` (up to the configured time).
/// Without `min`, a replica further behind than allowed answers nothing
/// (503): old data is not served as if it were current (with `min`, what is
/// served is at least what the caller asked for).
async fn wait_for(state: &QueryState, min: Option<i64>) -> Result<i64, QueryError> {
    let mut position = state.position.clone();
    let Some(min) = min else {
        if let Some(lag) = state.replica_lag().filter(|lag| *lag > state.config.replica_max_lag) {
            return Err(QueryError::ReplicaBehind(lag.as_secs_f64()));
        }
        return Ok(*position.borrow());
    };
    let reached = tokio::time::timeout(state.config.min_position_wait, position.wait_for(|p| *p >= min)).await;
    match reached {
        Ok(Ok(p)) => Ok(*p),
        _ => Err(QueryError::NotReached(min)),
    }
}

impl Reader {
    /// Answers `{"data": ...}` (plus `nextCursor` for pages), or 304 when the
    /// client's `If-None-Match` names the same content.
    pub(crate) fn answer(&self, data: Value, next_cursor: Option<Option<String>>) -> Response {
        let rendered = Rendered::new(data, next_cursor);
        self.respond(&rendered)
    }

    /// Answers an already rendered body.
    pub(crate) fn respond(&self, r: &Rendered) -> Response {
        let matches = self.if_none_match.as_deref().is_some_and(|inm| inm.split(',').any(|t| t.trim() == r.etag || t.trim() == "*"));
        let mut response = if matches {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            ([(axum::http::header::CONTENT_TYPE, "application/json")], r.body.clone()).into_response()
        };
        let headers = response.headers_mut();
        headers.insert(ETAG, r.etag_header.clone());
        headers.insert("x-sunday-position", HeaderValue::from(self.position));
        response
    }
}

/// A rendered answer body and its ETag.
pub(crate) struct Rendered {
    pub(crate) body: axum::body::Bytes,
    pub(crate) etag: String,
    etag_header: HeaderValue,
}

impl Rendered {
    pub(crate) fn new(data: Value, next_cursor: Option<Option<String>>) -> Self {
        let mut body = json!({ "data": data });
        if let Some(cursor) = next_cursor {
            body["nextCursor"] = json!(cursor);
        }
        let bytes = body.to_string();
        let digest = Sha256::digest(bytes.as_bytes());
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
        // Base64url and quotes are always valid header characters.
        let etag_header = HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        Self { body: bytes.into(), etag, etag_header }
    }
}

/// The page size: default 50, at most 500.
pub(crate) fn limit(raw: Option<&str>) -> Result<i64, QueryError> {
    let Some(raw) = raw else { return Ok(50) };
    let n: i64 = raw.parse().map_err(|_| QueryError::BadParameter { field: "limit", message: "must be an integer".into() })?;
    if !(1..=500).contains(&n) {
        return Err(QueryError::Unprocessable { field: "limit", message: "must be between 1 and 500".into() });
    }
    Ok(n)
}

/// Encodes a keyset cursor as an opaque string.
pub(crate) fn encode_cursor<T: Serialize>(key: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes a cursor made by `encode_cursor`; anything else is a 400.
pub(crate) fn decode_cursor<T: DeserializeOwned>(raw: Option<&str>) -> Result<Option<T>, QueryError> {
    // An empty `cursor=` is the first page, as if absent.
    let Some(raw) = raw.filter(|r| !r.is_empty()) else { return Ok(None) };
    let bad = || QueryError::BadParameter { field: "cursor", message: "is not one this API made (use a nextCursor)".into() };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if sunday_domain::text::nul_path(&value, "").is_some() {
        return Err(bad());
    }
    serde_json::from_value(value).map(Some).map_err(|_| bad())
}

/// Query parameters as `T`; what does not fit (a repeated or malformed
/// parameter) is a 400 in the API's problem shape, not axum's plain text.
pub(crate) struct Params<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = QueryError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let parsed = axum::extract::Query::<T>::try_from_uri(&parts.uri).map_err(|e| QueryError::BadRequest(e.body_text()))?;
        Ok(Self(parsed.0))
    }
}

/// A path segment as text; one that is not valid UTF-8 names nothing (404).
pub(crate) struct Segment<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Segment<T> {
    type Rejection = QueryError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => Ok(Self(p.0)),
            Err(_) => Err(QueryError::NotFound("resource")),
        }
    }
}

/// A path or query id: anything that is not a UUID names nothing (404).
pub(crate) fn id(raw: &str, what: &'static str) -> Result<Uuid, QueryError> {
    Uuid::parse_str(raw).map_err(|_| QueryError::NotFound(what))
}

/// How long a read-your-writes request may wait, by default.
pub const DEFAULT_MIN_POSITION_WAIT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_token_is_remembered_only_until_it_expires() {
        let tokens = VerifiedTokens::new(4);
        let user = Uuid::from_u128(7);
        tokens.put("t", user, 100);
        assert_eq!(tokens.get("t", 99), Some(user));
        assert_eq!(tokens.get("t", 100), None, "expired tokens are verified again (and refused)");
        assert_eq!(tokens.get("other", 50), None);
    }
}
