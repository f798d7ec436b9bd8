//! Graceful shutdown of the real binary: `sunday all` under a steady stream of
//! commands and with a joined WebSocket gets SIGTERM (or SIGINT, as Ctrl-C
//! sends). Every command it acknowledged is in the log, none failed with a
//! 5xx, the socket is closed with 1001, the process exits cleanly, and a
//! restarted process finds its checkpoints consistent and catches up.

mod common;

use std::net::SocketAddr;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use common::*;

async fn wait_exit(mut child: Child) -> std::process::ExitStatus {
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    panic!("sunday did not stop within 30 s");
}

/// Writes items until the server goes away; the ids it acknowledged, and any 5xx.
async fn writer(addr: SocketAddr, owner: Uuid, board: Uuid, stop: Arc<AtomicBool>) -> (Vec<Uuid>, Vec<Value>) {
    let (mut acked, mut failures) = (Vec::new(), Vec::new());
    let Some(mut c) = Http::connect(addr, owner).await else { return (acked, failures) };
    while !stop.load(Ordering::Relaxed) {
        let id = Uuid::now_v7();
        match c.send(Method::POST, "/v1/items", Some(json!({"id": id, "boardId": board, "name": "during shutdown"}))).await {
            Some((StatusCode::CREATED, _)) => acked.push(id),
            Some((status, body)) if status.is_server_error() => failures.push(body),
            Some(_) => {}
            None => break,
        }
    }
    (acked, failures)
}

async fn stops_gracefully(pool: PgPool, signal_name: &str) {
    let addr = free_addr();
    let child = start(&pool, addr);
    wait_ready(addr).await;
    let owner = Uuid::now_v7();
    let mut http = Http::connect(addr, owner).await.unwrap_or_else(|| panic!("connect"));
    let ws = http.send(Method::POST, "/v1/workspaces", Some(json!({"name": "W"}))).await.unwrap_or_else(|| panic!("workspace"));
    let ws = ws.1["data"]["id"].clone();
    let board =
        http.send(Method::POST, "/v1/boards", Some(json!({"workspaceId": ws, "name": "B"}))).await.unwrap_or_else(|| panic!("board"));
    let board = Uuid::parse_str(board.1["data"]["id"].as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));

    let url = format!("ws://{addr}/v1/ws?token={}", token(owner));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap_or_else(|e| panic!("{e}"));
    socket
        .send(Message::text(json!({"event": "join-board", "data": {"boardId": board}}).to_string()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8).map(|_| tokio::spawn(writer(addr, owner, board, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&child, signal_name);

    let mut close_code = None;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
        if let Message::Close(frame) = m {
            close_code = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    assert_eq!(close_code, Some(1001), "sockets are closed with Going Away");
    let status = wait_exit(child).await;
    assert!(status.success(), "a clean exit: {status}");
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        let (ids, failures) = w.await.unwrap_or_default();
        assert!(failures.is_empty(), "no command failed with a 5xx: {failures:?}");
        acked.extend(ids);
    }
    assert!(!acked.is_empty(), "commands were acknowledged before the signal");

    let streams: Vec<String> = acked.iter().map(|id| format!("item-{id}")).collect();
    let found: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id = ANY($1)").bind(&streams).fetch_one(&pool).await.unwrap_or(0);
    assert_eq!(found, acked.len() as i64, "every acknowledged command is in the log");

    // A restarted process picks up from consistent checkpoints and catches up.
    let head: i64 = sqlx::query_scalar("SELECT max(position) FROM events").fetch_one(&pool).await.unwrap_or(0);
    let child = start(&pool, addr);
    wait_ready(addr).await;
    let mut http = Http::connect(addr, owner).await.unwrap_or_else(|| panic!("connect"));
    let created: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE board_id = $1 AND event_type = 'ItemCreated'")
        .bind(board)
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
    let mut item_count = None;
    for _ in 0..100 {
        let req = http.send(Method::GET, &format!("/v1/boards/{board}"), None).await;
        if let Some((StatusCode::OK, body)) = req
            && body["data"]["itemCount"].as_i64() == Some(created)
        {
            item_count = Some(created);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(item_count, Some(created), "the read models caught up with the log (head {head})");
    signal(&child, "TERM");
    assert!(wait_exit(child).await.success());
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn sigterm_finishes_in_flight_commands_and_closes_sockets_with_1001(pool: PgPool) {
    stops_gracefully(pool, "TERM").await;
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn ctrl_c_stops_the_same_way(pool: PgPool) {
    stops_gracefully(pool, "INT").await;
}
