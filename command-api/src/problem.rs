//! The API's errors and their one rendering: RFC 9457 problem+json.
//!
//! Each error is one row of the edge's table (`sunday_edge::ErrorKind`), which
//! holds every status code, problem type and title; this enum only says which
//! row and what detail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sunday_domain::{DomainError, FieldError};
use sunday_edge::json::BodyError;
use sunday_edge::{ErrorKind, Problem};

use crate::command::CommandError;

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

impl ApiError {
    /// Which row of the edge's table this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unauthorized(_) => ErrorKind::Unauthorized,
            Self::BadRequest(_) | Self::WrongType(_) => ErrorKind::BadRequest,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::PreconditionFailed(_) => ErrorKind::PreconditionFailed,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::PayloadTooLarge(_) => ErrorKind::PayloadTooLarge,
            Self::MethodNotAllowed => ErrorKind::MethodNotAllowed,
            Self::UnsupportedMediaType => ErrorKind::UnsupportedMediaType,
            Self::Unprocessable(_) => ErrorKind::Validation,
            Self::TooManyRequests(_) => ErrorKind::RateLimited,
            Self::Unavailable => ErrorKind::Unavailable,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.kind().status()
    }

    /// The problem the client is told.
    pub fn problem(self) -> Problem {
        let (kind, detail) = (self.kind(), self.to_string());
        match self {
            Self::Unprocessable(errors) | Self::WrongType(errors) => Problem::new(kind, detail).with_errors(errors),
            Self::TooManyRequests(limited) => Problem::rate_limited(limited, detail),
            _ => Problem::new(kind, detail),
        }
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

impl CommandError {
    /// Which row of the edge's table this error is, for any transport.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Refused(DomainError::WrongType(_)) => ErrorKind::BadRequest,
            Self::Refused(DomainError::NotFound(_)) => ErrorKind::NotFound,
            Self::Refused(DomainError::Forbidden(_)) => ErrorKind::Forbidden,
            Self::Refused(DomainError::PreconditionFailed { .. }) => ErrorKind::PreconditionFailed,
            Self::Refused(DomainError::Conflict(_)) => ErrorKind::Conflict,
            Self::Refused(DomainError::Invalid(_)) => ErrorKind::Validation,
            Self::Unavailable => ErrorKind::Unavailable,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Refused(e) => e.into(),
            CommandError::Unavailable => Self::Unavailable,
            CommandError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::NotJson => Self::UnsupportedMediaType,
            BodyError::TooLarge(n) => Self::PayloadTooLarge(n),
            e @ (BodyError::Malformed(_) | BodyError::Shape(_)) => Self::BadRequest(e.to_string()),
        }
    }
}

impl From<sunday_edge::Unauthenticated> for ApiError {
    fn from(e: sunday_edge::Unauthenticated) -> Self {
        Self::Unauthorized(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.problem().into_response()
    }
}
