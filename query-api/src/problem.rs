//! The query API's errors, rendered as RFC 9457 problem+json.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything a read can fail with.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No valid bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// A malformed query parameter, cursor or header.
    #[error("{0}")]
    BadRequest(String),
    /// A query parameter that is not what it must be (`errors` names it).
    #[error("{field}: {message}")]
    BadParameter { field: &'static str, message: String },
    /// Unknown resource, or one the caller may not read.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A well-formed parameter that breaks a rule.
    #[error("{field}: {message}")]
    Unprocessable { field: &'static str, message: String },
    /// The caller is over its read rate limit.
    #[error("too many reads; retry in {} s", .0.retry_after_secs())]
    TooManyRequests(sunday_edge::Limited),
    /// `X-Sunday-Min-Position` was not reached in time.
    #[error("the read models have not reached position {0} yet; retry later")]
    NotReached(i64),
    /// The database cannot be reached now; retry shortly.
    #[error("the service cannot reach its database right now; retry shortly")]
    Unavailable,
    /// Reads come from a replica that is too far behind (seconds).
    #[error("reads come from a replica {0:.1} s behind; retry shortly")]
    ReplicaBehind(f64),
    /// Something failed on our side; details are logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl QueryError {
    fn spec(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "/problems/unauthorized", "Unauthorized"),
            Self::BadRequest(_) | Self::BadParameter { .. } => (StatusCode::BAD_REQUEST, "/problems/bad-request", "Malformed request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "/problems/not-found", "Not found"),
            Self::Unprocessable { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "/problems/validation", "Validation failed"),
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "/problems/rate-limited", "Too many requests"),
            Self::NotReached(_) => (StatusCode::GATEWAY_TIMEOUT, "/problems/not-reached", "Read model not caught up"),
            Self::Unavailable | Self::ReplicaBehind(_) => (StatusCode::SERVICE_UNAVAILABLE, "/problems/unavailable", "Service unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "/problems/internal", "Internal server error"),
        }
    }
}

impl From<sqlx::Error> for QueryError {
    fn from(e: sqlx::Error) -> Self {
        if sunday_eventstore::is_unreachable(&e) {
            tracing::warn!(error = %e, "the database cannot be reached");
            return Self::Unavailable;
        }
        tracing::error!(error = %e, "read failed");
        Self::Internal(e.to_string())
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let (status, problem_type, title) = self.spec();
        let detail = match &self {
            Self::Internal(_) => "the server failed to handle the request; it has been logged".to_owned(),
            other => other.to_string(),
        };
        let mut body = json!({ "type": problem_type, "title": title, "status": status.as_u16(), "detail": detail });
        if let Self::Unprocessable { field, message } | Self::BadParameter { field, message } = &self {
            body["errors"] = json!([{ "field": field, "message": message }]);
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, Self::Unavailable | Self::ReplicaBehind(_)) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
        }
        if let Self::TooManyRequests(limited) = &self {
            for (name, value) in limited.headers() {
                headers.insert(name, HeaderValue::from(value));
            }
        }
        response
    }
}
