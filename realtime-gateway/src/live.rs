//! One event as rooms and sockets carry it: parsed once from the log or
//! from JetStream, with its JSON as `events` frames carry it rendered once,
//! and the batches a room gathers of them.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::Value;
use sunday_domain::DomainEvent;
use sunday_domain::about::BoardMembership;
use sunday_domain::store::{Position, RecordedEvent};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

use crate::frame;

/// One event as rooms need it: routing keys, what it changes about access,
/// and its JSON as `events` frames carry it, rendered once.
#[derive(Debug)]
pub(crate) struct LiveEvent {
    pub(crate) position: Position,
    pub(crate) event_type: &'static str,
    /// Whether it belongs to the board's own stream (not an item's).
    pub(crate) board_stream: bool,
    pub(crate) stream_version: u64,
    pub(crate) membership: Option<BoardMembership>,
    pub(crate) occurred_at_ms: i64,
    pub(crate) json: Box<str>,
    /// The trace the event belongs to (W3C `traceparent`), to continue it.
    pub(crate) traceparent: Option<Box<str>>,
}

/// The entry of an `events` frame: `{position, streamId, version, type, occurredAt, actorId, data}`.
fn entry_json(position: Position, stream: &str, version: u64, event: &DomainEvent, at: DateTime<Utc>, actor: Uuid) -> Box<str> {
    let entry = frame::EventEntry {
        position,
        stream_id: stream.to_owned(),
        version,
        event_type: event.event_type().to_owned(),
        occurred_at: at.to_rfc3339_opts(SecondsFormat::Micros, true),
        actor_id: actor,
        data: event.payload(),
    };
    serde_json::to_string(&entry).unwrap_or_default().into_boxed_str()
}

impl LiveEvent {
    pub(crate) fn from_recorded(e: &RecordedEvent) -> Self {
        Self {
            position: e.position,
            event_type: e.event.event_type(),
            board_stream: e.stream_id.as_str().starts_with("board-"),
            stream_version: e.stream_version,
            membership: e.event.board_membership(),
            occurred_at_ms: e.occurred_at.timestamp_millis(),
            json: entry_json(e.position, e.stream_id.as_str(), e.stream_version, &e.event, e.occurred_at, e.metadata.actor_id),
            traceparent: e.metadata.traceparent.as_deref().map(Box::from),
        }
    }

    /// Parses the publisher's envelope; `None` for anything else. The
    /// message's `traceparent` header (the publish span) wins over the one
    /// stored with the event.
    pub(crate) fn from_published(payload: &[u8], traceparent: Option<&str>) -> Option<Self> {
        let p: Published = serde_json::from_slice(payload).ok()?;
        let event = DomainEvent::decode(&p.event_type, p.schema_version, p.data).ok()?;
        let actor = p.metadata.get("actorId").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_default();
        Some(Self {
            position: p.global_position,
            event_type: event.event_type(),
            board_stream: p.stream_id.starts_with("board-"),
            stream_version: p.stream_version,
            membership: event.board_membership(),
            occurred_at_ms: p.occurred_at.timestamp_millis(),
            json: entry_json(p.global_position, &p.stream_id, p.stream_version, &event, p.occurred_at, actor),
            traceparent: traceparent.or_else(|| p.metadata.get("traceparent").and_then(Value::as_str)).map(Box::from),
        })
    }
}

/// The envelope `sunday_command_api::publisher` publishes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Published {
    stream_id: String,
    stream_version: u64,
    global_position: Position,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: u16,
    occurred_at: DateTime<Utc>,
    data: Value,
    #[serde(default)]
    metadata: serde_json::Map<String, Value>,
}

/// Events gathered in one window, and their frame.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) board: Uuid,
    pub(crate) events: Vec<Arc<LiveEvent>>,
    pub(crate) frame: Utf8Bytes,
}

impl Batch {
    pub(crate) fn new(board: Uuid, events: Vec<Arc<LiveEvent>>) -> Self {
        let frame = frame::events(board, events.iter().map(|e| &*e.json));
        Self { board, events, frame }
    }

    pub(crate) fn first(&self) -> i64 {
        self.events.first().map_or(0, |e| e.position)
    }

    pub(crate) fn last(&self) -> i64 {
        self.events.last().map_or(0, |e| e.position)
    }

    pub(crate) fn oldest_ms(&self) -> i64 {
        self.events.iter().map(|e| e.occurred_at_ms).min().unwrap_or(0)
    }

    /// The frame without the events at or below `position` (for a socket that
    /// got those from the log while joining).
    pub(crate) fn frame_after(&self, position: i64) -> Utf8Bytes {
        frame::events(self.board, self.events.iter().filter(|e| e.position > position).map(|e| &*e.json))
    }
}
