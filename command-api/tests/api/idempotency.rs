//! `Idempotency-Key`: a replay returns the first answer and appends nothing.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, user};

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_replayed_key_returns_the_first_answer(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (_, board) = app.board(owner).await;
    let body = json!({"boardId": board, "name": "Once"});
    let first = app.send_with(Method::POST, "/v1/items", Some(owner), Some(body.clone()), &[("idempotency-key", "k-1")]).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let before = app.event_count().await;
    let again = app.send_with(Method::POST, "/v1/items", Some(owner), Some(body), &[("idempotency-key", "k-1")]).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(app.event_count().await, before);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn the_same_key_with_another_body_is_422(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (_, board) = app.board(owner).await;
    app.send_with(Method::POST, "/v1/items", Some(owner), Some(json!({"boardId": board, "name": "A"})), &[("idempotency-key", "k")]).await;
    let before = app.event_count().await;
    let r = app
        .send_with(Method::POST, "/v1/items", Some(owner), Some(json!({"boardId": board, "name": "B"})), &[("idempotency-key", "k")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(app.event_count().await, before);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn keys_belong_to_their_user(pool: PgPool) {
    let app = TestApp::new(pool);
    let (a, b) = (user(), user());
    let ra = app.send_with(Method::POST, "/v1/workspaces", Some(a), Some(json!({"name": "W"})), &[("idempotency-key", "same")]).await;
    let rb = app.send_with(Method::POST, "/v1/workspaces", Some(b), Some(json!({"name": "W"})), &[("idempotency-key", "same")]).await;
    assert_eq!((ra.status, rb.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(ra.id(), rb.id());
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn concurrent_requests_with_one_key_append_once(pool: PgPool) {
    let app = std::sync::Arc::new(TestApp::new(pool));
    let owner = user();
    let (_, board) = app.board(owner).await;
    let before = app.event_count().await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.send_with(
                    Method::POST,
                    "/v1/items",
                    Some(owner),
                    Some(json!({"boardId": board, "name": "Race"})),
                    &[("idempotency-key", "race")],
                )
                .await
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        let r = t.await.unwrap_or_else(|e| panic!("task failed: {e}"));
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        bodies.push(r.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every replay answers the same: {bodies:?}");
    assert_eq!(app.event_count().await, before + 1);
}
