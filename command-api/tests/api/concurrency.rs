//! Many writers on one item: no lost update, no gap in the stream.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, user};

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn sixty_four_concurrent_updates_of_one_item_all_land(pool: PgPool) {
    let app = Arc::new(TestApp::new(pool));
    let owner = user();
    let ws = app.workspace(owner).await;
    let columns: Vec<Value> = (0..64).map(|i| json!({"key": format!("c{i}"), "title": format!("C{i}"), "type": "text"})).collect();
    let body = json!({"workspaceId": ws, "name": "Wide", "columns": columns});
    let board = app.ok(Method::POST, "/v1/boards", owner, Some(body), StatusCode::CREATED).await.id();
    let item = app.item(owner, board, "Hot").await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let body = json!({"itemData": {format!("c{i}"): format!("v{i}")}});
                app.send(Method::PUT, &format!("/v1/items/{item}"), Some(owner), Some(body)).await
            })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap_or_else(|e| panic!("task failed: {e}"));
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let versions: Vec<i64> = sqlx::query_scalar("SELECT stream_version FROM events WHERE stream_id = $1 ORDER BY stream_version")
        .bind(format!("item-{item}"))
        .fetch_all(&app.pool)
        .await
        .unwrap_or_default();
    assert_eq!(versions, (1..=65).collect::<Vec<i64>>());
    let updates: Vec<Value> = sqlx::query_scalar("SELECT data->'itemData' FROM events WHERE stream_id = $1 AND event_type = 'ItemUpdated'")
        .bind(format!("item-{item}"))
        .fetch_all(&app.pool)
        .await
        .unwrap_or_default();
    let mut keys: Vec<String> = updates.iter().flat_map(|u| u.as_object().into_iter().flat_map(|o| o.keys().cloned())).collect();
    keys.sort();
    let mut expected: Vec<String> = (0..64).map(|i| format!("c{i}")).collect();
    expected.sort();
    assert_eq!(keys, expected, "every column's change is in the log");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn many_writers_on_one_board_while_its_columns_change(pool: PgPool) {
    let app = Arc::new(TestApp::new(pool));
    let owner = user();
    let (_, board) = app.board(owner).await;
    let creators: Vec<_> = (0..48)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.send(Method::POST, "/v1/items", Some(owner), Some(json!({"boardId": board, "name": format!("n{i}")}))).await
            })
        })
        .collect();
    let columns = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..5 {
                let body = json!({"key": format!("extra{i}"), "title": "Extra", "type": "text"});
                statuses.push(app.send(Method::POST, &format!("/v1/boards/{board}/columns"), Some(owner), Some(body)).await.status);
            }
            statuses
        })
    };
    for c in creators {
        let r = c.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    assert!(columns.await.unwrap_or_default().iter().all(|s| *s == StatusCode::OK));
    let ranks: Vec<String> = sqlx::query_scalar("SELECT data->>'rank' FROM events WHERE event_type = 'ItemCreated' AND board_id = $1")
        .bind(board)
        .fetch_all(&app.pool)
        .await
        .unwrap_or_default();
    let distinct: std::collections::HashSet<&String> = ranks.iter().collect();
    assert_eq!((ranks.len(), distinct.len()), (48, 48), "every item created once, ranks unique");
    let board_versions: Vec<i64> = sqlx::query_scalar("SELECT stream_version FROM events WHERE stream_id = $1 ORDER BY 1")
        .bind(format!("board-{board}"))
        .fetch_all(&app.pool)
        .await
        .unwrap_or_default();
    assert_eq!(board_versions, (1..=6).collect::<Vec<i64>>());
}
