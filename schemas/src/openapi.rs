//! The OpenAPI 3.1 document: every route with its parameters, body (inlined
//! from the command schemas), answers and errors, and links from each create
//! to the operations that take the id it makes (so a stateful fuzzer, or a
//! reader, can go from a workspace to its boards to their items).

use serde_json::{Map, Value, json};

use crate::reads::{self, answer, list_of, one};

/// One operation of the API.
struct Op {
    id: &'static str,
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    /// The command body's component (`commands()` file name), if it takes one.
    body: Option<&'static str>,
    /// The success status and its body schema.
    status: u16,
    answer: Value,
    query: Vec<Value>,
}

fn command(
    id: &'static str,
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    status: u16,
) -> Op {
    Op { id, method, path, summary, body, status, answer: json!({"$ref": "#/components/schemas/CommandAnswer"}), query: Vec::new() }
}

/// A webhook command whose answer shows the secret (once: it is in no read).
fn with_secret(op: Op) -> Op {
    Op { answer: json!({"$ref": "#/components/schemas/WebhookSecretAnswer"}), ..op }
}

fn read(id: &'static str, path: &'static str, summary: &'static str, answer: Value, query: Vec<Value>) -> Op {
    Op { id, method: "get", path, summary, body: None, status: 200, answer, query }
}

fn operations() -> Vec<Op> {
    let c = command;
    vec![
        c("createWorkspace", "post", "/v1/workspaces", "Create a workspace", Some("create-workspace"), 201),
        c("renameWorkspace", "patch", "/v1/workspaces/{id}", "Rename a workspace", Some("rename-workspace"), 200),
        c("addWorkspaceMember", "post", "/v1/workspaces/{id}/members", "Add a workspace member", Some("add-workspace-member"), 200),
        c("removeWorkspaceMember", "delete", "/v1/workspaces/{id}/members/{user_id}", "Remove a workspace member", None, 200),
        c("createBoard", "post", "/v1/boards", "Create a board", Some("create-board"), 201),
        c("updateBoard", "patch", "/v1/boards/{id}", "Update a board", Some("update-board"), 200),
        c("archiveBoard", "post", "/v1/boards/{id}/archive", "Archive a board", None, 200),
        c("addColumn", "post", "/v1/boards/{id}/columns", "Add a column", Some("add-column"), 200),
        c("updateColumn", "patch", "/v1/boards/{id}/columns/{column_id}", "Update a column", Some("update-column"), 200),
        c("removeColumn", "delete", "/v1/boards/{id}/columns/{column_id}", "Remove a column", None, 200),
        c("addGroup", "post", "/v1/boards/{id}/groups", "Add a group", Some("add-group"), 200),
        c("addBoardMember", "post", "/v1/boards/{id}/members", "Add a board member", Some("add-board-member"), 200),
        c("removeBoardMember", "delete", "/v1/boards/{id}/members/{user_id}", "Remove a board member", None, 200),
        c("createItem", "post", "/v1/items", "Create an item", Some("create-item"), 201),
        c("updateItem", "put", "/v1/items/{id}", "Update an item", Some("update-item"), 200),
        c("deleteItem", "delete", "/v1/items/{id}", "Delete an item", None, 200),
        c("moveItem", "post", "/v1/items/{id}/move", "Move an item", Some("move-item"), 200),
        c("assignItem", "post", "/v1/items/{id}/assignees", "Assign a user", Some("assign-item"), 200),
        c("unassignItem", "delete", "/v1/items/{id}/assignees/{user_id}", "Unassign a user", None, 200),
        c("addComment", "post", "/v1/items/{id}/comments", "Comment on an item", Some("add-comment"), 200),
        c("attachFile", "post", "/v1/items/{id}/files", "Attach file metadata", Some("attach-file"), 200),
        c("updateProfile", "put", "/v1/me", "Update the caller's profile", Some("update-profile"), 200),
        with_secret(c("createWebhook", "post", "/v1/workspaces/{id}/webhooks", "Subscribe an endpoint", Some("create-webhook"), 201)),
        c("updateWebhook", "patch", "/v1/webhooks/{id}", "Change a webhook (active: true resumes it)", Some("update-webhook"), 200),
        with_secret(c("rotateWebhookSecret", "post", "/v1/webhooks/{id}/rotate-secret", "Rotate a webhook's secret", None, 200)),
        c("deleteWebhook", "delete", "/v1/webhooks/{id}", "Delete a webhook", None, 200),
        c(
            "replayWebhook",
            "post",
            "/v1/webhooks/{id}/replay",
            "Send a range of the log again (appends nothing)",
            Some("replay-webhook"),
            200,
        ),
        read("listWorkspaces", "/v1/workspaces", "Workspaces the caller belongs to", answer(list_of("Workspace"), true), Vec::new()),
        read("listBoards", "/v1/boards", "Boards the caller is a member of", answer(list_of("BoardSummary"), true), {
            let mut q = vec![reads::workspace_filter()];
            q.extend(reads::paging());
            q
        }),
        read("getBoard", "/v1/boards/{id}", "One board (include=items for its items)", answer(one("Board"), false), vec![reads::include()]),
        read(
            "listBoardItems",
            "/v1/boards/{id}/items",
            "A board's items, filtered and paginated",
            answer(list_of("Item"), true),
            reads::item_filters(),
        ),
        read("getStatistics", "/v1/boards/{id}/statistics", "A board's statistics", answer(one("Statistics"), false), Vec::new()),
        read(
            "getBoardActivity",
            "/v1/boards/{id}/activity",
            "A board's activity, newest first",
            answer(list_of("Activity"), true),
            reads::paging(),
        ),
        read("listItems", "/v1/items", "Items of a board (?boardId=)", answer(list_of("Item"), true), {
            let mut q = vec![reads::board_id()];
            q.extend(reads::item_filters());
            q
        }),
        read("getItem", "/v1/items/{id}", "One item with its comment count and files", answer(one("Item"), false), Vec::new()),
        read(
            "listComments",
            "/v1/items/{id}/comments",
            "An item's comments, oldest first",
            answer(list_of("Comment"), true),
            reads::paging(),
        ),
        read(
            "getItemActivity",
            "/v1/items/{id}/activity",
            "An item's activity, newest first",
            answer(list_of("Activity"), true),
            reads::paging(),
        ),
        read(
            "listFiles",
            "/v1/files",
            "File metadata of an item or board, newest first",
            answer(list_of("File"), true),
            vec![reads::file_owner()],
        ),
        read(
            "listWebhooks",
            "/v1/workspaces/{id}/webhooks",
            "A workspace's webhooks (owners and admins; never the secret)",
            answer(list_of("Webhook"), true),
            Vec::new(),
        ),
        read(
            "listWebhookDeliveries",
            "/v1/webhooks/{id}/deliveries",
            "A webhook's delivery attempts, newest first (each is POSTed as a WebhookPayload)",
            answer(list_of("WebhookAttempt"), true),
            reads::paging(),
        ),
        read("websocket", "/v1/ws", "The realtime WebSocket (frames: websocket/client-frames.schema.json)", json!({}), Vec::new()),
    ]
}

