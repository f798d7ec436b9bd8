//! What the reads answer, as JSON Schema: the shapes the query API renders
//! (api.md, "Queries"), and the query parameters each read takes. The read
//! side renders its JSON in SQL and in `item_json.rs` rather than from
//! typed structs, so these are written out here and checked against real
//! answers by the OpenAPI fuzzer that `ops/test` runs.

use serde_json::{Value, json};

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

/// `{userId, firstName, lastName, avatar}` (profile fields null until set).
fn person(extra: Value) -> Value {
    let mut props =
        json!({"userId": uuid(), "firstName": nullable("string"), "lastName": nullable("string"), "avatar": nullable("string")});
    if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let mut required = vec!["userId", "firstName", "lastName", "avatar"];
    required.extend(extra.as_object().into_iter().flat_map(|e| e.keys().map(String::as_str)).collect::<Vec<_>>());
    object(&required, props)
}

/// The data schemas of the read answers, for `components/schemas`.
pub(crate) fn components() -> Vec<(&'static str, Value)> {
    let item = object(
        &[
            "id",
            "boardId",
            "workspaceId",
            "groupId",
            "name",
            "description",
            "itemData",
            "rank",
            "assignees",
            "createdAt",
            "updatedAt",
            "createdBy",
            "version",
        ],
        json!({"id": uuid(), "boardId": uuid(), "workspaceId": uuid(), "groupId": uuid(), "name": {"type": "string"},
            "description": nullable("string"), "itemData": {"type": "object"}, "rank": {"type": "string"},
            "assignees": {"type": "array", "items": person(json!({}))}, "createdAt": timestamp(), "updatedAt": timestamp(),
            "createdBy": uuid(), "version": {"type": "integer", "minimum": 1},
            "commentCount": {"type": "integer", "minimum": 0}, "files": {"type": "array", "items": {"$ref": "#/components/schemas/File"}}}),
    );
    let column = object(
        &["id", "key", "title", "type", "settings"],
        json!({"id": uuid(), "key": {"type": "string"}, "title": {"type": "string"},
        "type": {"enum": ["text", "status", "number", "date", "people", "tags", "checkbox"]}, "settings": {"type": "object"}}),
    );
    let group = object(&["id", "title", "color"], json!({"id": uuid(), "title": {"type": "string"}, "color": nullable("string")}));
    let summary = json!({"id": uuid(), "workspaceId": uuid(), "name": {"type": "string"}, "description": nullable("string"),
        "archived": {"type": "boolean"}, "createdAt": timestamp(), "updatedAt": timestamp(), "version": {"type": "integer"},
        "itemCount": {"type": "integer", "minimum": 0}, "memberCount": {"type": "integer", "minimum": 0}});
    let mut board = summary.clone();
    if let Some(b) = board.as_object_mut() {
        b.insert("createdBy".into(), uuid());
        b.insert("columns".into(), json!({"type": "array", "items": column}));
        b.insert("groups".into(), json!({"type": "array", "items": group}));
        b.insert("members".into(), json!({"type": "array", "items": person(json!({"role": {"enum": ["owner", "editor", "viewer"]}}))}));
        b.insert("items".into(), json!({"type": "array", "items": {"$ref": "#/components/schemas/Item"}}));
    }
    let board_keys =
        ["id", "workspaceId", "name", "description", "archived", "createdAt", "updatedAt", "version", "itemCount", "memberCount"];
    let mut board_required = board_keys.to_vec();
    board_required.extend(["createdBy", "columns", "groups", "members"]);
    vec![
        (
            "Workspace",
            object(
                &["id", "name", "role", "createdBy", "createdAt", "updatedAt", "version"],
                json!({"id": uuid(), "name": {"type": "string"},
            "role": {"enum": ["owner", "admin", "member", "viewer"]}, "createdBy": uuid(), "createdAt": timestamp(), "updatedAt": timestamp(),
            "version": {"type": "integer"}}),
            ),
        ),
        ("BoardSummary", object(&board_keys, summary)),
        ("Board", object(&board_required, board)),
        ("Item", item),
        (
            "Comment",
            object(
                &["id", "itemId", "body", "authorId", "createdAt"],
                json!({"id": uuid(), "itemId": uuid(), "body": {"type": "string"},
            "authorId": uuid(), "createdAt": timestamp()}),
            ),
        ),
        (
            "File",
            object(
                &["id", "itemId", "boardId", "name", "contentType", "size", "uploadedBy", "createdAt"],
                json!({"id": uuid(), "itemId": uuid(),
            "boardId": uuid(), "name": {"type": "string"}, "contentType": {"type": "string"}, "size": {"type": "integer", "minimum": 0},
            "uploadedBy": uuid(), "createdAt": timestamp()}),
            ),
        ),
        (
            "Statistics",
            object(
                &["itemCount", "byStatus", "byAssignee", "estimatedHoursTotal", "updatedAt"],
                json!({"itemCount": {"type": "integer", "minimum": 0},
            "byStatus": {"type": "object", "additionalProperties": {"type": "integer"}},
            "byAssignee": {"type": "object", "additionalProperties": {"type": "integer"}},
            "estimatedHoursTotal": {"type": "number"}, "updatedAt": timestamp()}),
            ),
        ),
        (
            "ChangeEvent",
            object(
                &["position", "streamId", "version", "type", "occurredAt", "actorId", "data"],
                json!({"position": {"type": "integer"}, "streamId": {"type": "string"}, "version": {"type": "integer", "minimum": 1},
            "type": {"type": "string"}, "occurredAt": timestamp(), "actorId": uuid(),
            "data": {"type": "object", "description": "The event's payload (events.schema.json)"}}),
            ),
        ),
        (
            "Webhook",
            object(
                &["id", "workspaceId", "url", "eventTypes", "boardIds", "active", "disabledReason", "deliveredPosition", "createdAt"],
                json!({"id": uuid(), "workspaceId": uuid(), "url": {"type": "string"},
            "eventTypes": {"type": "array", "items": {"type": "string"}, "description": "Empty: every type"},
            "boardIds": {"type": ["array", "null"], "items": uuid(), "description": "null: every board and the workspace's own events"},
            "active": {"type": "boolean"}, "disabledReason": nullable("string"),
            "deliveredPosition": {"type": "integer", "description": "Every matching event at or below it has been delivered"},
            "createdAt": timestamp()}),
            ),
        ),
        (
            "WebhookAttempt",
            object(
                &["id", "eventId", "position", "type", "attempt", "status", "error", "durationMs", "at", "nextAttemptAt"],
                json!({"id": {"type": "integer"}, "eventId": uuid(), "position": {"type": "integer"}, "type": {"type": "string"},
            "attempt": {"type": "integer", "minimum": 1}, "status": {"type": ["integer", "null"], "description": "The endpoint's HTTP status, if it answered"},
            "error": nullable("string"), "durationMs": {"type": "integer", "minimum": 0}, "at": timestamp(),
            "nextAttemptAt": {"type": ["string", "null"], "format": "date-time"}}),
            ),
        ),
        (
            "WebhookPayload",
            object(
                &["type", "timestamp", "data"],
                json!({"type": {"type": "string"}, "timestamp": timestamp(),
                "data": {"allOf": [{"$ref": "#/components/schemas/ChangeEvent"}, object(&["eventId", "workspaceId", "boardId"],
                    json!({"eventId": uuid(), "workspaceId": {"type": ["string", "null"], "format": "uuid"},
                        "boardId": {"type": ["string", "null"], "format": "uuid"}}))]},
                }),
            ),
        ),
        (
            "Activity",
            object(
                &["id", "action", "entityType", "entityId", "userId", "createdAt", "position", "details"],
                json!({"id": uuid(),
            "action": {"type": "string"}, "entityType": {"type": "string"}, "entityId": uuid(), "userId": uuid(), "createdAt": timestamp(),
            "position": {"type": "integer"}, "details": {"type": "object"}}),
            ),
        ),
    ]
}

