//! What deciding a command yields, and the context every decider receives.

use uuid::Uuid;

use crate::DomainError;
use crate::events::DomainEvent;
use crate::store::RecordedEvent;

/// Who asks, and under which preconditions.
#[derive(Clone, Debug)]
pub struct Ctx<'a> {
    /// The authenticated user.
    pub actor: Uuid,
    /// `If-Match` version, when the request is conditional.
    pub if_match: Option<u64>,
    /// Fingerprint of the command (actor and canonical body), used to recognise a
    /// create re-sent with the same client-chosen id.
    pub command_hash: &'a str,
}

impl Ctx<'_> {
    /// Fails with 412 when `If-Match` names another version than `current`.
    pub fn check_if_match(&self, current: u64) -> Result<(), DomainError> {
        match self.if_match {
            Some(expected) if expected != current => Err(DomainError::PreconditionFailed { expected, actual: current }),
            _ => Ok(()),
        }
    }
}

/// Where an entity was created: the creating command's fingerprint and the stream
/// version and log position of its creation event. A create re-sent with the same
/// id and body answers these again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub command_hash: Option<String>,
    pub version: u64,
    pub position: i64,
}

impl Origin {
    /// Where the recorded event `e` created something.
    pub fn of(e: &RecordedEvent) -> Self {
        Self { command_hash: e.metadata.command_hash.clone(), version: e.stream_version, position: e.position }
    }
}

/// The outcome of deciding an accepted command.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Append this one event.
    Append(DomainEvent),
    /// The command would change nothing: answer the current version, append nothing.
    Unchanged,
    /// The command re-sends a create that already happened: answer as then.
    Replay(Origin),
}

/// Decides a create whose id is already taken: the same command again replays the
/// first answer, another one is a conflict.
pub fn replay_or_conflict(existing: &Origin, ctx: &Ctx<'_>, what: &str) -> Result<Decision, DomainError> {
    if existing.command_hash.as_deref() == Some(ctx.command_hash) {
        Ok(Decision::Replay(existing.clone()))
    } else {
        Err(DomainError::Conflict(format!("a {what} with this id already exists with other content")))
    }
}
