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
    assert!(sunday_command_api::extract::parse_json::<sunday_command_api::routes::items::CreateBody>(ok).is_ok());
    let missing = br#"{"boardId": "0190f3b4-0000-7000-8000-0000000000bb"}"#;
    assert!(sunday_command_api::extract::parse_json::<sunday_command_api::routes::items::CreateBody>(missing).is_err());
}

#[test]
fn every_event_type_has_a_schema() {
    let docs: std::collections::BTreeMap<String, Value> = sunday_schemas::documents().into_iter().collect();
    let text = docs["events.schema.json"].to_string();
    for t in [
        "WorkspaceCreated", "WorkspaceRenamed", "WorkspaceMemberAdded", "WorkspaceMemberRemoved", "BoardCreated", "BoardUpdated",
        "BoardArchived", "ColumnAdded", "ColumnUpdated", "ColumnRemoved", "GroupAdded", "BoardMemberAdded", "BoardMemberRoleChanged",
        "BoardMemberRemoved", "ItemCreated", "ItemUpdated", "ItemMoved", "ItemAssigned", "ItemUnassigned", "ItemDeleted",
        "CommentAdded", "FileAttached", "UserProfileUpdated",
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
