//! Two command-API instances over one database, as two processes would run:
//! a change made through one is respected by the other's next decision, warm
//! caches notwithstanding.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, user};

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_member_removed_through_one_instance_cannot_write_through_another(pool: PgPool) {
    let a = TestApp::new(pool.clone());
    let b = TestApp::deaf(pool);
    let (owner, editor) = (user(), user());
    let (ws, board) = a.board(owner).await;
    a.join(owner, ws, board, editor, "member", "editor").await;
    let item = a.item(owner, board, "Shared").await;
    // Warm instance b's caches with a write by the editor.
    b.ok(Method::PUT, &format!("/v1/items/{item}"), editor, Some(json!({"name": "via b"})), StatusCode::OK).await;
    a.ok(Method::DELETE, &format!("/v1/boards/{board}/members/{editor}"), owner, None, StatusCode::OK).await;
    let before = a.event_count().await;
    let r = b.send(Method::PUT, &format!("/v1/items/{item}"), Some(editor), Some(json!({"name": "sneaky"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(b.event_count().await, before);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn interleaved_writes_through_two_instances_keep_every_change(pool: PgPool) {
    let a = TestApp::deaf(pool.clone());
    let b = TestApp::deaf(pool);
    let owner = user();
    let (_, board) = a.board(owner).await;
    let item = a.item(owner, board, "Ping-pong").await;
    for round in 0..10 {
        let via = if round % 2 == 0 { &a } else { &b };
        let r =
            via.ok(Method::PUT, &format!("/v1/items/{item}"), owner, Some(json!({"name": format!("round {round}")})), StatusCode::OK).await;
        assert_eq!(r.version(), round + 2);
    }
    let col = b
        .ok(
            Method::POST,
            &format!("/v1/boards/{board}/columns"),
            owner,
            Some(json!({"key": "notes", "title": "Notes", "type": "text"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(col.version(), 2);
    // Instance a has not seen the column yet, but decides against it anyway.
    a.ok(Method::PUT, &format!("/v1/items/{item}"), owner, Some(json!({"itemData": {"notes": "hello"}})), StatusCode::OK).await;
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_no_op_is_confirmed_against_the_log(pool: PgPool) {
    let a = TestApp::deaf(pool.clone());
    let b = TestApp::deaf(pool);
    let (owner, mate) = (user(), user());
    let (ws, board) = a.board(owner).await;
    a.join(owner, ws, board, mate, "member", "editor").await;
    let item = a.item(owner, board, "Task").await;
    let assign = format!("/v1/items/{item}/assignees");
    b.ok(Method::POST, &assign, owner, Some(json!({"userId": mate})), StatusCode::OK).await;
    a.ok(Method::DELETE, &format!("{assign}/{mate}"), owner, None, StatusCode::OK).await;
    // b's cache still shows the assignment; re-assigning must not be taken for a no-op.
    let r = b.ok(Method::POST, &assign, owner, Some(json!({"userId": mate})), StatusCode::OK).await;
    assert_eq!(r.version(), 4);
}