/// Where each create's id goes: (create, link name, target, parameters).
/// `$response.body#/data/id` is the new resource; `$request.path.id` its parent.
fn links() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    let made = "$response.body#/data/id";
    let entity = "$response.body#/data/entityId";
    let id = |name: &str| json!({ name: made });
    let mut out = Vec::new();
    for target in ["renameWorkspace", "addWorkspaceMember", "listBoards"] {
        let param = if target == "listBoards" { id("workspaceId") } else { id("id") };
        out.push(("createWorkspace", target, target, json!({"parameters": param})));
    }
    out.push(("createWorkspace", "createWebhook", "createWebhook", json!({"parameters": id("id")})));
    out.push(("createWorkspace", "listWebhooks", "listWebhooks", json!({"parameters": id("id")})));
    for target in ["updateWebhook", "rotateWebhookSecret", "deleteWebhook", "replayWebhook", "listWebhookDeliveries"] {
        out.push(("createWebhook", target, target, json!({"parameters": id("id")})));
    }
    out.push(("createWorkspace", "createBoard", "createBoard", json!({"requestBody": {"workspaceId": made, "name": "Linked board"}})));
    for target in [
        "updateBoard",
        "archiveBoard",
        "addColumn",
        "addGroup",
        "addBoardMember",
        "getBoard",
        "listBoardItems",
        "getStatistics",
        "getBoardActivity",
        "getBoardChanges",
    ] {
        out.push(("createBoard", target, target, json!({"parameters": id("id")})));
    }
    out.push(("createBoard", "listItems", "listItems", json!({"parameters": id("boardId")})));
    out.push(("createBoard", "createItem", "createItem", json!({"requestBody": {"boardId": made, "name": "Linked item"}})));
    for target in ["updateColumn", "removeColumn"] {
        out.push(("addColumn", target, target, json!({"parameters": {"id": "$request.path.id", "column_id": entity}})));
    }
    for target in
        ["updateItem", "deleteItem", "moveItem", "assignItem", "addComment", "attachFile", "getItem", "listComments", "getItemActivity"]
    {
        out.push(("createItem", target, target, json!({"parameters": id("id")})));
    }
    // No link to `listFiles`: its `owner` is an exploded object parameter,
    // which a link can only give as an object holding a runtime expression,
    // and the fuzzer sends that as `?owner=boardId` (a request no schema
    // allows, which then fails the run now and then).
    // Whom a membership or an assignment names, the matching removal takes.
    let added = json!({"id": "$request.path.id", "user_id": "$request.body#/userId"});
    out.push(("addWorkspaceMember", "removeWorkspaceMember", "removeWorkspaceMember", json!({"parameters": added})));
    out.push(("addBoardMember", "removeBoardMember", "removeBoardMember", json!({"parameters": added})));
    out.push(("assignItem", "unassignItem", "unassignItem", json!({"parameters": added})));
    out
}

