//! Fingerprints come from the command, not the transport: a key used over
//! HTTP replays for the same command run directly, and fingerprints stored
//! the way HTTP requests were fingerprinted before (user, method, path and
//! canonical body) still replay.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use sunday_command_api::command::{Command, Preconditions};
use sunday_command_api::{AppState, Config};
use sunday_domain::item_commands::ItemCommand;
use sunday_eventstore::PgEventStore;
use uuid::Uuid;

use crate::helpers::{TestApp, user};

/// The fingerprint of the old form, computed by PostgreSQL (not the server's
/// code): SHA-256 over user, method, path and body, each followed by a zero byte.
async fn legacy_hash(pool: &PgPool, user: Uuid, method: &str, path: &str, body: &Value) -> String {
    let parts = [user.to_string(), method.to_owned(), path.to_owned(), body.to_string()];
    sqlx::query_scalar(
        "SELECT encode(sha256(convert_to($1, 'UTF8') || '\\x00'::bytea || convert_to($2, 'UTF8') || '\\x00'::bytea \
         || convert_to($3, 'UTF8') || '\\x00'::bytea || convert_to($4, 'UTF8') || '\\x00'::bytea), 'hex')",
    )
    .bind(&parts[0])
    .bind(&parts[1])
    .bind(&parts[2])
    .bind(&parts[3])
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_key_used_over_http_replays_for_the_same_command_run_directly(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let owner = user();
    let (_, board) = app.board(owner).await;
    let item = app.item(owner, board, "Before").await;
    let path = format!("/v1/items/{item}");
    let first = app.send_with(Method::PUT, &path, Some(owner), Some(json!({"name": "After"})), &[("idempotency-key", "k")]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let commands = AppState::new(Config::default(), PgEventStore::new(pool)).commands;
    let rename = |name: &str| Command::Item {
        id: Some(item),
        board_id: None,
        cmd: ItemCommand::Update { name: Some(name.into()), description: None, item_data: Default::default() },
    };
    let keyed = || Preconditions { idempotency_key: Some("k".into()), ..Preconditions::default() };
    let before = app.event_count().await;
    let again = commands.run(owner, rename("After"), keyed()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(again.replayed);
    assert_eq!((again.version as i64, again.position), (first.version(), first.position()));
    assert_eq!(app.event_count().await, before);
    let other = commands.run(owner, rename("Else"), keyed()).await;
    assert!(other.is_err(), "another command under the same key is refused");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_key_stored_with_the_old_fingerprint_still_replays(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let owner = user();
    let (_, board) = app.board(owner).await;
    let body = json!({"boardId": board, "name": "Once"});
    let first = app.send_with(Method::POST, "/v1/items", Some(owner), Some(body.clone()), &[("idempotency-key", "old")]).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let old = legacy_hash(&pool, owner, "POST", "/v1/items", &body).await;
    sqlx::query("UPDATE idempotency_keys SET request_hash = $1 WHERE key = 'old'")
        .bind(&old)
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let before = app.event_count().await;
    let again = app.send_with(Method::POST, "/v1/items", Some(owner), Some(body), &[("idempotency-key", "old")]).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body));
    assert_eq!(again.header("idempotency-replayed"), "true");
    assert_eq!(app.event_count().await, before);
    let other = app
        .send_with(Method::POST, "/v1/items", Some(owner), Some(json!({"boardId": board, "name": "Twice"})), &[("idempotency-key", "old")])
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", other.body);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_create_recorded_with_the_old_fingerprint_replays_when_re_sent(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let owner = user();
    let id = Uuid::now_v7();
    let body = json!({"id": id, "name": "Team"});
    let first = app.send(Method::POST, "/v1/workspaces", Some(owner), Some(body.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let old = legacy_hash(&pool, owner, "POST", "/v1/workspaces", &body).await;
    sqlx::query("UPDATE events SET metadata = jsonb_set(metadata, '{commandHash}', to_jsonb($1::text)) WHERE stream_id = $2")
        .bind(&old)
        .bind(format!("workspace-{id}"))
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A fresh instance, whose cache holds nothing of the first run.
    let fresh = TestApp::new(pool);
    let before = fresh.event_count().await;
    let again = fresh.send(Method::POST, "/v1/workspaces", Some(owner), Some(body)).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body));
    assert_eq!(again.header("idempotency-replayed"), "", "a re-sent create is not an Idempotency-Key replay");
    assert_eq!(fresh.event_count().await, before);
    let other = fresh.send(Method::POST, "/v1/workspaces", Some(owner), Some(json!({"id": id, "name": "Other"}))).await;
    assert_eq!(other.status, StatusCode::CONFLICT, "{}", other.body);
}
