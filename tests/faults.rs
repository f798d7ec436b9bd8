//! The real binary rides out its dependencies' failures: PostgreSQL crashes
//! and comes back (every connection cut), and every role recovers on its
//! own: commands are acknowledged again, the projector (restarted by its
//! supervisor) catches up, read-your-writes answers again, and nothing
//! acknowledged is lost or doubled. `/readyz` says which task is down while
//! it is.

mod common;

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;
use sunday_testkit::postgres::Cluster;
use uuid::Uuid;

use common::*;

/// Creates items on `board` until `n` are acknowledged; their ids.
async fn items(http: &mut Http, board: &serde_json::Value, n: usize) -> Vec<Uuid> {
    let mut acked = Vec::new();
    while acked.len() < n {
        let id = Uuid::now_v7();
        if let Some((StatusCode::CREATED, _)) =
            http.send(Method::POST, "/v1/items", Some(json!({"id": id, "boardId": board, "name": "kept"}))).await
        {
            acked.push(id);
        }
    }
    acked
}

/// A connection of `owner`, who creates a workspace and a board in it.
async fn owner_and_board(addr: std::net::SocketAddr, owner: Uuid) -> (Http, serde_json::Value) {
    let mut http = Http::connect(addr, owner).await.unwrap_or_else(|| panic!("connect"));
    let ws = http.send(Method::POST, "/v1/workspaces", Some(json!({"name": "W"}))).await.unwrap_or_else(|| panic!("workspace")).1;
    let board = http
        .send(Method::POST, "/v1/boards", Some(json!({"workspaceId": ws["data"]["id"], "name": "B"})))
        .await
        .unwrap_or_else(|| panic!("board"))
        .1;
    (http, board["data"]["id"].clone())
}

