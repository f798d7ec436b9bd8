//! Fuzzing the read side's inputs: arbitrary strings as every query
//! parameter (cursors and limits included), as path ids, and as bearer
//! tokens. Whatever comes, the answer is never a 5xx and always JSON.

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::helpers::{System, user};

const PATHS: &[&str] = &[
    "/v1/workspaces",
    "/v1/boards",
    "/v1/boards/{board}",
    "/v1/boards/{board}/items",
    "/v1/boards/{board}/statistics",
    "/v1/boards/{board}/activity",
    "/v1/items",
    "/v1/items/{item}",
    "/v1/items/{item}/comments",
    "/v1/items/{item}/activity",
    "/v1/files",
];
const PARAMS: &[&str] = &["limit", "cursor", "status", "assignee", "tag", "q", "groupId", "boardId", "itemId", "workspaceId", "include"];

/// A percent-encoded arbitrary string, or a forged cursor, or something plausible.
fn value(ids: Vec<String>) -> impl Strategy<Value = String> {
    let encode = |s: String| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    prop_oneof![
        any::<String>().prop_map(encode),
        proptest::sample::select(ids),
        proptest::sample::select(vec!["0", "-1", "1", "500", "501", "99999999999999999999", "items", "To%20Do", "%00", "%ZZ", "&&", "=="])
            .prop_map(str::to_owned),
        any::<String>()
            .prop_map(|s| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::json!({"r": s, "p": s}).to_string())),
    ]
}

fn token() -> impl Strategy<Value = Option<String>> {
    prop_oneof![Just(None), "[A-Za-z0-9._-]{0,80}".prop_map(Some), any::<String>().prop_map(Some), Just(Some("a.b.c".to_owned()))]
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn arbitrary_query_parameters_and_tokens_never_get_a_5xx(pool: PgPool) {
    let sys = System::start(pool).await;
    let owner = user();
    let (_, board, _) = sys.board(owner).await;
    let item = sys.command(axum::http::Method::POST, "/v1/items", owner, Some(serde_json::json!({"boardId": board, "name": "x"}))).await;
    let ids =
        vec![board.to_string(), item.id().to_string(), uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned(), "%FF%FE".to_owned()];
    let query = proptest::collection::vec((proptest::sample::select(PARAMS), value(ids.clone())), 0..5);
    let strategy = (0..PATHS.len(), proptest::sample::select(ids.clone()), query, proptest::option::weighted(0.3, token()));
    let mut runner = TestRunner::default();
    for _ in 0..300 {
        let (path, id, query, forged) = strategy.new_tree(&mut runner).unwrap_or_else(|e| panic!("{e}")).current();
        let path = PATHS[path].replace("{board}", &id).replace("{item}", &id);
        let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        let uri = format!("{path}?{}", query.join("&"));
        let bearer = match forged {
            Some(t) => t.map(|t| format!("Bearer {t}")),
            None => Some(format!("Bearer {}", crate::helpers::token(owner))),
        };
        let mut req = Request::get(&uri);
        if let Some(b) = bearer.filter(|b| axum::http::HeaderValue::from_str(b).is_ok()) {
            req = req.header("authorization", b);
        }
        let Ok(req) = req.body(Body::empty()) else { continue };
        let resp = sys.router().oneshot(req).await.unwrap_or_else(|e| match e {});
        let status = resp.status();
        assert!(!status.is_server_error(), "GET {uri} answered {status}");
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(status == 304 || ct.contains("json"), "GET {uri}: {status} with content-type {ct:?}");
    }
}
