//! The wire format of `/v1/ws`: client frames as parsed, and server frames as
//! sent (`{"event", "data", "timestamp"}`), each serialised once.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A server frame, stamped now.
pub(crate) fn server(event: &str, data: &impl Serialize) -> Utf8Bytes {
    json!({ "event": event, "data": data, "timestamp": now_ms() }).to_string().into()
}

/// An `error` frame, its `code` from the edge's table.
pub(crate) fn error(kind: sunday_edge::ErrorKind, message: impl Into<String>) -> Utf8Bytes {
    server("error", &ErrorData { code: kind.ws_code().to_owned(), message: message.into() })
}

// What server frames carry as `data`. Frames are serialised from these types,
// and `schemas/` describes them from the same types.

/// `error`: something the client sent could not be done; the socket stays open.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct ErrorData {
    pub(crate) code: String,
    pub(crate) message: String,
}

/// `board-state`: the board as `GET /v1/boards/{id}?include=items` shows it,
/// plus the log position the snapshot reflects.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct BoardState {
    #[serde(flatten)]
    pub(crate) board: Map<String, Value>,
    pub(crate) position: i64,
}

/// One event in an `events` frame.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventEntry {
    pub(crate) position: i64,
    pub(crate) stream_id: String,
    pub(crate) version: u64,
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    /// RFC 3339, UTC, microseconds.
    pub(crate) occurred_at: String,
    pub(crate) actor_id: Uuid,
    /// The event's payload (see `events.schema.json`).
    pub(crate) data: Value,
}

/// `events`: a board's events of one batch window, in log order.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventsData {
    pub(crate) board_id: Uuid,
    pub(crate) events: Vec<EventEntry>,
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PresenceUser {
    pub(crate) user_id: Uuid,
    pub(crate) status: Status,
}

/// `presence`: who is on the board now, and who came and went this window.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PresenceData {
    pub(crate) board_id: Uuid,
    pub(crate) users: Vec<PresenceUser>,
    pub(crate) joined: Vec<Uuid>,
    pub(crate) left: Vec<Uuid>,
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CursorEntry {
    pub(crate) user_id: Uuid,
    pub(crate) position: CursorPosition,
}

/// `cursors`: the latest position of each user that moved this window.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CursorsData {
    pub(crate) board_id: Uuid,
    pub(crate) cursors: Vec<CursorEntry>,
}

/// `update-ack`: the optimistic update was applied.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateAck {
    pub(crate) update_id: String,
    pub(crate) version: u64,
    pub(crate) position: i64,
}

/// `update-rejected`: the HTTP status the command got, why, and the item as it
/// now is (`null` when it cannot be read) to roll back to.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateRejected {
    pub(crate) update_id: String,
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) current: Value,
}

