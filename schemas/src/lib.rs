//! The published contract as files: JSON Schemas of every command body, of
//! every event (`{type, data}` as the log and JetStream carry it), of the
//! WebSocket frames both ways, and the OpenAPI document tying the HTTP
//! routes to them. Every document is generated from the Rust types that parse
//! or produce the JSON; `tests/agree.rs` fails when a committed file differs
//! from what the types generate (`SUNDAY_UPDATE_SCHEMAS=1` rewrites them).

mod openapi;
mod reads;

use schemars::{Schema, schema_for};
use serde_json::{Value, json};
use sunday_command_api::routes::{boards, items, me, webhooks, workspaces};

/// A command body: the file of its schema, and the schema.
pub struct Command {
    pub file: &'static str,
    pub schema: Schema,
}

/// Every command body (the routes that take them are in `openapi.rs`).
pub fn commands() -> Vec<Command> {
    let c = |file, schema| Command { file, schema };
    vec![
        c("create-workspace", schema_for!(workspaces::CreateBody)),
        c("rename-workspace", schema_for!(workspaces::RenameBody)),
        c("add-workspace-member", schema_for!(workspaces::MemberBody)),
        c("create-board", schema_for!(boards::CreateBody)),
        c("update-board", schema_for!(boards::UpdateBody)),
        c("add-column", schema_for!(boards::ColumnBody)),
        c("update-column", schema_for!(boards::UpdateColumnBody)),
        c("add-group", schema_for!(boards::GroupBody)),
        c("add-board-member", schema_for!(boards::MemberBody)),
        c("create-item", schema_for!(items::CreateBody)),
        c("update-item", schema_for!(items::UpdateBody)),
        c("move-item", schema_for!(items::MoveBody)),
        c("assign-item", schema_for!(items::AssignBody)),
        c("add-comment", schema_for!(items::CommentBody)),
        c("attach-file", schema_for!(items::FileBody)),
        c("update-profile", schema_for!(me::ProfileBody)),
        c("create-webhook", schema_for!(webhooks::CreateBody)),
        c("update-webhook", schema_for!(webhooks::UpdateBody)),
        c("replay-webhook", schema_for!(webhooks::ReplayBody)),
    ]
}

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

/// Rewrites `#/$defs/X` references as `#/components/schemas/X`.
fn rebase_refs(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/components/schemas/{name}");
            }
            o.values_mut().for_each(rebase_refs);
        }
        Value::Array(a) => a.iter_mut().for_each(rebase_refs),
        _ => {}
    }
}

/// The OpenAPI 3.1 document, self-contained: the command bodies and what
/// they use are inlined as components.
pub fn openapi() -> Value {
    let mut bodies: Vec<(&'static str, Value)> = Vec::new();
    let mut shared: Vec<(&'static str, Value)> = Vec::new();
    for c in commands() {
        let mut v = tidy(&c.schema);
        if let Some(o) = v.as_object_mut() {
            o.remove("$schema");
            o.remove("title");
            if let Some(Value::Object(defs)) = o.remove("$defs") {
                for (name, def) in defs {
                    let name: &'static str = Box::leak(name.into_boxed_str());
                    if !shared.iter().any(|(n, _)| *n == name) {
                        shared.push((name, def));
                    }
                }
            }
        }
        bodies.push((c.file, v));
    }
    let mut doc = openapi::document(bodies);
    for (name, def) in shared {
        doc["components"]["schemas"][name] = def;
    }
    rebase_refs(&mut doc);
    doc
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
