//! `sunday bench webhooks`: webhooks of one workspace pointing at a receiver
//! this process runs on loopback, commands at a steady rate, and for every
//! delivery the time from the event (its `occurredAt`, taken just before
//! its commit) until the receiver has it. Deliveries per second are the
//! commands' rate times the webhooks. The server must run with
//! `SUNDAY_WEBHOOK_ALLOW_PRIVATE=true`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use hyper::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::client::{Client, percentile_ms, token};

/// What to run.
#[derive(clap::Args, Clone, Debug)]
pub struct WebhookBench {
    /// The server to load (command API and webhook dispatcher).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) target: SocketAddr,
    /// Webhooks, each getting every event.
    #[arg(long, default_value_t = 100)]
    pub(crate) webhooks: usize,
    /// Boards the commands are spread over.
    #[arg(long, default_value_t = 10)]
    pub(crate) boards: usize,
    /// Commands per second (each is one event, delivered to every webhook).
    #[arg(long, default_value_t = 10)]
    pub(crate) rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
}

#[derive(Default)]
struct Received {
    latencies_us: Vec<u32>,
    last: Option<Instant>,
    seen: HashSet<(String, String)>,
    doubled: usize,
}

type Shared = Arc<Mutex<Received>>;

async fn receive(State(got): State<Shared>, Path(hook): Path<String>, headers: axum::http::HeaderMap, body: Bytes) -> StatusCode {
    let now = chrono::Utc::now();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let at = v["timestamp"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let id = headers.get("webhook-id").and_then(|h| h.to_str().ok()).unwrap_or_default().to_owned();
    let mut r = got.lock().unwrap_or_else(|p| p.into_inner());
    if !r.seen.insert((hook, id)) {
        r.doubled += 1;
        return StatusCode::OK;
    }
    r.last = Some(Instant::now());
    if let Some(at) = at {
        let us = (now - at.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0);
        r.latencies_us.push(u32::try_from(us.max(0)).unwrap_or(u32::MAX));
    }
    StatusCode::OK
}

pub(crate) async fn run(bench: &WebhookBench, secret: &str) -> anyhow::Result<()> {
    let got: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route("/hooks/{n}", axum::routing::post(receive)).with_state(got.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let token = token(secret, Uuid::now_v7(), None);
    let mut c = Client::connect(bench.target, &token).await?;
    let ws = c.create("/v1/workspaces", json!({"name": "webhook bench"})).await?;
    let mut boards = Vec::new();
    for b in 0..bench.boards.max(1) {
        boards.push(c.create("/v1/boards", json!({"workspaceId": ws, "name": format!("bench {b}")})).await?);
    }
    for n in 0..bench.webhooks {
        c.create(&format!("/v1/workspaces/{ws}/webhooks"), json!({"url": format!("http://{addr}/hooks/{n}")})).await?;
    }
    let period = Duration::from_secs_f64(1.0 / bench.rate.max(1) as f64);
    let duration = Duration::from_secs(bench.seconds.max(1));
    let started = Instant::now();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = 0u64;
    let mut writers = Vec::new();
    while started.elapsed() < duration {
        tick.tick().await;
        let board = boards[usize::try_from(sent).unwrap_or(0) % boards.len()];
        let mut w = Client::connect(bench.target, &token).await?;
        writers.push(tokio::spawn(async move { w.create("/v1/items", json!({"boardId": board, "name": "hooked"})).await.is_ok() }));
        sent += 1;
    }
    let mut acked = 0u64;
    for w in writers {
        acked += u64::from(w.await.unwrap_or(false));
    }
    let sending = started.elapsed();
    let expected = acked * bench.webhooks as u64;
    let grace = Instant::now();
    while grace.elapsed() < Duration::from_secs(30) && (got.lock().unwrap_or_else(|p| p.into_inner()).latencies_us.len() as u64) < expected
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = got.lock().unwrap_or_else(|p| p.into_inner());
    let mut l = r.latencies_us.clone();
    l.sort_unstable();
    let delivered = l.len() as u64;
    println!("| webhooks | commands/s | deliveries/s | delivered | lost | doubled | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {:.0} | {:.0} | {delivered} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        bench.webhooks,
        acked as f64 / sending.as_secs_f64(),
        delivered as f64 / r.last.map_or(sending, |t| t - started).as_secs_f64(),
        expected.saturating_sub(delivered),
        r.doubled,
        percentile_ms(&l, 50.0),
        percentile_ms(&l, 95.0),
        percentile_ms(&l, 99.0),
        f64::from(l.last().copied().unwrap_or(0)) / 1000.0
    );
    Ok(())
}
