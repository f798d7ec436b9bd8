//! What deciding a command yields, and the context every decider receives.

use std::borrow::Cow;

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
    /// Fingerprint of the command (actor and canonical form), used to recognise
    /// a create re-sent with the same client-chosen id.
    pub command_hash: &'a str,
    /// The fingerprint the same request had when fingerprints were taken from
    /// the HTTP method, path and body: creates recorded then still replay.
    pub legacy_hash: Option<&'a str>,
}

impl Ctx<'_> {
    /// Whether `stored` (a recorded command's fingerprint) is this command's.
    pub fn is_this_command(&self, stored: Option<&str>) -> bool {
        stored.is_some_and(|s| s == self.command_hash || Some(s) == self.legacy_hash)
    }

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
    if ctx.is_this_command(existing.command_hash.as_deref()) {
        Ok(Decision::Replay(existing.clone()))
    } else {
        Err(DomainError::Conflict(format!("a {what} with this id already exists with other content")))
    }
}

/// The id a create names: the client's, or one the server minted when the
/// client gave none. Only the client's is part of the command (its
/// serialized form, from which the fingerprint is taken), so a create re-sent
/// without an id is the same command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewId {
    pub given: Option<String>,
    pub minted: Uuid,
}

impl NewId {
    /// The client's id, or a fresh UUIDv7 when it gave none.
    pub fn or_mint(given: Option<String>) -> Self {
        Self { given, minted: Uuid::now_v7() }
    }

    /// The id as text: the client's as given (it may not parse), else the minted one.
    pub fn text(&self) -> Cow<'_, str> {
        match &self.given {
            Some(g) => Cow::Borrowed(g),
            None => Cow::Owned(self.minted.to_string()),
        }
    }

    /// The id, when it is one.
    pub fn uuid(&self) -> Option<Uuid> {
        match &self.given {
            Some(g) => Uuid::parse_str(g).ok(),
            None => Some(self.minted),
        }
    }
}

impl From<&str> for NewId {
    fn from(given: &str) -> Self {
        Self { given: Some(given.to_owned()), minted: Uuid::nil() }
    }
}

impl From<String> for NewId {
    fn from(given: String) -> Self {
        Self { given: Some(given), minted: Uuid::nil() }
    }
}

impl serde::Serialize for NewId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.given.serialize(s)
    }
}
