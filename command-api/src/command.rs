//! What a command is, whatever transport carried it: the aggregate it
//! targets and what it asks, the preconditions it runs under, what it
//! answers, why it may fail, and its fingerprint.

use sha2::{Digest, Sha256};
use sunday_domain::DomainError;
use sunday_domain::board_commands::BoardCommand;
use sunday_domain::item_commands::ItemCommand;
use sunday_domain::profile::UpdateProfile;
use sunday_domain::store::{Position, StoreError, StreamId};
use sunday_domain::webhook::WebhookCommand;
use sunday_domain::workspace::WorkspaceCommand;
use uuid::Uuid;

/// A command and the aggregate it targets.
#[derive(Debug)]
pub enum Command {
    /// `id`: the target workspace; for a create, the client's id if it parsed.
    Workspace {
        id: Option<Uuid>,
        cmd: WorkspaceCommand,
    },
    /// `id`: the board (for a create, the client's id if it parsed); `workspace_id`
    /// only for a create.
    Board {
        id: Option<Uuid>,
        workspace_id: Option<Uuid>,
        cmd: BoardCommand,
    },
    /// `id`: the item (for a create, the client's id if it parsed); `board_id`
    /// only for a create.
    Item {
        id: Option<Uuid>,
        board_id: Option<Uuid>,
        cmd: ItemCommand,
    },
    Profile(UpdateProfile),
    /// `id`: the webhook (for a create, the client's id if it parsed);
    /// `workspace_id` only for a create.
    Webhook {
        id: Option<Uuid>,
        workspace_id: Option<Uuid>,
        cmd: WebhookCommand,
    },
}

/// What a command is run under, besides what it asks.
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    /// The version the caller expects the target at (`u64::MAX` matches none).
    pub if_match: Option<u64>,
    /// Retries with the same key answer as the first run did.
    pub idempotency_key: Option<String>,
    /// The fingerprint the same request had before fingerprints were taken
    /// from the command (user, method, path and canonical body; HTTP only).
    /// Keys and creates recorded with it still replay.
    pub legacy_fingerprint: Option<String>,
    /// Groups the events of one user action (`X-Correlation-Id`).
    pub correlation_id: Option<Uuid>,
    /// The caller's W3C trace, when no span of this process carries one.
    pub traceparent: Option<String>,
}

/// What a command that succeeded answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Whether the command created its target (now or, when replayed, then).
    pub created: bool,
    /// Whether this is the answer stored under the `Idempotency-Key` by an earlier run.
    pub replayed: bool,
    pub id: Uuid,
    /// The sub-entity the command added (column, group, comment, file).
    pub entity_id: Option<Uuid>,
    pub version: u64,
    pub position: Position,
}

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The domain (or the store, on its behalf) refused it; nothing changed.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// The database cannot be reached now; retry shortly.
    #[error("the service cannot reach its database right now; retry shortly")]
    Unavailable,
    /// Something failed on our side (logged where it happened).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongExpectedVersion { .. } | StoreError::DuplicateEventIds => DomainError::Conflict(e.to_string()).into(),
            StoreError::EntityIdTaken => DomainError::Conflict("this id is already used by another resource".into()).into(),
            StoreError::Unstorable { field } => DomainError::invalid(field, "must not contain the NUL character (U+0000)").into(),
            StoreError::Backend(e) if e.downcast_ref::<sqlx::Error>().is_some_and(sunday_eventstore::is_unreachable) => {
                tracing::warn!(error = %e, "the database cannot be reached");
                Self::Unavailable
            }
            other => {
                tracing::error!(error = %other, "command failed");
                Self::Internal(other.to_string())
            }
        }
    }
}

impl Command {
    pub(crate) fn is_create(&self) -> bool {
        matches!(
            self,
            Self::Workspace { cmd: WorkspaceCommand::Create { .. }, .. }
                | Self::Board { cmd: BoardCommand::Create { .. }, .. }
                | Self::Item { cmd: ItemCommand::Create { .. }, .. }
                | Self::Webhook { cmd: WebhookCommand::Create { .. }, .. }
        )
    }

    /// The stream the command writes, when known before deciding.
    pub(crate) fn target_stream(&self, actor: Uuid) -> Option<StreamId> {
        match self {
            Self::Workspace { id, .. } => id.map(StreamId::workspace),
            Self::Board { id, .. } => id.map(StreamId::board),
            Self::Item { id, .. } => id.map(StreamId::item),
            Self::Profile(_) => Some(StreamId::user(actor)),
            Self::Webhook { id, .. } => id.map(StreamId::webhook),
        }
    }

    /// The command as text, the same for the same request whatever carried
    /// it: its kind, its target (not for a create, whose id is in the
    /// command unless the server minted it), its scope and what it asks.
    fn canonical(&self) -> String {
        let target = |id: &Option<Uuid>| if self.is_create() { None } else { *id };
        let text = match self {
            Self::Workspace { id, cmd } => serde_json::to_string(&("workspace", target(id), cmd)),
            Self::Board { id, workspace_id, cmd } => serde_json::to_string(&("board", target(id), workspace_id, cmd)),
            Self::Item { id, board_id, cmd } => serde_json::to_string(&("item", target(id), board_id, cmd)),
            Self::Profile(cmd) => serde_json::to_string(&("profile", cmd)),
            Self::Webhook { id, workspace_id, cmd } => serde_json::to_string(&("webhook", target(id), workspace_id, cmd)),
        };
        text.unwrap_or_default()
    }

    /// The id of the sub-entity a command names (re-sent comment, file, column, group).
    pub(crate) fn given_entity_id(&self) -> Option<Uuid> {
        match self {
            Self::Board { cmd: BoardCommand::AddColumn { column, .. }, .. } => column.id.as_deref().and_then(|s| Uuid::parse_str(s).ok()),
            Self::Board { cmd: BoardCommand::AddGroup { group, .. }, .. } => group.id.as_deref().and_then(|s| Uuid::parse_str(s).ok()),
            Self::Item { cmd: ItemCommand::AddComment { id, .. } | ItemCommand::AttachFile { id, .. }, .. } => id.uuid(),
            _ => None,
        }
    }
}

/// Which version of the fingerprint's form this is (the legacy form hashed
/// four parts, this one three, so the two never meet).
const FINGERPRINT_FORM: &str = "sunday-command/1";

/// The fingerprint of a command: who asked for what, in the command's
/// canonical form (`Command::canonical`: fields in declaration order, maps by
/// key, ids the server minted left out). It recognises re-sent creates and
/// idempotency-key replays, whichever transport carried them.
pub fn fingerprint(actor: Uuid, command: &Command) -> String {
    hash_parts(&[&actor.to_string(), FINGERPRINT_FORM, &command.canonical()])
}

/// The fingerprint HTTP requests had before `fingerprint`: user, method,
/// path and canonical body.
pub fn legacy_fingerprint(actor: Uuid, method: &str, path: &str, canonical_body: &str) -> String {
    hash_parts(&[&actor.to_string(), method, path, canonical_body])
}

fn hash_parts(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