#[tokio::test]
async fn a_postgres_crash_is_ridden_out_by_every_role() {
    let pg = Cluster::primary();
    let addr = free_addr();
    let _server = Running(start_on(&pg.url(), "all", addr, &[]));
    wait_ready(addr).await;
    let owner = Uuid::now_v7();
    let (mut http, board) = owner_and_board(addr, owner).await;
    let mut acked = items(&mut http, &board, 20).await;

    pg.crash();
    let (status, _) =
        http.send(Method::POST, "/v1/items", Some(json!({"boardId": board, "name": "lost?"}))).await.unwrap_or_else(|| panic!("no answer"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a command while the database is down is a 503 to retry");
    let mut down = None;
    for _ in 0..50 {
        if let Some((StatusCode::SERVICE_UNAVAILABLE, body)) = readyz(addr).await {
            down = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let down = down.unwrap_or_else(|| panic!("/readyz stayed 200 with the database down"));
    assert_eq!(down["checks"]["database"], false, "{down}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.start();

    let Some(recovered) = ready_within(addr, Duration::from_secs(60)).await else {
        panic!("never ready again: {:?}", readyz(addr).await);
    };
    eprintln!("ready again {:?} after the restart", recovered);
    let t = std::time::Instant::now();
    acked.extend(items(&mut http, &board, 20).await);
    eprintln!("20 items in {:?}", t.elapsed());
    let (_, last) =
        http.send(Method::POST, "/v1/items", Some(json!({"boardId": board, "name": "last"}))).await.unwrap_or_else(|| panic!("last"));
    let position = last["data"]["position"].as_i64().unwrap_or_default();
    let req = hyper::Request::get(format!("/v1/boards/{}", board.as_str().unwrap_or_default()))
        .header("host", "sunday")
        .header("authorization", format!("Bearer {}", http.token()))
        .header("x-sunday-min-position", position.to_string())
        .body(http_body_util::Full::new(hyper::body::Bytes::new()))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, text) = http.raw(req).await.unwrap_or_else(|| panic!("read"));
    if status != StatusCode::OK {
        for _ in 0..10 {
            let m = http
                .raw(hyper::Request::get("/metrics").header("host", "sunday").body(Default::default()).unwrap_or_default())
                .await
                .unwrap_or_default()
                .1;
            eprintln!(
                "{:?} {}",
                readyz(addr).await,
                m.lines().filter(|l| l.contains("lag") || l.contains("task")).collect::<Vec<_>>().join(" | ")
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    assert_eq!(status, StatusCode::OK, "read-your-writes answers again: {text}");
    let read: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(read["data"]["itemCount"], 41, "the projector caught up: {read}");

    let metrics = http
        .raw(hyper::Request::get("/metrics").header("host", "sunday").body(Default::default()).unwrap_or_default())
        .await
        .unwrap_or_default()
        .1;
    let restarts: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("sunday_task_restarts_total{task=\"projector\"}"))
        .filter_map(|l| l.split(' ').nth(1)?.parse::<u64>().ok())
        .sum();
    assert!(restarts >= 1, "the projector failed and was started again: {metrics}");
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&pg.url()).await.unwrap_or_else(|e| panic!("{e}"));
    let kept: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT (data->>'itemId')::uuid, count(*) FROM events WHERE event_type = 'ItemCreated' GROUP BY 1")
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
    for id in &acked {
        assert_eq!(kept.iter().find(|(k, _)| k == id).map(|(_, n)| *n), Some(1), "acknowledged item {id} is in the log exactly once");
    }
}

#[tokio::test]
async fn a_dump_restored_into_a_fresh_cluster_keeps_writing_and_projecting() {
    // The first cluster has lived a while: its transaction ids are high.
    let old = Cluster::primary();
    old.psql("postgres", "CREATE DATABASE sunday");
    old.burn_transaction_ids("sunday", 30_000);
    let addr = free_addr();
    let server = Running(start_on(&old.url_of("sunday"), "all", addr, &[]));
    wait_ready(addr).await;
    let owner = Uuid::now_v7();
    let (mut http, board) = owner_and_board(addr, owner).await;
    let before = items(&mut http, &board, 10).await;
    let (_, answer) = http
        .send(Method::PATCH, &format!("/v1/boards/{}", board.as_str().unwrap_or_default()), Some(json!({"name": "B2"})))
        .await
        .unwrap_or_else(|| panic!("rename"));
    let read = read_board(&mut http, &board, answer["data"]["position"].as_i64()).await;
    assert_eq!(read["data"]["itemCount"], 10);
    drop(server);

    // Restored into a new cluster, whose transaction ids start low again.
    let dump = sunday_testkit::postgres::scratch("dump").join("sunday.dump");
    old.dump("sunday", &dump);
    let new = Cluster::primary();
    new.restore("sunday", &dump);
    drop(old);
    let addr = free_addr();
    let _server = Running(start_on(&new.url_of("sunday"), "all", addr, &[]));
    wait_ready(addr).await;
    let mut http = Http::connect(addr, owner).await.unwrap_or_else(|| panic!("connect"));
    let after = items(&mut http, &board, 10).await;
    let (_, answer) =
        http.send(Method::POST, "/v1/items", Some(json!({"boardId": board, "name": "last"}))).await.unwrap_or_else(|| panic!("last"));
    let position = answer["data"]["position"].as_i64().unwrap_or_default();
    let read = read_board(&mut http, &board, Some(position)).await;
    assert_eq!(read["data"]["itemCount"], 21, "events written after the restore are projected: {read}");
    let pool =
        sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&new.url_of("sunday")).await.unwrap_or_else(|e| panic!("{e}"));
    let positions: Vec<i64> =
        sqlx::query_scalar("SELECT position FROM events ORDER BY occurred_at, position").fetch_all(&pool).await.unwrap_or_default();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions kept growing across the restore");
    assert_eq!(before.len() + after.len(), 20);
}

/// `GET /v1/boards/{id}`, waiting for `position` when given.
async fn read_board(http: &mut Http, board: &serde_json::Value, position: Option<i64>) -> serde_json::Value {
    let mut req = hyper::Request::get(format!("/v1/boards/{}", board.as_str().unwrap_or_default()))
        .header("host", "sunday")
        .header("authorization", format!("Bearer {}", http.token()));
    if let Some(p) = position {
        req = req.header("x-sunday-min-position", p.to_string());
    }
    let req = req.body(http_body_util::Full::new(hyper::body::Bytes::new())).unwrap_or_else(|e| panic!("{e}"));
    let (status, text) = http.raw(req).await.unwrap_or_else(|| panic!("read"));
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap_or_default()
}
