//! `sunday bench reads`: cached board reads at many connections (closed loop,
//! then open loop at offered rates), then filtered item listings of a large
//! board: cached, and while the board changes 100 times a second (so that
//! most listings are loaded from the read models).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use hyper::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::client::{Client, token};
use crate::level::{MakeRequest, drive, drive_at_rate, print_row};

/// What to run.
#[derive(clap::Args, Clone, Debug)]
pub struct ReadBench {
    /// The server to load (it must run the query API and the projector).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) target: SocketAddr,
    /// Connections reading the board.
    #[arg(long, default_value_t = 256)]
    pub(crate) board_connections: usize,
    /// Connections listing items.
    #[arg(long, default_value_t = 32)]
    pub(crate) list_connections: usize,
    /// Items on the board.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) items: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Offered rates (requests/s over all board connections) for the open-loop
    /// runs of the cached board read, after the closed-loop one.
    #[arg(long, value_delimiter = ',', default_value = "20000,40000,60000")]
    pub(crate) board_rates: Vec<u64>,
}

/// Creates a board of `items` items (statuses and tags vary), waits until the
/// projection has them, then runs both read scenarios.
pub(crate) async fn run(bench: &ReadBench, secret: &str) -> anyhow::Result<()> {
    let token = token(secret, Uuid::now_v7(), Some("bench"));
    let mut c = Client::connect(bench.target, &token).await?;
    let ws = c.create("/v1/workspaces", json!({"name": "bench reads"})).await?;
    let board = c.create("/v1/boards", json!({"workspaceId": ws, "name": "big"})).await?;
    let statuses = ["To Do", "In Progress", "Done"];
    let mut last = 0;
    let mut items = Vec::new();
    for i in 0..bench.items {
        let body = json!({"boardId": board, "name": format!("task {i}"), "itemData": {"status": statuses[i % 3], "tags": [format!("t{}", i % 7)]}});
        let (status, reply) = c.send(Method::POST, "/v1/items", Some(&body)).await?;
        if status != StatusCode::CREATED {
            bail!("creating items: {status} {reply}");
        }
        last = reply["data"]["position"].as_i64().unwrap_or(last);
        items.extend(reply["data"]["id"].as_str().and_then(|id| Uuid::parse_str(id).ok()).filter(|_| items.len() < 100));
    }
    wait_for_projection(&mut c, board, last).await?;
    println!("| scenario | connections | requests/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let duration = Duration::from_secs(bench.seconds.max(1));
    let get: MakeRequest = |_, _, path| (Method::GET, path.to_owned(), None);
    let board_path = vec![format!("/v1/boards/{board}"); bench.board_connections];
    print_row(Some("GET /v1/boards/{id} (cached)"), &drive(bench.target, &token, &board_path, duration, get).await?);
    for &rate in &bench.board_rates {
        let level = drive_at_rate(bench.target, &token, &board_path, duration, rate).await?;
        print_row(Some(&format!("GET /v1/boards/{{id}} (cached), {rate}/s offered")), &level);
    }
    let lists: Vec<String> = (0..bench.list_connections)
        .map(|i| format!("/v1/boards/{board}/items?status={}&tag=t{}&limit=50", statuses[i % 3].replace(' ', "%20"), i % 7))
        .collect();
    print_row(
        Some("GET /v1/boards/{id}/items?status=&tag= (10k items, cached)"),
        &drive(bench.target, &token, &lists, duration, get).await?,
    );
    let writer = tokio::spawn(change_often(bench.target, token.clone(), items, duration));
    let busy = drive(bench.target, &token, &lists, duration, get).await?;
    let changes = writer.await??;
    let scenario = format!("same, board changed {:.0} times/s (mostly uncached)", changes as f64 / duration.as_secs_f64());
    print_row(Some(&scenario), &busy);
    Ok(())
}

/// Renames the board's items in turn, 100 times a second for `duration`;
/// returns how many renames were made.
async fn change_often(target: SocketAddr, token: String, items: Vec<Uuid>, duration: Duration) -> anyhow::Result<u64> {
    let mut c = Client::connect(target, &token).await?;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let start = tokio::time::Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        tick.tick().await;
        let Some(item) = items.get(usize::try_from(n).unwrap_or(0) % items.len().max(1)) else { bail!("no items to rename") };
        let (status, reply) = c.send(Method::PUT, &format!("/v1/items/{item}"), Some(&json!({"name": format!("renamed {n}")}))).await?;
        if !status.is_success() {
            bail!("renaming an item: {status} {reply}");
        }
        n += 1;
    }
    Ok(n)
}

async fn wait_for_projection(c: &mut Client, board: Uuid, position: i64) -> anyhow::Result<()> {
    for _ in 0..600 {
        if c.wait_read(&format!("/v1/boards/{board}/statistics"), position).await? {
            return Ok(());
        }
    }
    bail!("the projection never reached position {position}")
}
