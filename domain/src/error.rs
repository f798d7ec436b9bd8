//! The ways a command can be refused, in the order the API reports them.

use serde::Serialize;

/// One broken rule, pointing at the request field that broke it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `itemData.status`.
    pub field: String,
    /// What is wrong, in a sentence a client developer can act on.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Why a command was refused. Variants are listed in the API's precedence order
/// (400, 404, 403, 412, 409, 422): deciders check them in this order too, except
/// that a value whose type depends on the board (an `itemData` value) can only
/// be checked once the caller is known to see the board.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A JSON value of the wrong type for where it is (400).
    #[error("the request has {} value(s) of the wrong type", .0.len())]
    WrongType(Vec<FieldError>),
    /// The target does not exist, or the caller may not see it.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller can see the target but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// `If-Match` named another version than the current one.
    #[error("expected version {expected}, but the current version is {actual}")]
    PreconditionFailed { expected: u64, actual: u64 },
    /// The request clashes with the current state (e.g. a reused id with another body).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but breaks one or more rules.
    #[error("the request breaks {} rule(s)", .0.len())]
    Invalid(Vec<FieldError>),
}

impl DomainError {
    /// A single-field validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }
}

/// Collects field errors so a request reports every broken rule at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn extend(&mut self, errors: Vec<FieldError>) {
        self.0.extend(errors);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was broken, else the collected `Invalid` error.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(DomainError::Invalid(self.0)) }
    }
}
