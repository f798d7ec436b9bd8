//! Guards hold under concurrency: a decision that read another stream (the
//! workspace's or the board's membership) is never logged after an append to
//! that stream it did not see. Raced through two instances, one of them deaf
//! to the other's appends, so only the store's guards keep the log right.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, user};

/// Rounds of the race; each removes one member while they write.
const ROUNDS: usize = 200;
/// The member's concurrent writers per round, each on its own item.
const WRITERS: usize = 4;

/// Writes as `member` until refused; answers how many writes were accepted.
async fn write_until_refused(app: Arc<TestApp>, member: Uuid, item: Uuid) -> usize {
    for n in 0..500 {
        let body = json!({"name": format!("w{n}")});
        let r = app.send(Method::PUT, &format!("/v1/items/{item}"), Some(member), Some(body)).await;
        match r.status {
            // 503: the pool was exhausted on a loaded machine; try again.
            StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE => {}
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => return n,
            other => panic!("a write during a removal answered {other}: {}", r.body),
        }
    }
    panic!("the member was never refused")
}

/// Events by a removed user logged after their removal, in log order.
async fn writes_after_removal(pool: &PgPool) -> Vec<(String, i64, i64)> {
    sqlx::query_as(
        "SELECT e.event_type, e.position, r.position FROM events r JOIN events e \
           ON e.metadata->>'actorId' = r.data->>'userId' AND e.position > r.position \
         WHERE r.event_type IN ('WorkspaceMemberRemoved', 'BoardMemberRemoved') \
         ORDER BY e.position",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn no_write_by_a_member_is_logged_after_their_removal(pool: PgPool) {
    let writer = Arc::new(TestApp::deaf(pool.clone()));
    let remover = TestApp::new(pool.clone());
    let owner = user();
    let (ws, board) = remover.board(owner).await;
    let mut items = Vec::new();
    for i in 0..WRITERS {
        items.push(remover.item(owner, board, &format!("i{i}")).await);
    }
    let mut accepted = 0;
    for round in 0..ROUNDS {
        let member = user();
        remover.join(owner, ws, board, member, "member", "editor").await;
        let writers: Vec<_> = items.iter().map(|&item| tokio::spawn(write_until_refused(writer.clone(), member, item))).collect();
        tokio::task::yield_now().await;
        let path =
            if round % 2 == 0 { format!("/v1/workspaces/{ws}/members/{member}") } else { format!("/v1/boards/{board}/members/{member}") };
        remover.ok(Method::DELETE, &path, owner, None, StatusCode::OK).await;
        for w in writers {
            accepted += w.await.unwrap_or_else(|e| panic!("writer failed: {e}"));
        }
    }
    assert!(accepted > 0, "the member's writes raced the removals");
    let late = writes_after_removal(&pool).await;
    assert!(late.is_empty(), "{} writes logged after their author's removal (type, position, removal position): {late:?}", late.len());
}
