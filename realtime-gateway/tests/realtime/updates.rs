//! `optimistic-update` through the command path.

use axum::http::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn an_update_is_acknowledged_and_a_stale_one_is_rejected_with_the_current_item(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let item = id(&sys.item(owner, board, "draft").await);
    let mut c = Client::connect(sys.addr, owner).await;
    c.join(board).await;
    let update = |update_id: &str, base: u64, name: &str| json!({"updateId": update_id, "type": "item_update", "data": {"itemId": item, "baseVersion": base, "changes": {"name": name}}});
    c.send("optimistic-update", update("u1", 1, "first")).await;
    let ack = c.expect("update-ack").await;
    assert_eq!(ack["data"]["updateId"], "u1");
    assert_eq!(ack["data"]["version"], 2);
    assert!(ack["data"]["position"].as_i64().is_some());

    // Someone else writes; our next update still names version 2.
    sys.command(Method::PUT, &format!("/v1/items/{item}"), owner, json!({"name": "theirs"})).await;
    c.send("optimistic-update", update("u2", 2, "mine")).await;
    let rejected = c.expect("update-rejected").await;
    assert_eq!(rejected["data"]["updateId"], "u2");
    assert_eq!(rejected["data"]["status"], 409);
    assert_eq!(rejected["data"]["current"]["name"], "theirs", "{rejected}");
    assert_eq!(rejected["data"]["current"]["version"], 3);

    c.send(
        "optimistic-update",
        json!({"updateId": "u3", "type": "item_update", "data": {"itemId": item, "changes": {"itemData": {"nope": 1}}}}),
    )
    .await;
    let invalid = c.expect("update-rejected").await;
    assert_eq!(invalid["data"]["status"], 422, "{invalid}");
    assert_eq!(invalid["data"]["current"]["version"], 3);

    let viewer = user();
    c.send("optimistic-update", json!({"updateId": "u4", "type": "nonsense", "data": {"itemId": item, "changes": {}}})).await;
    assert_eq!(c.expect("update-rejected").await["data"]["status"], 400);
    let mut stranger = Client::connect(sys.addr, viewer).await;
    stranger.send("optimistic-update", update("u5", 3, "hijack")).await;
    let refused = stranger.expect("update-rejected").await;
    assert_eq!(refused["data"]["status"], 404);
    assert!(refused["data"]["current"].is_null(), "nothing about an item one may not read");
}
