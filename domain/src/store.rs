//! The event-store port: envelopes, expected versions, and the trait every
//! backend (PostgreSQL, EventStoreDB) implements.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::{DecodeError, DomainEvent};

/// A global log position. Positions grow with the log; they need not be contiguous.
pub type Position = i64;

/// The most events one append may carry.
pub const MAX_EVENTS_PER_APPEND: usize = 1024;

/// A stream name such as `board-<uuid>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(String);

impl StreamId {
    pub fn workspace(id: Uuid) -> Self {
        Self(format!("workspace-{id}"))
    }
    pub fn board(id: Uuid) -> Self {
        Self(format!("board-{id}"))
    }
    pub fn item(id: Uuid) -> Self {
        Self(format!("item-{id}"))
    }
    pub fn user(id: Uuid) -> Self {
        Self(format!("user-{id}"))
    }
    pub fn webhook(id: Uuid) -> Self {
        Self(format!("webhook-{id}"))
    }
    /// Wraps a stored stream name.
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether decisions on other streams are guarded by this one's version:
    /// workspaces (membership) and boards (columns, membership, archival).
    /// The store writes appends to such streams in their own transaction.
    pub fn guards_others(&self) -> bool {
        self.0.starts_with("workspace-") || self.0.starts_with("board-")
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the writer believes the stream's version to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the version.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream at `current` (0 = absent) satisfies the expectation.
    pub fn admits(self, current: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => current == 0,
            Self::Exact(v) => v == current,
        }
    }
}

/// Who caused an event, and why; stored beside every event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub actor_id: Uuid,
    pub correlation_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Fingerprint of the command that produced the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_hash: Option<String>,
}

/// An event ready to be appended.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event: DomainEvent,
    pub occurred_at: DateTime<Utc>,
    pub workspace_id: Option<Uuid>,
    pub board_id: Option<Uuid>,
    pub metadata: Metadata,
}

/// An event as read back from the store.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub stream_id: StreamId,
    pub stream_version: u64,
    pub position: Position,
    pub occurred_at: DateTime<Utc>,
    pub workspace_id: Option<Uuid>,
    pub board_id: Option<Uuid>,
    /// The schema version the event was stored with (before upcasting).
    pub stored_schema_version: u16,
    pub event: DomainEvent,
    pub metadata: Metadata,
}

/// Where an append left the stream: its last event's version and position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendResult {
    pub version: u64,
    pub position: Position,
}

/// An idempotency key to record in the same transaction as an append, with what
/// the first answer was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub user_id: Uuid,
    pub key: String,
    pub request_hash: String,
    pub status: u16,
    pub aggregate_id: Uuid,
    pub entity_id: Option<Uuid>,
}

/// One atomic append to a stream.
#[derive(Clone, Debug)]
pub struct AppendRequest<'a> {
    pub stream: &'a StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    /// Other streams the decision read, with the versions it saw: the append
    /// fails with `StaleGuard` if any of them moved on since. The check takes
    /// turns with appends to those streams: a guarded append that succeeds is
    /// logged before every append to them it did not see.
    pub guards: Vec<(StreamId, u64)>,
    /// An idempotency key to record in the same transaction.
    pub idempotency: Option<&'a IdempotencyRecord>,
}

impl<'a> AppendRequest<'a> {
    pub fn new(stream: &'a StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        Self { stream, expected, events, guards: Vec::new(), idempotency: None }
    }
}

/// A recorded idempotency key and the answer it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredIdempotency {
    pub request_hash: String,
    pub status: u16,
    pub aggregate_id: Uuid,
    pub entity_id: Option<Uuid>,
    pub version: u64,
    pub position: Position,
}

/// A page of a board's events, with the horizon below which no more can appear.
#[derive(Clone, Debug, Default)]
pub struct BoardEvents {
    pub events: Vec<RecordedEvent>,
    /// Every event below this position is final: none can commit there later.
    pub horizon: Position,
}

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version.
    #[error("stream {stream} is at version {actual}, not the expected {expected:?}")]
    WrongExpectedVersion { stream: StreamId, expected: ExpectedVersion, actual: u64 },
    /// A stream the decision read (a guard) is no longer at the version it saw.
    #[error("a stream the decision read has changed since")]
    StaleGuard,
    /// Some of the event ids exist already, but not as this same append.
    #[error("event ids already used by other events")]
    DuplicateEventIds,
    /// Another request recorded the same idempotency key first.
    #[error("idempotency key already recorded")]
    IdempotencyKeyTaken,
    /// A column, group, comment or file id the events create is used already
    /// (on another board or item).
    #[error("an id the events create is already used by another resource")]
    EntityIdTaken,
    /// The events hold a value the store cannot keep (U+0000 in a string);
    /// `field` is its path in the event's payload.
    #[error("{field} holds a NUL character (U+0000), which cannot be stored")]
    Unstorable { field: String },
    /// The append was empty or larger than the store accepts.
    #[error("an append takes 1 to {MAX_EVENTS_PER_APPEND} events, got {0}")]
    BadBatch(usize),
    /// New positions would leave the range JSON clients hold exactly (2^53).
    #[error(
        "log positions would pass 2^53 (the log's highest is {highest}): this database cannot take more events; see docs/OPERATIONS.md"
    )]
    PositionsExhausted { highest: Position },
    /// A stored event could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The backend failed (connection, I/O, ...).
    #[error("event store backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The port every event-store backend implements.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends events to one stream atomically, after checking the expected
    /// version and the guards, and records the idempotency key in the same
    /// transaction. Re-appending the same event ids to the same stream succeeds
    /// without writing and returns where they are.
    async fn append(&self, request: AppendRequest<'_>) -> Result<AppendResult, StoreError>;

    /// The events of one stream with a version above `after_version`, in order.
    async fn read_stream(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events of the whole log after `after`, in log order, never
    /// skipping one that commits later with a lower position.
    async fn read_all(&self, after: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Every committed event of one board (its own stream and its items') after
    /// `after`, in position order, with the current horizon.
    async fn read_board(&self, board_id: Uuid, after: Position) -> Result<BoardEvents, StoreError>;

    /// The recorded answer of an idempotency key, if any.
    async fn find_idempotency(&self, user_id: Uuid, key: &str) -> Result<Option<StoredIdempotency>, StoreError>;

    /// Records a key for a command that appended nothing; returns the existing
    /// record instead when another request recorded the key first.
    async fn record_idempotency(&self, record: &IdempotencyRecord, result: AppendResult) -> Result<Option<StoredIdempotency>, StoreError>;
}
