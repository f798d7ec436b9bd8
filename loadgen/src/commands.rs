//! `sunday bench commands`: a load generator that drives single-event commands
//! through the HTTP API at several concurrency levels and reports throughput and
//! latency percentiles.
//!
//! Each virtual client holds one keep-alive connection and updates an item of
//! its own (one `ItemUpdated` event per request); items are spread over several
//! boards. Latencies are kept exactly (microseconds) and sorted for percentiles.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::Method;
use serde_json::json;
use uuid::Uuid;

use crate::client::{Client, token};
use crate::level::{Level, MakeRequest, drive, print_row};

/// What to run.
#[derive(clap::Args, Clone, Debug)]
pub struct CommandBench {
    /// The server to load.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) target: SocketAddr,
    /// Concurrency levels, run one after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    pub(crate) clients: Vec<usize>,
    /// Seconds per level (the first tenth is warm-up, not counted).
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Boards the clients' items are spread over.
    #[arg(long, default_value_t = 8)]
    pub(crate) boards: usize,
}

/// Runs the benchmark and prints a Markdown table.
pub(crate) async fn run(bench: &CommandBench, secret: &str) -> anyhow::Result<()> {
    let token = token(secret, Uuid::now_v7(), Some("bench"));
    let most = bench.clients.iter().copied().max().unwrap_or(1);
    let items = setup(bench, &token, most).await?;
    println!("| clients | commands/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &clients in &bench.clients {
        let level = run_level(bench, &token, &items[..clients]).await?;
        print_row(None, &level);
    }
    Ok(())
}

/// A workspace, `boards` boards with a text column, and one item per client.
pub(crate) async fn setup(bench: &CommandBench, token: &str, items: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut c = Client::connect(bench.target, token).await?;
    let ws = c.create("/v1/workspaces", json!({"name": "bench"})).await?;
    let mut boards = Vec::new();
    for b in 0..bench.boards.max(1) {
        let columns = json!([{"key": "note", "title": "Note", "type": "text"}]);
        boards.push(c.create("/v1/boards", json!({"workspaceId": ws, "name": format!("bench {b}"), "columns": columns})).await?);
    }
    let mut ids = Vec::new();
    for i in 0..items {
        let board = boards[i % boards.len()];
        ids.push(c.create("/v1/items", json!({"boardId": board, "name": format!("item {i}")})).await?);
    }
    Ok(ids)
}

async fn run_level(bench: &CommandBench, token: &str, items: &[Uuid]) -> anyhow::Result<Level> {
    let targets: Vec<String> = items.iter().map(|i| format!("/v1/items/{i}")).collect();
    let put: MakeRequest = |_, n, path| (Method::PUT, path.to_owned(), Some(json!({"itemData": {"note": format!("v{n}")}})));
    drive(bench.target, token, &targets, Duration::from_secs(bench.seconds.max(1)), put).await
}
