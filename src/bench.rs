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
pub(crate) struct Client {
    sender: SendRequest<Full<Bytes>>,
    token: String,
}

impl Client {
    pub(crate) async fn connect(target: SocketAddr, token: &str) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(target).await.with_context(|| format!("connecting to {target}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender, token: token.to_owned() })
    }

    pub(crate) async fn send(&mut self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = Request::builder().method(method).uri(path).header("host", "sunday").header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(body.map(|b| Bytes::from(b.to_string())).unwrap_or_default()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    pub(crate) async fn create(&mut self, path: &str, body: Value) -> anyhow::Result<Uuid> {
        let (status, reply) = self.send(Method::POST, path, Some(&body)).await?;
        if status != StatusCode::CREATED {
            bail!("{path} answered {status}: {reply}");
        }
        let id = reply["data"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        id.context("no id in the answer")
    }

    /// A POST that must succeed.
    pub(crate) async fn expect_ok(&mut self, path: &str, body: Value) -> anyhow::Result<()> {
        let (status, reply) = self.send(Method::POST, path, Some(&body)).await?;
        if !status.is_success() {
            bail!("{path} answered {status}: {reply}");
        }
        Ok(())
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

/// One request of a load: method, path and body, made from the client's
/// index and its request count.
type MakeRequest = fn(usize, u64, &str) -> (Method, String, Option<Value>);

async fn run_level(bench: &CommandBench, token: &str, items: &[Uuid]) -> anyhow::Result<Level> {
    let targets: Vec<String> = items.iter().map(|i| format!("/v1/items/{i}")).collect();
    let put: MakeRequest = |_, n, path| (Method::PUT, path.to_owned(), Some(json!({"itemData": {"note": format!("v{n}")}})));
    drive(bench.target, token, &targets, Duration::from_secs(bench.seconds.max(1)), put).await
}

/// Runs one client per target for `duration`, each sending requests as fast
/// as answers come; the first tenth is warm-up.
async fn drive(target: SocketAddr, token: &str, targets: &[String], duration: Duration, make: MakeRequest) -> anyhow::Result<Level> {
    let warmup = duration / 10;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (index, path) in targets.iter().cloned().enumerate() {
        let mut client = Client::connect(target, token).await?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut n = 0u64;
            while start.elapsed() < duration {
                n += 1;
                let (method, uri, body) = make(index, n, &path);
                let sent = Instant::now();
                let ok = matches!(client.send(method, &uri, body.as_ref()).await, Ok((s, _)) if s.is_success());
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
    gather(targets.len(), duration - warmup, tasks).await
}

/// Each client's latencies and errors, merged into one level.
type ClientResult = tokio::task::JoinHandle<(Vec<u32>, usize)>;

async fn gather(clients: usize, elapsed: Duration, tasks: Vec<ClientResult>) -> anyhow::Result<Level> {
    let mut level = Level { clients, count: 0, errors: 0, elapsed, latencies_us: Vec::new() };
    for t in tasks {
        let (latencies, errors) = t.await?;
        level.latencies_us.extend(latencies);
        level.errors += errors;
    }
    level.count = level.latencies_us.len();
    level.latencies_us.sort_unstable();
    Ok(level)
}

/// Open loop: each client sends on a fixed schedule (its share of `rate`),
/// whatever the answers do, and latency counts from the scheduled send time,
/// so a stalled server is not hidden by clients that stop asking.
async fn drive_at_rate(target: SocketAddr, token: &str, paths: &[String], duration: Duration, rate: u64) -> anyhow::Result<Level> {
    let period = Duration::from_secs_f64(paths.len() as f64 / rate.max(1) as f64);
    let warmup = duration / 10;
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::new();
    for (index, path) in paths.iter().cloned().enumerate() {
        let mut client = Client::connect(target, token).await?;
        // Spread the clients' schedules over one period.
        let first = start + period.mul_f64(index as f64 / paths.len() as f64);
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            let mut due = first;
            while due.duration_since(start) < duration {
                tokio::time::sleep_until(due.into()).await;
                let ok = matches!(client.send(Method::GET, &path, None).await, Ok((s, _)) if s.is_success());
                if due.duration_since(start) >= warmup {
                    match ok {
                        true => latencies.push(u32::try_from(due.elapsed().as_micros()).unwrap_or(u32::MAX)),
                        false => errors += 1,
                    }
                }
                due += period;
            }
            (latencies, errors)
        }));
    }
    gather(paths.len(), duration - warmup, tasks).await
}

pub(crate) fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[rank.min(sorted.len() - 1)]) / 1000.0
}

fn print_level(l: &Level) {
    print_row(None, l);
}

/// `sunday bench reads`: cached board reads at many connections, then
/// filtered item listings of a large board (uncached).
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct ReadBench {
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
pub(crate) async fn run_reads(bench: &ReadBench, secret: &str) -> anyhow::Result<()> {
    let user = Uuid::now_v7();
    let claims = Claims { sub: user, exp: chrono::Utc::now().timestamp() + 86_400, name: Some("bench".into()), email: None };
    let token = mint(&Secret::new(secret), &claims);
    let mut c = Client::connect(bench.target, &token).await?;
    let ws = c.create("/v1/workspaces", json!({"name": "bench reads"})).await?;
    let board = c.create("/v1/boards", json!({"workspaceId": ws, "name": "big"})).await?;
    let statuses = ["To Do", "In Progress", "Done"];
    let mut last = 0;
    for i in 0..bench.items {
        let body = json!({"boardId": board, "name": format!("task {i}"), "itemData": {"status": statuses[i % 3], "tags": [format!("t{}", i % 7)]}});
        let (status, reply) = c.send(Method::POST, "/v1/items", Some(&body)).await?;
        if status != StatusCode::CREATED {
            bail!("creating items: {status} {reply}");
        }
        last = reply["data"]["position"].as_i64().unwrap_or(last);
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
    print_row(Some("GET /v1/boards/{id}/items?status=&tag= (10k items, uncached)"), &drive(bench.target, &token, &lists, duration, get).await?);
    Ok(())
}

async fn wait_for_projection(c: &mut Client, board: Uuid, position: i64) -> anyhow::Result<()> {
    for _ in 0..600 {
        if c.wait_read(&format!("/v1/boards/{board}/statistics"), position).await? {
            return Ok(());
        }
    }
    bail!("the projection never reached position {position}")
}

/// One Markdown table row: the scenario (if named), clients, rate and latencies.
fn print_row(scenario: Option<&str>, l: &Level) {
    let rate = l.count as f64 / l.elapsed.as_secs_f64();
    let max = l.latencies_us.last().copied().unwrap_or(0);
    let scenario = scenario.map(|s| format!("{s} | ")).unwrap_or_default();
    println!(
        "| {scenario}{} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
        l.clients,
        rate,
        percentile_ms(&l.latencies_us, 50.0),
        percentile_ms(&l.latencies_us, 99.0),
        f64::from(max) / 1000.0,
        l.errors
    );
}

/// `sunday bench lag`: commands at a steady rate, and for every Nth one the
/// time from its acknowledgement until a read waiting for its position
/// (`X-Sunday-Min-Position`) answers: the projection lag as a client sees it.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct LagBench {
    /// The server to load (command API, projector and query API).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) target: SocketAddr,
    /// Commands per second, over all writers.
    #[arg(long, default_value_t = 2000)]
    pub(crate) rate: u64,
    /// Writers, each on its own connection.
    #[arg(long, default_value_t = 32)]
    pub(crate) writers: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Probe every Nth command of each writer.
    #[arg(long, default_value_t = 10)]
    pub(crate) probe_every: u64,
}

pub(crate) async fn run_lag(bench: &LagBench, secret: &str) -> anyhow::Result<()> {
    let claims = Claims { sub: Uuid::now_v7(), exp: chrono::Utc::now().timestamp() + 86_400, name: None, email: None };
    let token = mint(&Secret::new(secret), &claims);
    let setup = CommandBench { target: bench.target, clients: vec![bench.writers], seconds: 1, boards: 8 };
    let items = self::setup(&setup, &token, bench.writers).await?;
    let period = Duration::from_secs_f64(bench.writers as f64 / bench.rate.max(1) as f64);
    let duration = Duration::from_secs(bench.seconds.max(1));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for item in items {
        let (mut writer, mut reader) = (Client::connect(bench.target, &token).await?, Client::connect(bench.target, &token).await?);
        let every = bench.probe_every.max(1);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut lags, mut sent, mut errors) = (Vec::new(), 0u64, 0usize);
            while start.elapsed() < duration {
                tick.tick().await;
                sent += 1;
                let body = json!({"itemData": {"note": format!("v{sent}")}});
                let Ok((StatusCode::OK, reply)) = writer.send(Method::PUT, &format!("/v1/items/{item}"), Some(&body)).await else {
                    errors += 1;
                    continue;
                };
                if sent % every != 0 {
                    continue;
                }
                let acked = Instant::now();
                let position = reply["data"]["position"].as_i64().unwrap_or(0);
                match reader.wait_read(&format!("/v1/items/{item}"), position).await {
                    Ok(true) => lags.push(u32::try_from(acked.elapsed().as_micros()).unwrap_or(u32::MAX)),
                    _ => errors += 1,
                }
            }
            (lags, sent, errors)
        }));
    }
    let (mut lags, mut sent, mut errors) = (Vec::new(), 0u64, 0usize);
    for t in tasks {
        let (l, s, e) = t.await?;
        lags.extend(l);
        sent += s;
        errors += e;
    }
    lags.sort_unstable();
    println!("| commands/s (achieved) | probes | lag p50 ms | lag p99 ms | lag max ms | errors |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {:.0} | {} | {:.2} | {:.2} | {:.2} | {errors} |",
        sent as f64 / start.elapsed().as_secs_f64(),
        lags.len(),
        percentile_ms(&lags, 50.0),
        percentile_ms(&lags, 99.0),
        f64::from(lags.last().copied().unwrap_or(0)) / 1000.0
    );
    Ok(())
}

impl Client {
    /// A GET that waits for `position`; `true` when it answered 200.
    async fn wait_read(&mut self, path: &str, position: i64) -> anyhow::Result<bool> {
        let req = Request::builder()
            .uri(path)
            .header("host", "sunday")
            .header("authorization", format!("Bearer {}", self.token))
            .header("x-sunday-min-position", position.to_string())
            .body(Full::new(Bytes::new()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let ok = resp.status() == StatusCode::OK;
        let _ = resp.into_body().collect().await?;
        Ok(ok)
    }
}
