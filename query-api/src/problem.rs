//! The query API's errors, each one row of the edge's table
//! (`sunday_edge::ErrorKind`), rendered there as RFC 9457 problem+json.

use axum::response::{IntoResponse, Response};
use sunday_domain::FieldError;
use sunday_edge::{ErrorKind, Problem};

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
    /// The caller can see the resource but may not read this about it.
    #[error("{0}")]
    Forbidden(String),
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
    /// Which row of the edge's table this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unauthorized(_) => ErrorKind::Unauthorized,
            Self::BadRequest(_) | Self::BadParameter { .. } => ErrorKind::BadRequest,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::Unprocessable { .. } => ErrorKind::Validation,
            Self::TooManyRequests(_) => ErrorKind::RateLimited,
            Self::NotReached(_) => ErrorKind::NotReached,
            Self::Unavailable | Self::ReplicaBehind(_) => ErrorKind::Unavailable,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The problem the reader is told.
    pub fn problem(self) -> Problem {
        let (kind, detail) = (self.kind(), self.to_string());
        match self {
            Self::Unprocessable { field, message } | Self::BadParameter { field, message } => {
                Problem::new(kind, detail).with_errors(vec![FieldError::new(field, message)])
            }
            Self::TooManyRequests(limited) => Problem::rate_limited(limited, detail),
            _ => Problem::new(kind, detail),
        }
    }
}

impl From<sunday_edge::Unauthenticated> for QueryError {
    fn from(e: sunday_edge::Unauthenticated) -> Self {
        Self::Unauthorized(e.to_string())
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
        self.problem().into_response()
    }
}
