//! The API's errors and their one rendering: RFC 9457 problem+json.
//!
//! Every status code, problem type and title comes from `ApiError::spec`, so the
//! wire format is defined in one place.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sunday_domain::{DomainError, FieldError};

/// Everything a request can fail with, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// Malformed JSON, a wrong type, or a missing field.
    #[error("{0}")]
    BadRequest(String),
    /// Values of the wrong JSON type, each with its field.
    #[error("the request has {} value(s) of the wrong type", .0.len())]
    WrongType(Vec<FieldError>),
    /// Unknown resource, or one the caller may not see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may see the resource but not do this.
    #[error("{0}")]
    Forbidden(String),
    /// `If-Match` does not match the current version.
    #[error("{0}")]
    PreconditionFailed(String),
    /// Version conflict or an id reused with another body.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the limit.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The path exists but not with this method.
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    /// The body is not JSON.
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// Well-formed but breaks rules.
    #[error("the request breaks {} rule(s)", .0.len())]
    Unprocessable(Vec<FieldError>),
    /// The caller is over a rate limit.
    #[error("too many {}; retry in {} s", .0.kind.as_str(), .0.retry_after_secs())]
    TooManyRequests(sunday_edge::Limited),
    /// A dependency (the database) cannot be reached now; retry shortly.
    #[error("the service cannot reach its database right now; retry shortly")]
    Unavailable,
    /// Something failed on our side; details are logged, not shown.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    problem_type: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    /// Status, problem type and title of each kind of error.
    fn spec(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "/problems/unauthorized", "Unauthorized"),
            Self::BadRequest(_) | Self::WrongType(_) => (StatusCode::BAD_REQUEST, "/problems/bad-request", "Malformed request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "/problems/not-found", "Not found"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "/problems/forbidden", "Forbidden"),
            Self::PreconditionFailed(_) => {
                (StatusCode::PRECONDITION_FAILED, "/problems/precondition-failed", "Precondition failed")
            }
            Self::Conflict(_) => (StatusCode::CONFLICT, "/problems/conflict", "Conflict"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "/problems/payload-too-large", "Payload too large"),
            Self::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "/problems/method-not-allowed", "Method not allowed")
            }
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "/problems/unsupported-media-type", "Unsupported media type")
            }
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "/problems/validation", "Validation failed"),
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "/problems/rate-limited", "Too many requests"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "/problems/unavailable", "Service unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "/problems/internal", "Internal server error"),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.spec().0
    }

    /// An internal failure: logged here, shown to the client as a bare 500.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        let message = e.to_string();
        tracing::error!(error = %message, "request failed");
        Self::Internal(message)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::WrongType(errors) => Self::WrongType(errors),
            DomainError::NotFound(what) => Self::NotFound(what),
            DomainError::Forbidden(m) => Self::Forbidden(m),
            e @ DomainError::PreconditionFailed { .. } => Self::PreconditionFailed(e.to_string()),
            DomainError::Conflict(m) => Self::Conflict(m),
            DomainError::Invalid(errors) => Self::Unprocessable(errors),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, problem_type, title) = self.spec();
        let detail = match &self {
            Self::Internal(_) => "the server failed to handle the request; it has been logged".to_owned(),
            other => other.to_string(),
        };
        let errors = match &self {
            Self::Unprocessable(e) | Self::WrongType(e) => Some(e.as_slice()),
            _ => None,
        };
        let body = Problem { problem_type, title, status: status.as_u16(), detail, errors };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, Self::Unavailable) {
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
