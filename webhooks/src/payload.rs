//! What a delivery's body is: `{"type", "timestamp", "data"}`, where `data`
//! is the event as the WebSocket `events` frame carries it (`position`,
//! `streamId`, `version`, `type`, `occurredAt`, `actorId`, `data`) plus
//! `eventId`, `workspaceId` and `boardId`.

use chrono::SecondsFormat;
use serde::Serialize;
use sunday_domain::store::RecordedEvent;
use uuid::Uuid;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    position: i64,
    stream_id: &'a str,
    version: u64,
    #[serde(rename = "type")]
    event_type: &'a str,
    occurred_at: &'a str,
    actor_id: Uuid,
    data: serde_json::Value,
    event_id: Uuid,
    workspace_id: Option<Uuid>,
    board_id: Option<Uuid>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: &'a str,
    data: Entry<'a>,
}

/// The body sent for `e`: the same bytes on every attempt.
pub fn body(e: &RecordedEvent) -> Vec<u8> {
    let at = e.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let event_type = e.event.event_type();
    let data = Entry {
        position: e.position,
        stream_id: e.stream_id.as_str(),
        version: e.stream_version,
        event_type,
        occurred_at: &at,
        actor_id: e.metadata.actor_id,
        data: e.event.payload(),
        event_id: e.event_id,
        workspace_id: e.workspace_id,
        board_id: e.board_id,
    };
    serde_json::to_vec(&Body { event_type, timestamp: &at, data }).unwrap_or_default()
}