/// Headers a command takes besides the token.
fn command_headers() -> Vec<Value> {
    vec![
        json!({"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string", "pattern": "^(W/)?\"?[0-9]+\"?$"},
            "description": "The version the command expects (`412` when it is not the current one)"}),
        json!({"name": "Idempotency-Key", "in": "header", "required": false,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$"},
            "description": "The same key with the same body answers as the first time and appends nothing; with another body, `422`"}),
    ]
}

/// Headers every command's answer carries.
fn command_answer_headers() -> Value {
    json!({
        "ETag": {"schema": {"type": "string"}, "description": "The target's version, quoted (for `If-Match`)"},
        "X-Sunday-Position": {"schema": {"type": "integer"}, "description": "The log position of the command's last event"},
        "Idempotency-Replayed": {"schema": {"type": "string", "enum": ["true"]}, "required": false,
            "description": "`true` when this is the answer stored under the request's `Idempotency-Key` by an earlier run (nothing was appended)"},
    })
}

/// Headers a read takes besides the token.
fn read_headers() -> Vec<Value> {
    vec![
        json!({"name": "X-Sunday-Min-Position", "in": "header", "required": false, "schema": {"type": "integer", "minimum": 0},
            "description": "Wait (up to 2 s) until the read models reach this log position; `504` when they do not"}),
        json!({"name": "If-None-Match", "in": "header", "required": false, "schema": {"type": "string"},
            "description": "An `ETag` of a previous answer: `304` when the answer is the same"}),
    ]
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}))
        .collect()
}

fn operation(op: &Op, links: &[(&str, &str, &str, Value)]) -> Value {
    let problem = json!({"description": "An error (RFC 9457): 400, 401, 403, 404, 409, 412, 413, 415, 422, 429 (with Retry-After), 504",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    let mut success = json!({"description": "Success", "content": {"application/json": {"schema": op.answer}}});
    if op.method != "get" {
        success["headers"] = command_answer_headers();
    }
    let mine: Map<String, Value> = links
        .iter()
        .filter(|(from, _, _, _)| *from == op.id)
        .map(|(_, name, target, spec)| {
            let mut link = json!({"operationId": target});
            if let (Some(l), Some(s)) = (link.as_object_mut(), spec.as_object()) {
                l.extend(s.clone());
            }
            ((*name).to_owned(), link)
        })
        .collect();
    if !mine.is_empty() {
        success["links"] = Value::Object(mine);
    }
    let mut responses = json!({ op.status.to_string(): success, "default": problem });
    if op.method == "get" && op.id != "websocket" {
        responses["304"] = json!({"description": "Not modified (`If-None-Match` named the current `ETag`)"});
    }
    let mut params = path_params(op.path);
    params.extend(op.query.iter().cloned());
    params.extend(if op.method == "get" { read_headers() } else { command_headers() });
    if op.id == "websocket" {
        params.clear();
    }
    let mut out = json!({"operationId": op.id, "summary": op.summary, "responses": responses});
    if !params.is_empty() {
        out["parameters"] = Value::Array(params);
    }
    if let Some(body) = op.body {
        out["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", component(body))}}}});
    }
    out
}