/// An `events` frame from events already rendered as JSON objects.
pub(crate) fn events<'a>(board: Uuid, events: impl IntoIterator<Item = &'a str>) -> Utf8Bytes {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"event":"events","data":{"boardId":""#);
    out.push_str(&board.to_string());
    out.push_str(r#"","events":["#);
    for (i, e) in events.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(e);
    }
    out.push_str(r#"]},"timestamp":"#);
    out.push_str(&now_ms().to_string());
    out.push('}');
    out.into()
}

/// A frame as a client sends it; `data` is parsed per event.
#[derive(Deserialize)]
pub(crate) struct Incoming {
    pub(crate) event: String,
    #[serde(default)]
    pub(crate) data: Value,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JoinBoard {
    pub(crate) board_id: Uuid,
    #[serde(default)]
    pub(crate) since_position: Option<i64>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BoardRef {
    pub(crate) board_id: Uuid,
}

/// What a user is doing on a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Active,
    Idle,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PresenceUpdate {
    pub(crate) board_id: Uuid,
    pub(crate) status: Status,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CursorPosition {
    x: f64,
    y: f64,
    /// Sent to every socket of the room each window: kept short.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "short_text")]
    #[schemars(length(max = 256))]
    element_id: Option<String>,
}

/// The longest identifier a client may send to be echoed back or shared
/// (`elementId`, `updateId`).
pub(crate) const MAX_ID_TEXT: usize = 256;

fn short_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if s.chars().count() > MAX_ID_TEXT {
        return Err(serde::de::Error::custom(format!("at most {MAX_ID_TEXT} characters")));
    }
    Ok(Some(s))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CursorMove {
    pub(crate) board_id: Uuid,
    pub(crate) position: CursorPosition,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OptimisticUpdate {
    #[schemars(length(max = 256))]
    pub(crate) update_id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) data: UpdateData,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateData {
    pub(crate) item_id: Uuid,
    #[serde(default)]
    pub(crate) base_version: Option<u64>,
    /// The body of `PUT /v1/items/{id}`, parsed by the command path itself.
    pub(crate) changes: Value,
}

/// One frame kind: `{"event": <name>, "data": <schema>}` (plus `timestamp` when
/// the server sends it), its definitions hoisted into `defs`.
fn envelope(event: &str, data: schemars::Schema, stamped: bool, defs: &mut Map<String, Value>) -> Value {
    let mut data = data.to_value();
    if let Some(o) = data.as_object_mut() {
        if let Some(Value::Object(d)) = o.remove("$defs") {
            defs.extend(d);
        }
        o.remove("$schema");
    }
    let mut required = vec!["event", "data"];
    let mut properties = json!({"event": {"const": event}, "data": data});
    if stamped {
        required.push("timestamp");
        properties["timestamp"] = json!({"type": "integer", "description": "ms since the Unix epoch, when the frame was sent"});
    }
    json!({"type": "object", "required": required, "additionalProperties": false, "properties": properties})
}

fn one_of(title: &str, description: &str, variants: Vec<(&str, schemars::Schema)>, stamped: bool) -> Value {
    let mut defs = Map::new();
    let variants: Vec<Value> = variants.into_iter().map(|(event, schema)| envelope(event, schema, stamped, &mut defs)).collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title, "description": description, "oneOf": variants, "$defs": defs,
    })
}

/// The JSON Schema of every frame a client may send.
pub(crate) fn client_frames_schema() -> Value {
    use schemars::schema_for;
    let variants = vec![
        ("join-board", schema_for!(JoinBoard)),
        ("leave-board", schema_for!(BoardRef)),
        ("presence-update", schema_for!(PresenceUpdate)),
        ("cursor-move", schema_for!(CursorMove)),
        ("optimistic-update", schema_for!(OptimisticUpdate)),
        ("ping", schemars::json_schema!({"type": "object"})),
    ];
    one_of("ClientFrame", "A frame a client sends on /v1/ws.", variants, false)
}

/// The JSON Schema of every frame the server sends.
pub(crate) fn server_frames_schema() -> Value {
    use schemars::schema_for;
    let variants = vec![
        ("board-state", schema_for!(BoardState)),
        ("events", schema_for!(EventsData)),
        ("presence", schema_for!(PresenceData)),
        ("cursors", schema_for!(CursorsData)),
        ("update-ack", schema_for!(UpdateAck)),
        ("update-rejected", schema_for!(UpdateRejected)),
        ("error", schema_for!(ErrorData)),
        ("pong", schemars::json_schema!({"type": "object", "maxProperties": 0})),
    ];
    one_of("ServerFrame", "A frame the server sends on /v1/ws.", variants, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_frames_are_json_with_a_timestamp() {
        let board = Uuid::now_v7();
        let frame = events(board, [r#"{"position":1}"#, r#"{"position":2}"#]);
        let v: Value = serde_json::from_str(frame.as_str()).unwrap_or_default();
        assert_eq!(v["event"], "events");
        assert_eq!(v["data"]["boardId"], board.to_string());
        assert_eq!(v["data"]["events"][1]["position"], 2);
        assert!(v["timestamp"].as_i64().is_some_and(|t| t > 1_700_000_000_000));
    }

    #[test]
    fn events_frames_parse_as_their_schema_type() {
        let entry = EventEntry {
            position: 7,
            stream_id: "item-x".into(),
            version: 1,
            event_type: "ItemCreated".into(),
            occurred_at: "2026-11-27T00:00:00.000000Z".into(),
            actor_id: Uuid::nil(),
            data: json!({"name": "n"}),
        };
        let text = serde_json::to_string(&entry).unwrap_or_default();
        let frame = events(Uuid::nil(), [text.as_str()]);
        let v: Value = serde_json::from_str(frame.as_str()).unwrap_or_default();
        let parsed: EventsData = serde_json::from_value(v["data"].clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.events[0].position, 7);
    }

    #[test]
    fn cursor_positions_keep_only_the_contract_fields() {
        let c: CursorMove =
            serde_json::from_value(json!({"boardId": Uuid::nil(), "position": {"x": 1.5, "y": 2}})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(serde_json::to_value(&c.position).unwrap_or_default(), json!({"x": 1.5, "y": 2.0}));
        let bad = serde_json::from_value::<CursorMove>(json!({"boardId": Uuid::nil(), "position": {"x": "a", "y": 2}}));
        assert!(bad.is_err());
    }
}
