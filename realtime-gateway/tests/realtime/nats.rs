//! The gateway fed by JetStream: the publisher runs, and gateways in two
//! "processes" each deliver to their own sockets.

use std::time::Duration;

use axum::http::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn two_gateway_instances_on_nats_each_deliver_to_their_own_sockets(pool: PgPool) {
    let (client, prefix) = nats().await;
    let sys = System::with_nats(&pool, client, &prefix).await;
    let (second_client, _) = nats().await;
    let (second, second_addr) = sys.second_gateway(second_client, &prefix).await;
    let owner = user();
    let (ws, board) = sys.board(owner).await;
    let mut here = Client::connect(sys.addr, owner).await;
    let mut there = Client::connect(second_addr, owner).await;
    here.join(board).await;
    there.join(board).await;
    let mut sent = Vec::new();
    for n in 0..10 {
        sent.push(sys.item(owner, board, &format!("n{n}")).await["position"].as_i64().unwrap_or_default());
    }
    assert_eq!(positions(&here.events(10).await), sent);
    assert_eq!(positions(&there.events(10).await), sent);
    assert_eq!(second.rooms_open(), 1, "the second gateway subscribed to the one board it has sockets for");

    // Membership changes reach rooms fed by NATS too.
    let member = user();
    sys.add_member(owner, ws, board, member).await;
    let mut guest = Client::connect(second_addr, member).await;
    guest.join(board).await;
    sys.command(Method::DELETE, &format!("/v1/workspaces/{ws}/members/{member}"), owner, json!(null)).await;
    assert_eq!(guest.expect("error").await["data"]["code"], "forbidden");
    sys.item(owner, board, "private").await;
    there.events(1).await;
    assert!(guest.collect("events", Duration::from_millis(300)).await.is_empty());
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_resume_over_nats_has_no_gap_and_no_duplicate(pool: PgPool) {
    let (client, prefix) = nats().await;
    let sys = System::with_nats(&pool, client, &prefix).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let mut c = Client::connect(sys.addr, owner).await;
    let state = c.join(board).await;
    let from = state["data"]["position"].as_i64().unwrap_or_default();
    drop(c);
    sys.resume_without_gap(owner, board, from, 30, 30).await;
}