/// `GET /v1/boards/{id}/changes`: read from the log, not the read models, so
/// it takes neither `X-Sunday-Min-Position` nor `If-None-Match`, and answers
/// JSON pages or, with `Accept: text/event-stream`, Server-Sent Events.
fn changes_operation() -> Value {
    let position = json!({"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_i64});
    let mut params = path_params("/v1/boards/{id}/changes");
    params.extend([
        reads::query(
            "since",
            position.clone(),
            false,
            "Events after this log position (default 0): the previous answer's `X-Sunday-Position`",
        ),
        reads::query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
            false,
            "Events per page (at most 1000)",
        ),
        reads::query(
            "wait",
            json!({"type": "integer", "minimum": 0, "maximum": 30, "default": 0}),
            false,
            "Seconds to hold the request while there is nothing after `since` (JSON only)",
        ),
        json!({"name": "Last-Event-ID", "in": "header", "required": false, "schema": position,
            "description": "Server-Sent Events only: resume after this event (wins over `since`); an `EventSource` sends it itself"}),
    ]);
    let sse = "Server-Sent Events when asked for with `Accept: text/event-stream`: each event as `id: <position>`, \
        `event: <type>`, `data: <ChangeEvent as JSON>`; a comment line every 15 s when idle; `event: error` with \
        `data: {\"code\": \"forbidden\"}` and the end of the stream when the caller may no longer read the board";
    let page = answer(list_of("ChangeEvent"), false);
    let mut page = page;
    page["properties"]["nextCursor"] = json!({"type": "null"});
    page["required"] = json!(["data", "nextCursor"]);
    json!({
        "operationId": "getBoardChanges",
        "summary": "A board's events from the log, paged by position, or live as Server-Sent Events",
        "parameters": params,
        "responses": {
            "200": {
                "description": format!("The board's events after `since`, in log order. {sse}"),
                "headers": {"X-Sunday-Position": {"schema": {"type": "integer"},
                    "description": "JSON only: the answer is complete up to this position; continue with `since` set to it"}},
                "content": {"application/json": {"schema": page}, "text/event-stream": {"schema": {"type": "string"}}},
            },
            "default": {"description": "An error (RFC 9457): 400, 401, 404 (also for a board the caller may not read), 422, 429, 503",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        },
    })
}

/// The component name of a command body file (`create-item` → `CreateItemBody`).
pub(crate) fn component(file: &str) -> String {
    let mut name: String = file
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect();
    name.push_str("Body");
    name
}

/// The document. `bodies` are the command body schemas by file name.
pub(crate) fn document(bodies: Vec<(&'static str, Value)>) -> Value {
    let links = links();
    let mut paths = Map::new();
    for op in operations() {
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method] = operation(&op, &links);
    }
    paths.insert("/v1/boards/{id}/changes".into(), json!({"get": changes_operation()}));
    let mut schemas = Map::new();
    schemas.insert(
        "CommandAnswer".into(),
        json!({"type": "object", "required": ["data"], "properties": {"data": {"type": "object",
        "required": ["id", "version", "position"],
        "properties": {"id": {"type": "string", "format": "uuid"}, "entityId": {"type": "string", "format": "uuid"},
            "version": {"type": "integer", "minimum": 0}, "position": {"type": "integer"}}}}}),
    );
    let mut secret = schemas["CommandAnswer"].clone();
    secret["properties"]["data"]["required"] = json!(["id", "version", "position", "secret"]);
    secret["properties"]["data"]["properties"]["secret"] = json!({"type": "string", "pattern": "^whsec_[A-Za-z0-9+/]{43}=$",
        "description": "Signs the webhook's deliveries from now on; shown only here"});
    schemas.insert("WebhookSecretAnswer".into(), secret);
    schemas.insert(
        "Problem".into(),
        json!({"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}),
    );
    for (name, schema) in reads::components() {
        schemas.insert(name.into(), schema);
    }
    for (file, schema) in bodies {
        schemas.insert(component(file), schema);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Sunday API", "version": "1", "description": "See api.md for the full contract. Command bodies are also published one per file under commands/."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas,
        },
    })
}
