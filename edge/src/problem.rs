//! The one table of what a request or a frame can fail with, and its two
//! renderings: an RFC 9457 problem+json response over HTTP, and an `error`
//! frame's `code` over the WebSocket. Every service maps its own error enum
//! to an `ErrorKind` and a detail here, so a status, a problem type, a title
//! or a frame code is spelled once.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sunday_domain::FieldError;

use crate::rate::Limited;

/// Every kind of failure a client can be told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Unauthorized,
    BadRequest,
    NotFound,
    Forbidden,
    PreconditionFailed,
    Conflict,
    PayloadTooLarge,
    MethodNotAllowed,
    UnsupportedMediaType,
    Validation,
    RateLimited,
    NotReached,
    Unavailable,
    Internal,
    /// A WebSocket frame whose `event` the server does not know.
    UnknownEvent,
    /// A WebSocket frame about a board the socket has not joined.
    NotJoined,
    /// A per-socket cap (boards joined) is reached.
    LimitReached,
}

/// How one kind of failure shows: its HTTP status, problem type and title,
/// and the `code` of a WebSocket `error` frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub status: StatusCode,
    pub problem_type: &'static str,
    pub title: &'static str,
    pub ws_code: &'static str,
}

const fn spec(status: StatusCode, problem_type: &'static str, title: &'static str, ws_code: &'static str) -> Spec {
    Spec { status, problem_type, title, ws_code }
}

impl ErrorKind {
    /// Every kind, in the order of the table.
    pub const ALL: [Self; 17] = [
        Self::Unauthorized,
        Self::BadRequest,
        Self::NotFound,
        Self::Forbidden,
        Self::PreconditionFailed,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::MethodNotAllowed,
        Self::UnsupportedMediaType,
        Self::Validation,
        Self::RateLimited,
        Self::NotReached,
        Self::Unavailable,
        Self::Internal,
        Self::UnknownEvent,
        Self::NotJoined,
        Self::LimitReached,
    ];

    /// The table.
    pub const fn spec(self) -> Spec {
        use StatusCode as S;
        match self {
            Self::Unauthorized => spec(S::UNAUTHORIZED, "/problems/unauthorized", "Unauthorized", "unauthorized"),
            Self::BadRequest => spec(S::BAD_REQUEST, "/problems/bad-request", "Malformed request", "bad-request"),
            Self::NotFound => spec(S::NOT_FOUND, "/problems/not-found", "Not found", "not-found"),
            Self::Forbidden => spec(S::FORBIDDEN, "/problems/forbidden", "Forbidden", "forbidden"),
            Self::PreconditionFailed => {
                spec(S::PRECONDITION_FAILED, "/problems/precondition-failed", "Precondition failed", "precondition-failed")
            }
            Self::Conflict => spec(S::CONFLICT, "/problems/conflict", "Conflict", "conflict"),
            Self::PayloadTooLarge => spec(S::PAYLOAD_TOO_LARGE, "/problems/payload-too-large", "Payload too large", "payload-too-large"),
            Self::MethodNotAllowed => {
                spec(S::METHOD_NOT_ALLOWED, "/problems/method-not-allowed", "Method not allowed", "method-not-allowed")
            }
            Self::UnsupportedMediaType => {
                spec(S::UNSUPPORTED_MEDIA_TYPE, "/problems/unsupported-media-type", "Unsupported media type", "unsupported-media-type")
            }
            Self::Validation => spec(S::UNPROCESSABLE_ENTITY, "/problems/validation", "Validation failed", "validation"),
            Self::RateLimited => spec(S::TOO_MANY_REQUESTS, "/problems/rate-limited", "Too many requests", "rate-limited"),
            Self::NotReached => spec(S::GATEWAY_TIMEOUT, "/problems/not-reached", "Read model not caught up", "not-reached"),
            Self::Unavailable => spec(S::SERVICE_UNAVAILABLE, "/problems/unavailable", "Service unavailable", "unavailable"),
            Self::Internal => spec(S::INTERNAL_SERVER_ERROR, "/problems/internal", "Internal server error", "internal"),
            Self::UnknownEvent => spec(S::BAD_REQUEST, "/problems/unknown-event", "Unknown event", "unknown-event"),
            Self::NotJoined => spec(S::CONFLICT, "/problems/not-joined", "Not joined", "not-joined"),
            Self::LimitReached => spec(S::UNPROCESSABLE_ENTITY, "/problems/limit-reached", "Limit reached", "limit-reached"),
        }
    }

    pub const fn status(self) -> StatusCode {
        self.spec().status
    }

    /// The `code` of a WebSocket `error` frame of this kind.
    pub const fn ws_code(self) -> &'static str {
        self.spec().ws_code
    }
}

/// The detail shown for an internal failure (whose cause is logged, never shown).
pub const INTERNAL_DETAIL: &str = "the server failed to handle the request; it has been logged";

/// One failure as a client is told it.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub kind: ErrorKind,
    pub detail: String,
    /// The offending fields, for `BadRequest` and `Validation`.
    pub errors: Vec<FieldError>,
    /// The limit that was hit, for `RateLimited` (its headers).
    pub limited: Option<Limited>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    problem_type: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl Problem {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        let detail = match kind {
            ErrorKind::Internal => INTERNAL_DETAIL.to_owned(),
            _ => detail.into(),
        };
        Self { kind, detail, errors: Vec::new(), limited: None }
    }

    /// With the fields that are wrong.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// A rate-limited answer, with its `Retry-After` and `RateLimit-*` headers.
    pub fn rate_limited(limited: Limited, detail: impl Into<String>) -> Self {
        Self { limited: Some(limited), ..Self::new(ErrorKind::RateLimited, detail) }
    }

    /// The problem+json body.
    pub fn body(&self) -> Vec<u8> {
        let spec = self.kind.spec();
        let body = Body {
            problem_type: spec.problem_type,
            title: spec.title,
            status: spec.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let mut response = (status, self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match self.kind {
            ErrorKind::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ErrorKind::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            _ => {}
        }
        if let Some(limited) = &self.limited {
            for (name, value) in limited.headers() {
                headers.insert(name, HeaderValue::from(value));
            }
        }
        response
    }
}
