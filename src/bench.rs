//! `sunday bench commands`: a load generator that drives single-event commands
//! through the HTTP API at several concurrency levels and reports throughput and
//! latency percentiles.
//!
//! Each virtual client holds one keep-alive connection and updates an item of
//! its own (one `ItemUpdated` event per request); items are spread over several
//! boards. Latencies are kept exactly (microseconds) and sorted for percentiles.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sunday_command_api::{Claims, Secret, mint};
use uuid::Uuid;

/// What to run.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct CommandBench {
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

/// One level's result.
struct Level {
    clients: usize,
    count: usize,
    errors: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

/// One keep-alive HTTP/1.1 connection with a bearer token.
struct Client {
    sender: SendRequest<Full<Bytes>>,
    token: String,
}

impl Client {
    async fn connect(target: SocketAddr, token: &str) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(target).await.with_context(|| format!("connecting to {target}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender, token: token.to_owned() })
    }

    async fn send(&mut self, method: Method, path: &str, body: &Value) -> anyhow::Result<(StatusCode, Value)> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "sunday")
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    async fn create(&mut self, path: &str, body: Value) -> anyhow::Result<Uuid> {
        let (status, reply) = self.send(Method::POST, path, &body).await?;
        if status != StatusCode::CREATED {
            bail!("{path} answered {status}: {reply}");
        }
        let id = reply["data"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        id.context("no id in the answer")
    }
}

/// Runs the benchmark and prints a Markdown table.
pub(crate) async fn run(bench: &CommandBench, secret: &str) -> anyhow::Result<()> {
    let user = Uuid::now_v7();
    let claims = Claims { sub: user, exp: chrono::Utc::now().timestamp() + 86_400, name: Some("bench".into()), email: None };
    let token = mint(&Secret::new(secret), &claims);
    let most = bench.clients.iter().copied().max().unwrap_or(1);
    let items = setup(bench, &token, most).await?;
    println!("| clients | commands/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &clients in &bench.clients {
        let level = run_level(bench, &token, &items[..clients]).await?;
        print_level(&level);
    }
    Ok(())
}

/// A workspace, `boards` boards with a text column, and one item per client.
async fn setup(bench: &CommandBench, token: &str, items: usize) -> anyhow::Result<Vec<Uuid>> {
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
    let duration = Duration::from_secs(bench.seconds.max(1));
    let warmup = duration / 10;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for &item in items {
        let mut client = Client::connect(bench.target, token).await?;
        tasks.push(tokio::spawn(async move {
            let path = format!("/v1/items/{item}");
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut n = 0u64;
            while start.elapsed() < duration {
                n += 1;
                let sent = Instant::now();
                let ok = matches!(client.send(Method::PUT, &path, &json!({"itemData": {"note": format!("v{n}")}})).await, Ok((StatusCode::OK, _)));
                if sent.duration_since(start) < warmup {
                    continue;
                }
                if ok {
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut level = Level { clients: items.len(), count: 0, errors: 0, elapsed: duration - warmup, latencies_us: Vec::new() };
    for t in tasks {
        let (latencies, errors) = t.await?;
        level.latencies_us.extend(latencies);
        level.errors += errors;
    }
    level.count = level.latencies_us.len();
    level.latencies_us.sort_unstable();
    Ok(level)
}

fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[rank.min(sorted.len() - 1)]) / 1000.0
}

fn print_level(l: &Level) {
    let rate = l.count as f64 / l.elapsed.as_secs_f64();
    let max = l.latencies_us.last().copied().unwrap_or(0);
    println!(
        "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
        l.clients,
        rate,
        percentile_ms(&l.latencies_us, 50.0),
        percentile_ms(&l.latencies_us, 99.0),
        f64::from(max) / 1000.0,
        l.errors
    );
}
