//! The committed schema files are exactly what the Rust types generate, the
//! OpenAPI document names every route the routers serve (and no other), and
//! JSON the types accept or produce validates against the schemas' shape.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Value, json};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_schemas_are_what_the_types_generate() {
    let update = std::env::var_os("SUNDAY_UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for (file, doc) in sunday_schemas::documents() {
        let path = dir().join(&file);
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        if update {
            std::fs::create_dir_all(path.parent().unwrap_or(&dir())).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(file);
        }
    }
    assert!(stale.is_empty(), "schemas out of date (run SUNDAY_UPDATE_SCHEMAS=1 cargo test -p sunday-schemas): {stale:?}");
}

/// `(method, path)` of every `.route(...)` in a router source file.
fn routes_in(source: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for part in source.split(".route(\"").skip(1) {
        let Some((path, rest)) = part.split_once('"') else { continue };
        let call = rest.split(".route(").next().unwrap_or("");
        for method in ["get", "post", "put", "patch", "delete"] {
            if call.contains(&format!("{method}(")) {
                found.insert((method.to_owned(), path.to_owned()));
            }
        }
    }
    found
}

#[test]
fn the_openapi_document_names_every_route_and_no_other() {
    let root = dir().join("..");
    let mut served = BTreeSet::new();
    for file in ["command-api/src/routes/mod.rs", "query-api/src/lib.rs", "realtime-gateway/src/lib.rs"] {
        let source = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        served.extend(routes_in(&source));
    }
    let doc = sunday_schemas::openapi();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
        for method in ops.as_object().into_iter().flatten().map(|(m, _)| m) {
            documented.insert((method.clone(), path.clone()));
        }
    }
    assert!(served.len() > 30, "the route scan found the routers: {served:?}");
    assert_eq!(served, documented);
}

/// Required properties of an object schema, following one `$ref` into `$defs`.
fn required(schema: &Value) -> BTreeSet<String> {
    schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

#[test]
fn schemas_say_what_the_parsers_accept() {
    let docs: std::collections::BTreeMap<String, Value> = sunday_schemas::documents().into_iter().collect();
    let create_item = &docs["commands/create-item.schema.json"];
    assert_eq!(required(create_item), ["boardId", "name"].map(String::from).into());
    assert_eq!(create_item["properties"]["description"]["type"], "string", "absent is fine, null is not");
    let move_item = &docs["commands/move-item.schema.json"];
    assert!(move_item["properties"]["afterItemId"]["type"].as_array().is_some_and(|t| t.contains(&json!("null"))), "null means first");
    // A body the schema calls valid parses, and one missing a required field does not.
    let ok = br#"{"boardId": "0190f3b4-0000-7000-8000-0000000000bb", "name": "x"}"#;
    assert!(sunday_edge::json::parse_json::<sunday_command_api::routes::items::CreateBody>(ok).is_ok());
    let missing = br#"{"boardId": "0190f3b4-0000-7000-8000-0000000000bb"}"#;
    assert!(sunday_edge::json::parse_json::<sunday_command_api::routes::items::CreateBody>(missing).is_err());
}

#[test]
fn every_event_type_has_a_schema() {
    let docs: std::collections::BTreeMap<String, Value> = sunday_schemas::documents().into_iter().collect();
    let text = docs["events.schema.json"].to_string();
    for t in [
        "WorkspaceCreated",
        "WorkspaceRenamed",
        "WorkspaceMemberAdded",
        "WorkspaceMemberRemoved",
        "BoardCreated",
        "BoardUpdated",
        "BoardArchived",
        "ColumnAdded",
        "ColumnUpdated",
        "ColumnRemoved",
        "GroupAdded",
        "BoardMemberAdded",
        "BoardMemberRoleChanged",
        "BoardMemberRemoved",
        "ItemCreated",
        "ItemUpdated",
        "ItemMoved",
        "ItemAssigned",
        "ItemUnassigned",
        "ItemDeleted",
        "CommentAdded",
        "FileAttached",
        "UserProfileUpdated",
        "WebhookCreated",
        "WebhookUpdated",
        "WebhookSecretRotated",
        "WebhookDeleted",
        "WebhookDisabled",
    ] {
        assert!(text.contains(&format!("\"const\":\"{t}\"")), "{t} missing from events.schema.json");
    }
    let frames = docs["websocket/client-frames.schema.json"].to_string();
    for e in ["join-board", "leave-board", "presence-update", "cursor-move", "optimistic-update", "ping"] {
        assert!(frames.contains(&format!("\"const\":\"{e}\"")), "{e} missing from the client frames");
    }
    let frames = docs["websocket/server-frames.schema.json"].to_string();
    for e in ["board-state", "events", "presence", "cursors", "update-ack", "update-rejected", "error", "pong"] {
        assert!(frames.contains(&format!("\"const\":\"{e}\"")), "{e} missing from the server frames");
    }
}

/// Every `$ref` of a document, with where it points.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(r.clone());
            }
            o.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_stands_alone_and_links_creates_to_what_takes_their_ids() {
    let doc = sunday_schemas::openapi();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for r in &found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("a reference outside the document: {r}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "{r} does not resolve");
    }
    let mut ids = BTreeSet::new();
    let mut links = Vec::new();
    for ops in doc["paths"].as_object().into_iter().flatten().map(|(_, o)| o) {
        for op in ops.as_object().into_iter().flatten().map(|(_, op)| op) {
            assert!(ids.insert(op["operationId"].as_str().unwrap_or_default().to_owned()), "operationIds are unique");
            for resp in op["responses"].as_object().into_iter().flatten().map(|(_, r)| r) {
                links.extend(
                    resp["links"].as_object().into_iter().flatten().map(|(_, l)| l["operationId"].as_str().unwrap_or_default().to_owned()),
                );
            }
        }
    }
    assert!(links.iter().all(|l| ids.contains(l)), "every link names an operation: {links:?}");
    for create in ["createWorkspace", "createBoard", "createItem", "addColumn"] {
        let op = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, o)| o.as_object().into_iter().flatten())
            .map(|(_, op)| op)
            .find(|op| op["operationId"] == create)
            .cloned()
            .unwrap_or_default();
        let linked = op["responses"].as_object().into_iter().flatten().any(|(_, r)| r["links"].as_object().is_some_and(|l| !l.is_empty()));
        assert!(linked, "{create} links to the operations that take its id");
    }
    // The rules the server applies are in the bodies: unknown fields, lengths, enums.
    let create_item = &doc["components"]["schemas"]["CreateItemBody"];
    assert_eq!(create_item["additionalProperties"], json!(false));
    assert_eq!(create_item["properties"]["name"]["minLength"], json!(1));
    assert!(doc["components"]["schemas"]["WorkspaceRole"]["enum"].as_array().is_some_and(|e| e.len() == 4));
    assert_eq!(doc["components"]["schemas"]["AttachFileBody"]["properties"]["size"]["type"], json!("integer"));
}
