//! The real binary's `/metrics` serves every metric the Prometheus rules and
//! the Grafana dashboard in `ops/` query, once the system has done some work
//! (a command, a read, a WebSocket delivery).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use common::*;

/// Metric names in PromQL expressions (histogram suffixes dropped).
fn names_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in expr.match_indices("sunday_") {
        if i > 0 && expr[..i].ends_with(':') {
            continue; // a recording rule's own name (sunday:...)
        }
        let name: String = expr[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let base = ["_bucket", "_sum", "_count"].iter().fold(name.clone(), |n, s| n.strip_suffix(s).map_or(n.clone(), str::to_owned));
        names.insert(base);
    }
    names
}

fn queried_metrics() -> BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = BTreeSet::new();
    for file in ["ops/prometheus/sunday_recording_rules.yml", "ops/prometheus/sunday_alerts.yml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        for line in
            text.lines().filter(|l| !l.trim_start().starts_with('#') && !["record:", "alert:", "name:"].iter().any(|k| l.contains(k)))
        {
            names.extend(names_in(line));
        }
    }
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(root.join("ops/grafana/sunday-dashboard.json")).unwrap_or_default())
        .unwrap_or_default();
    for panel in dash["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            names.extend(names_in(target["expr"].as_str().unwrap_or("")));
        }
    }
    names
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn metrics_serve_everything_the_rules_and_dashboard_query(pool: PgPool) {
    let wanted = queried_metrics();
    assert!(wanted.len() >= 12, "found the queried metrics: {wanted:?}");
    let addr = free_addr();
    let _server = Running(start(&pool, addr));
    wait_ready(addr).await;
    let owner = Uuid::now_v7();
    let mut http = Http::connect(addr, owner).await.unwrap_or_else(|| panic!("connect"));
    let ws = http.send(Method::POST, "/v1/workspaces", Some(json!({"name": "W"}))).await.unwrap_or_else(|| panic!("workspace")).1;
    let board = http.send(Method::POST, "/v1/boards", Some(json!({"workspaceId": ws["data"]["id"], "name": "B"}))).await;
    let board = board.unwrap_or_else(|| panic!("board")).1["data"]["id"].as_str().unwrap_or_default().to_owned();
    // A webhook, so that its dispatcher has something to report (it points
    // at a documentation address: its deliveries fail, which is reported too).
    let hooks = format!("/v1/workspaces/{}/webhooks", ws["data"]["id"].as_str().unwrap_or_default());
    let made = http.send(Method::POST, &hooks, Some(json!({"url": "http://93.184.216.34/hooks"}))).await;
    assert_eq!(made.map(|r| r.0), Some(StatusCode::CREATED));
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws?token={}", token(owner))).await.unwrap_or_else(|e| panic!("{e}"));
    socket
        .send(Message::text(json!({"event": "join-board", "data": {"boardId": board}}).to_string()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut next_event = async |name: &str| {
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            if let Message::Text(t) = m
                && serde_json::from_str::<Value>(t.as_str()).is_ok_and(|f| f["event"] == name)
            {
                return true;
            }
        }
        false
    };
    assert!(next_event("board-state").await, "joined");
    http.send(Method::POST, "/v1/items", Some(json!({"boardId": board, "name": "i"}))).await;
    assert!(next_event("events").await, "the socket got the item's event");
    let _ = http.send(Method::GET, &format!("/v1/boards/{board}"), None).await;

    // Scraped until everything is there (the dispatcher reports a webhook
    // once it has scanned its creation), for at most ten seconds.
    let started = std::time::Instant::now();
    let (text, missing) = loop {
        let mut scraper = Http::connect(addr, owner).await.unwrap_or_else(|| panic!("connect"));
        let req = hyper::Request::get("/metrics").header("host", "sunday").body(http_body_util::Full::new(hyper::body::Bytes::new()));
        let resp = scraper.raw(req.unwrap_or_else(|e| panic!("{e}"))).await;
        let Some((StatusCode::OK, text)) = resp else { continue };
        let served: BTreeSet<String> =
            text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).flat_map(names_in).collect();
        let missing: Vec<String> = wanted.difference(&served).cloned().collect();
        if missing.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break (text, missing);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(missing.is_empty(), "queried but not served: {missing:?}\n{text}");
}
