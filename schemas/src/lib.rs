//! The published contract as files: JSON Schemas of every command body, of
//! every event (`{type, data}` as the log and JetStream carry it), of the
//! WebSocket frames both ways, and the OpenAPI document tying the HTTP
//! routes to them. Every document is generated from the Rust types that parse
//! or produce the JSON; `tests/agree.rs` fails when a committed file differs
//! from what the types generate (`SUNDAY_UPDATE_SCHEMAS=1` rewrites them).

use schemars::{Schema, schema_for};
use serde_json::{Map, Value, json};
use sunday_command_api::routes::{boards, items, me, workspaces};

/// A command: its route, the file of its body's schema, and the schema.
pub struct Command {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub file: &'static str,
    pub schema: Schema,
}

/// Every command that takes a JSON body.
pub fn commands() -> Vec<Command> {
    let c = |method, path, summary, file, schema| Command { method, path, summary, file, schema };
    vec![
        c("post", "/v1/workspaces", "Create a workspace", "create-workspace", schema_for!(workspaces::CreateBody)),
        c("patch", "/v1/workspaces/{id}", "Rename a workspace", "rename-workspace", schema_for!(workspaces::RenameBody)),
        c("post", "/v1/workspaces/{id}/members", "Add a workspace member", "add-workspace-member", schema_for!(workspaces::MemberBody)),
        c("post", "/v1/boards", "Create a board", "create-board", schema_for!(boards::CreateBody)),
        c("patch", "/v1/boards/{id}", "Update a board", "update-board", schema_for!(boards::UpdateBody)),
        c("post", "/v1/boards/{id}/columns", "Add a column", "add-column", schema_for!(boards::ColumnBody)),
        c("patch", "/v1/boards/{id}/columns/{column_id}", "Update a column", "update-column", schema_for!(boards::UpdateColumnBody)),
        c("post", "/v1/boards/{id}/groups", "Add a group", "add-group", schema_for!(boards::GroupBody)),
        c("post", "/v1/boards/{id}/members", "Add a board member", "add-board-member", schema_for!(boards::MemberBody)),
        c("post", "/v1/items", "Create an item", "create-item", schema_for!(items::CreateBody)),
        c("put", "/v1/items/{id}", "Update an item", "update-item", schema_for!(items::UpdateBody)),
        c("post", "/v1/items/{id}/move", "Move an item", "move-item", schema_for!(items::MoveBody)),
        c("post", "/v1/items/{id}/assignees", "Assign a user", "assign-item", schema_for!(items::AssignBody)),
        c("post", "/v1/items/{id}/comments", "Comment on an item", "add-comment", schema_for!(items::CommentBody)),
        c("post", "/v1/items/{id}/files", "Attach file metadata", "attach-file", schema_for!(items::FileBody)),
        c("put", "/v1/me", "Update the caller's profile", "update-profile", schema_for!(me::ProfileBody)),
    ]
}

/// Routes without a body: (method, path, summary).
pub const OTHER_ROUTES: &[(&str, &str, &str)] = &[
    ("delete", "/v1/workspaces/{id}/members/{user_id}", "Remove a workspace member"),
    ("post", "/v1/boards/{id}/archive", "Archive a board"),
    ("delete", "/v1/boards/{id}/columns/{column_id}", "Remove a column"),
    ("delete", "/v1/boards/{id}/members/{user_id}", "Remove a board member"),
    ("delete", "/v1/items/{id}", "Delete an item"),
    ("delete", "/v1/items/{id}/assignees/{user_id}", "Unassign a user"),
    ("get", "/v1/workspaces", "Workspaces the caller belongs to"),
    ("get", "/v1/boards", "Boards the caller is a member of"),
    ("get", "/v1/boards/{id}", "One board (include=items for its items)"),
    ("get", "/v1/boards/{id}/items", "A board's items, filtered and paginated"),
    ("get", "/v1/boards/{id}/statistics", "A board's statistics"),
    ("get", "/v1/boards/{id}/activity", "A board's activity, newest first"),
    ("get", "/v1/items", "Items of a board (?boardId=)"),
    ("get", "/v1/items/{id}", "One item with its comment count and files"),
    ("get", "/v1/items/{id}/comments", "An item's comments, oldest first"),
    ("get", "/v1/items/{id}/activity", "An item's activity, newest first"),
    ("get", "/v1/files", "File metadata of an item or board"),
    ("get", "/v1/ws", "The realtime WebSocket (frames: websocket/client-frames.schema.json)"),
];

/// Drops `"default": null` where `null` is not a value the field takes (a field
/// that may be absent but not `null`: schemars reports the Rust default).
fn drop_null_defaults(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let nullable = match o.get("type") {
                Some(Value::Array(types)) => types.contains(&json!("null")),
                Some(_) => false,
                None => true,
            };
            if !nullable && o.get("default") == Some(&Value::Null) {
                o.remove("default");
            }
            o.values_mut().for_each(drop_null_defaults);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}

fn tidy(schema: &Schema) -> Value {
    let mut v = schema.clone().to_value();
    drop_null_defaults(&mut v);
    if let Some(o) = v.as_object_mut() {
        o.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    }
    v
}

/// The OpenAPI 3.1 document: every route, bodies by reference to their schema files.
pub fn openapi() -> Value {
    let mut paths = Map::new();
    let problem = json!({"description": "An error (RFC 9457)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    let mut add = |method: &str, path: &str, summary: &str, body: Option<&str>| {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        let mut op = json!({"summary": summary, "responses": {"default": problem.clone()}});
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(file) = body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("commands/{file}.schema.json")}}}});
            op["responses"]["2XX"] = json!({"description": "The command's `{data: {id, version, position}}`", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CommandAnswer"}}}});
        } else {
            op["responses"]["2XX"] = json!({"description": "Success: `{data: ...}`"});
        }
        entry[method] = op;
    };
    for c in commands() {
        add(c.method, c.path, c.summary, Some(c.file));
    }
    for (method, path, summary) in OTHER_ROUTES {
        add(method, path, summary, None);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Sunday API", "version": "1", "description": "See api.md for the full contract; bodies are described by the JSON Schemas beside this file."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "CommandAnswer": {"type": "object", "required": ["data"], "properties": {"data": {"type": "object",
                    "required": ["id", "version", "position"],
                    "properties": {"id": {"type": "string", "format": "uuid"}, "entityId": {"type": "string", "format": "uuid"},
                        "version": {"type": "integer"}, "position": {"type": "integer"}}}}},
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}},
            },
        },
    })
}

/// Every document, by its path under `schemas/`.
pub fn documents() -> Vec<(String, Value)> {
    let mut docs = vec![("events.schema.json".to_owned(), tidy(&schema_for!(sunday_domain::DomainEvent)))];
    for c in commands() {
        docs.push((format!("commands/{}.schema.json", c.file), tidy(&c.schema)));
    }
    docs.push(("websocket/client-frames.schema.json".to_owned(), sunday_realtime_gateway::client_frames_schema()));
    docs.push(("websocket/server-frames.schema.json".to_owned(), sunday_realtime_gateway::server_frames_schema()));
    docs.push(("openapi.json".to_owned(), openapi()));
    docs
}