/// `{data: <schema>}`, plus `nextCursor` for pages.
pub(crate) fn answer(data: Value, paged: bool) -> Value {
    let mut props = json!({"data": data});
    let mut required = vec!["data"];
    if paged {
        props["nextCursor"] = nullable("string");
        required.push("nextCursor");
    }
    object(&required, props)
}

pub(crate) fn list_of(component: &str) -> Value {
    json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{component}")}})
}

pub(crate) fn one(component: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{component}")})
}

/// A query parameter.
pub(crate) fn query(name: &str, schema: Value, required: bool, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": required, "schema": schema, "description": description})
}

/// Text a query may carry: no NUL (PostgreSQL cannot compare it).
fn text() -> Value {
    json!({"type": "string", "pattern": "^[^\u{0}]*$"})
}

/// `limit` and `cursor` of a keyset-paged read.
pub(crate) fn paging() -> Vec<Value> {
    vec![
        query("limit", json!({"type": "integer", "minimum": 1, "maximum": 500, "default": 50}), false, "Entries per page (at most 500)"),
        query("cursor", json!({"type": "string", "pattern": "^[A-Za-z0-9_-]*$"}), false, "`nextCursor` of the previous page (opaque)"),
    ]
}

/// The filters of an item listing (all must hold).
pub(crate) fn item_filters() -> Vec<Value> {
    let mut p = vec![
        query("status", text(), false, "Value of the column keyed `status`"),
        query("assignee", uuid(), false, "A user among the assignees"),
        query("tag", json!({"type": "array", "items": text()}), false, "May repeat: every tag must be in the column keyed `tags`"),
        query("q", text(), false, "Case-insensitive substring of the name"),
        query("groupId", uuid(), false, "Only this group's items"),
    ];
    if let Some(tag) = p.get_mut(2) {
        tag["style"] = json!("form");
        tag["explode"] = json!(true);
    }
    p.extend(paging());
    p
}

/// `GET /v1/files` takes exactly one of `itemId` and `boardId`: one object
/// parameter whose properties are the query parameters (form, exploded).
pub(crate) fn file_owner() -> Value {
    json!({"name": "owner", "in": "query", "required": true, "style": "form", "explode": true,
    "description": "`itemId` (one item's files) or `boardId` (a board's)",
    "schema": {"oneOf": [
        {"type": "object", "required": ["itemId"], "properties": {"itemId": uuid()}, "additionalProperties": false},
        {"type": "object", "required": ["boardId"], "properties": {"boardId": uuid()}, "additionalProperties": false}
    ]}})
}

/// `include=items` of `GET /v1/boards/{id}`.
pub(crate) fn include() -> Value {
    query("include", json!({"enum": ["items"]}), false, "`items`: the board's live items in rank order")
}

/// `workspaceId` of `GET /v1/boards`.
pub(crate) fn workspace_filter() -> Value {
    query("workspaceId", uuid(), false, "Only this workspace's boards")
}

/// `boardId` of `GET /v1/items` (required).
pub(crate) fn board_id() -> Value {
    query("boardId", uuid(), true, "The board whose items to list")
}
