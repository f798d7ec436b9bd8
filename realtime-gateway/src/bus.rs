//! Where a gateway hears about new events.
//!
//! - In process (`Bus::Log`): one gap-safe tail of the log per process, routed
//!   to the board rooms of this process. What `sunday all` uses without NATS.
//! - JetStream (`Bus::Nats`): one push consumer per workspace (`consumer`) with
//!   rooms in this process, shared by them (`feeds`): each room hears its
//!   board's events and its workspace's own events (membership) in log order,
//!   with no gap.
//!
//! Either way a room hears, in log order, every event of its board published
//! after it subscribed (it folds access from the log only after subscribing,
//! so nothing falls between the two); a joining socket gets the rest from the
//! log itself.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::Value;
use sunday_domain::DomainEvent;
use sunday_domain::about::BoardMembership;
use sunday_domain::store::{Position, RecordedEvent};
use sunday_eventstore::PgEventStore;
use uuid::Uuid;

use crate::rooms::Heard;

/// One event as rooms need it: routing keys, what it changes about access,
/// and its JSON as `events` frames carry it, rendered once.
#[derive(Debug)]
pub(crate) struct LiveEvent {
    pub(crate) position: Position,
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
    let entry = crate::frame::EventEntry {
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

/// How this gateway hears about new events.
#[derive(Clone)]
pub enum Bus {
    /// Tail the log in this process.
    Log,
    /// JetStream, published by `sunday_command_api::publisher`.
    Nats { client: async_nats::Client, prefix: String },
}

/// Why a room could not subscribe.
#[derive(Debug, thiserror::Error)]
#[error("subscribing to the board's events failed: {0}")]
pub(crate) struct SubscribeError(pub(crate) String);

/// A room's live subscription; dropping it stops it.
pub(crate) struct Subscription {
    /// The room's place in its workspace's JetStream feed (`None` on the
    /// in-process bus, which routes to every room of the process already).
    _feed: Option<crate::feeds::Membership>,
}

impl Subscription {
    pub(crate) fn log() -> Self {
        Self { _feed: None }
    }

    pub(crate) fn feed(m: crate::feeds::Membership) -> Self {
        Self { _feed: Some(m) }
    }
}

/// The in-process bus: tails the log from the current horizon and routes each
/// event to its board's room (workspace-level events to every room, as a hint).
pub(crate) async fn follow_log(
    store: PgEventStore,
    rooms: crate::rooms::Rooms,
    task: sunday_runtime::Task,
) -> Result<(), sunday_domain::store::StoreError> {
    let start = store.horizon().await?.saturating_sub(1);
    let mut tail = store.tail(start, 1000);
    task.running();
    tokio::spawn(async move {
        loop {
            let batch = match tail.next_batch().await {
                Ok(b) => b,
                Err(e) => {
                    // The tail resumes from where it was: nothing is skipped.
                    tracing::error!(error = %e, "gateway log tail failed; retrying");
                    task.failing(&e);
                    wait_for_the_log(&store, &task).await;
                    continue;
                }
            };
            for e in &batch {
                match (e.board_id, e.workspace_id) {
                    (Some(board), _) => rooms.hear(board, || Heard::Live(Arc::new(LiveEvent::from_recorded(e)))),
                    (None, Some(ws)) => rooms.workspace_changed(ws),
                    (None, None) => {}
                }
            }
        }
    });
    Ok(())
}

/// Waits, backing off, until the log can be read again; then the task is
/// well (the tail itself may wait a long time for its next event).
async fn wait_for_the_log(store: &PgEventStore, task: &sunday_runtime::Task) {
    let mut backoff = sunday_runtime::Backoff::new(std::time::Duration::from_secs(5));
    loop {
        tokio::time::sleep(backoff.after(std::time::Duration::ZERO)).await;
        match store.horizon().await {
            Ok(_) => {
                task.running();
                return;
            }
            Err(e) => task.failing(&e),
        }
    }
}
