//! The wire format of `/v1/ws`: client frames as parsed, and server frames as
//! sent (`{"event", "data", "timestamp"}`), each serialised once.

use tokio_tungstenite::tungstenite::Utf8Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A server frame, stamped now.
pub(crate) fn server(event: &str, data: Value) -> Utf8Bytes {
    json!({ "event": event, "data": data, "timestamp": now_ms() }).to_string().into()
}

/// An `error` frame.
pub(crate) fn error(code: &str, message: impl Into<String>) -> Utf8Bytes {
    server("error", json!({ "code": code, "message": message.into() }))
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Active,
    Idle,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Idle => "idle",
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PresenceUpdate {
    pub(crate) board_id: Uuid,
    pub(crate) status: Status,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CursorPosition {
    x: f64,
    y: f64,
    #[serde(default)]
    element_id: Option<String>,
}

impl CursorPosition {
    /// The position as forwarded to the room (only the fields the contract names).
    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("x".into(), json!(self.x));
        m.insert("y".into(), json!(self.y));
        if let Some(e) = &self.element_id {
            m.insert("elementId".into(), json!(e));
        }
        Value::Object(m)
    }
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

/// The JSON Schema of every frame a client may send, as one `oneOf` over
/// `{"event": <name>, "data": <payload>}`.
pub(crate) fn client_frames_schema() -> serde_json::Value {
    fn frame(event: &str, data: schemars::Schema) -> Value {
        let mut data = data.to_value();
        let defs = data.as_object_mut().and_then(|o| o.remove("$defs"));
        if let Some(o) = data.as_object_mut() {
            o.remove("$schema");
        }
        let mut v = json!({
            "type": "object", "required": ["event", "data"], "additionalProperties": false,
            "properties": {"event": {"const": event}, "data": data},
        });
        if let Some(defs) = defs {
            v["$defs"] = defs;
        }
        v
    }
    let variants = vec![
        frame("join-board", schemars::schema_for!(JoinBoard)),
        frame("leave-board", schemars::schema_for!(BoardRef)),
        frame("presence-update", schemars::schema_for!(PresenceUpdate)),
        frame("cursor-move", schemars::schema_for!(CursorMove)),
        frame("optimistic-update", schemars::schema_for!(OptimisticUpdate)),
        frame("ping", schemars::json_schema!({"type": "object"})),
    ];
    // Hoist every variant's definitions to the top, where `#/$defs/...` points.
    let mut defs = serde_json::Map::new();
    let variants: Vec<Value> = variants
        .into_iter()
        .map(|mut v| {
            if let Some(Value::Object(d)) = v.as_object_mut().and_then(|o| o.remove("$defs")) {
                defs.extend(d);
            }
            v
        })
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ClientFrame",
        "description": "A frame a client sends on /v1/ws.",
        "oneOf": variants,
        "$defs": defs,
    })
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
    fn cursor_positions_keep_only_the_contract_fields() {
        let c: CursorMove = serde_json::from_value(json!({"boardId": Uuid::nil(), "position": {"x": 1.5, "y": 2}}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.position.to_json(), json!({"x": 1.5, "y": 2.0}));
        let bad = serde_json::from_value::<CursorMove>(json!({"boardId": Uuid::nil(), "position": {"x": "a", "y": 2}}));
        assert!(bad.is_err());
    }
}
