//! `sunday bench api`: the blueprint's API load scenarios. Virtual users loop
//! over a weighted mix (40% `GET /v1/boards`, 30% `GET /v1/items?boardId=`,
//! 15% `POST /v1/items`, 10% `PUT /v1/items/{id}`, 5% `GET /v1/files?boardId=`)
//! with one second of think time, while the number of users follows the
//! scenario's stages (ramping load, stress or spike; `--scale` shrinks the
//! durations). Prints a progress line each second and a table per endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::client::{Client, percentile_ms, token};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Scenario {
    /// 0 -> 100 (2m) -> 500 (5m) -> 1000 (3m), hold 5m, -> 0 (2m).
    Load,
    /// 0 -> 1000 (2m) -> 2000 (5m) -> 3000 (5m) -> 0 (2m).
    Stress,
    /// 100 for 1m, -> 2000 in 30s, hold 1m, -> 100 in 30s, hold 2m.
    Spike,
}

#[derive(clap::Args, Clone, Debug)]
pub struct ApiBench {
    /// The server (every role: `sunday all`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) target: SocketAddr,
    #[arg(long, value_enum, default_value = "load")]
    pub(crate) scenario: Scenario,
    /// Multiplies every stage's duration (0.1: a 17-minute scenario in 1.7).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) scale: f64,
    /// Multiplies every stage's user count.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) users_scale: f64,
    /// Seconds each virtual user waits between requests.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) think: f64,
    /// Distinct users (each owns a workspace with one board) the virtual users act as.
    #[arg(long, default_value_t = 100)]
    pub(crate) accounts: usize,
}

/// (duration in seconds, target users at its end), from a start count.
fn stages(s: Scenario) -> (f64, Vec<(f64, f64)>) {
    match s {
        Scenario::Load => (0.0, vec![(120.0, 100.0), (300.0, 500.0), (180.0, 1000.0), (300.0, 1000.0), (120.0, 0.0)]),
        Scenario::Stress => (0.0, vec![(120.0, 1000.0), (300.0, 2000.0), (300.0, 3000.0), (120.0, 0.0)]),
        Scenario::Spike => (100.0, vec![(60.0, 100.0), (30.0, 2000.0), (60.0, 2000.0), (30.0, 100.0), (120.0, 100.0)]),
    }
}

/// Users wanted `t` seconds in (linear within each stage).
fn users_at(start: f64, stages: &[(f64, f64)], t: f64) -> f64 {
    let (mut from, mut elapsed) = (start, 0.0);
    for &(d, to) in stages {
        if t <= elapsed + d {
            return from + (to - from) * ((t - elapsed) / d.max(1e-9));
        }
        elapsed += d;
        from = to;
    }
    from
}

const ENDPOINTS: [&str; 5] = ["GET /v1/boards", "GET /v1/items", "POST /v1/items", "PUT /v1/items/{id}", "GET /v1/files"];
const WEIGHTS: [u32; 5] = [40, 30, 15, 10, 5];

/// One account's data.
struct Account {
    token: String,
    board: Uuid,
    items: Vec<Uuid>,
}

/// Per endpoint: latencies (µs) and errors.
#[derive(Default)]
struct Tally {
    latencies: Vec<Vec<u32>>,
    errors: Vec<usize>,
}

pub(crate) async fn run(bench: &ApiBench, secret: &str) -> anyhow::Result<()> {
    let accounts = Arc::new(setup(bench, secret).await?);
    let (start_users, stages) = stages(bench.scenario);
    let stages: Vec<(f64, f64)> = stages.into_iter().map(|(d, u)| (d * bench.scale, u * bench.users_scale)).collect();
    let start_users = start_users * bench.users_scale;
    let total: f64 = stages.iter().map(|s| s.0).sum();
    let tally = Arc::new(Mutex::new(Tally { latencies: vec![Vec::new(); 5], errors: vec![0; 5] }));
    let wanted = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut running = 0usize;
    let mut tasks = Vec::new();
    let mut last_sent = 0;
    while started.elapsed().as_secs_f64() < total {
        let want = users_at(start_users, &stages, started.elapsed().as_secs_f64()).round() as usize;
        wanted.store(want, Ordering::Relaxed);
        while running < want {
            let vu = Vu {
                index: running,
                bench: bench.clone(),
                accounts: accounts.clone(),
                tally: tally.clone(),
                wanted: wanted.clone(),
                sent: sent.clone(),
                failed: failed.clone(),
            };
            tasks.push(tokio::spawn(vu.run()));
            running += 1;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now_sent = sent.load(Ordering::Relaxed);
        let active = want.min(running);
        eprintln!(
            "{:>6.0}s  users {active:>5}  requests/s {:>6}  errors {}",
            started.elapsed().as_secs_f64(),
            now_sent - last_sent,
            failed.load(Ordering::Relaxed)
        );
        last_sent = now_sent;
    }
    wanted.store(0, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    report(&*tally.lock().await, started.elapsed());
    Ok(())
}

/// Accounts, each with a workspace, a board, 20 items and 5 files.
async fn setup(bench: &ApiBench, secret: &str) -> anyhow::Result<Vec<Account>> {
    let mut accounts = Vec::new();
    for a in 0..bench.accounts.max(1) {
        let user = Uuid::now_v7();
        let token = token(secret, user, None);
        let mut c = Client::connect(bench.target, &token).await?;
        let ws = c.create("/v1/workspaces", json!({"name": format!("api bench {a}")})).await?;
        let board = c.create("/v1/boards", json!({"workspaceId": ws, "name": "board"})).await?;
        let mut items = Vec::new();
        for i in 0..20 {
            items.push(c.create("/v1/items", json!({"boardId": board, "name": format!("item {i}")})).await?);
        }
        for (i, item) in items.iter().take(5).enumerate() {
            let file = json!({"name": format!("spec-{i}.pdf"), "contentType": "application/pdf", "size": 1024 * (i + 1)});
            c.expect_ok(&format!("/v1/items/{item}/files"), file).await?;
        }
        accounts.push(Account { token, board, items });
    }
    Ok(accounts)
}

struct Vu {
    index: usize,
    bench: ApiBench,
    accounts: Arc<Vec<Account>>,
    tally: Arc<Mutex<Tally>>,
    wanted: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

impl Vu {
    async fn run(self) {
        let account = &self.accounts[self.index % self.accounts.len()];
        let Ok(mut client) = Client::connect(self.bench.target, &account.token).await else {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let think = Duration::from_secs_f64(self.bench.think);
        // Spread the users' first requests over one think time.
        tokio::time::sleep(think.mul_f64((self.index % 100) as f64 / 100.0)).await;
        let mut n = self.index;
        while self.index < self.wanted.load(Ordering::Relaxed) {
            n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let endpoint = pick(n % 100);
            let item = account.items[(n / 100) % account.items.len()];
            let (method, path, body) = request(endpoint, account, item, n);
            let began = Instant::now();
            let ok =
                matches!(client.send(method, &path, body.as_ref()).await, Ok((s, _)) if s.is_success() || s == StatusCode::NOT_MODIFIED);
            let micros = u32::try_from(began.elapsed().as_micros()).unwrap_or(u32::MAX);
            self.sent.fetch_add(1, Ordering::Relaxed);
            {
                let mut t = self.tally.lock().await;
                if ok {
                    t.latencies[endpoint].push(micros);
                } else {
                    t.errors[endpoint] += 1;
                }
            }
            if !ok {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(think).await;
        }
    }
}

fn pick(roll: usize) -> usize {
    let mut acc = 0;
    for (i, w) in WEIGHTS.iter().enumerate() {
        acc += *w as usize;
        if roll < acc {
            return i;
        }
    }
    0
}

fn request(endpoint: usize, a: &Account, item: Uuid, n: usize) -> (Method, String, Option<serde_json::Value>) {
    match endpoint {
        0 => (Method::GET, "/v1/boards".into(), None),
        1 => (Method::GET, format!("/v1/items?boardId={}", a.board), None),
        2 => (Method::POST, "/v1/items".into(), Some(json!({"boardId": a.board, "name": format!("vu item {n}")}))),
        3 => (Method::PUT, format!("/v1/items/{item}"), Some(json!({"description": format!("edit {n}")}))),
        _ => (Method::GET, format!("/v1/files?boardId={}", a.board), None),
    }
}

fn report(t: &Tally, elapsed: Duration) {
    println!("| endpoint | requests | requests/s | p50 ms | p95 ms | p99 ms | max ms | errors | error rate |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut all: Vec<u32> = Vec::new();
    let mut errors = 0;
    for (i, name) in ENDPOINTS.iter().enumerate() {
        let mut l = t.latencies[i].clone();
        l.sort_unstable();
        row(name, &l, t.errors[i], elapsed);
        all.extend(l);
        errors += t.errors[i];
    }
    all.sort_unstable();
    row("all", &all, errors, elapsed);
}

fn row(name: &str, sorted: &[u32], errors: usize, elapsed: Duration) {
    let count = sorted.len() + errors;
    println!(
        "| {name} | {count} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {errors} | {:.3}% |",
        count as f64 / elapsed.as_secs_f64(),
        percentile_ms(sorted, 50.0),
        percentile_ms(sorted, 95.0),
        percentile_ms(sorted, 99.0),
        f64::from(sorted.last().copied().unwrap_or(0)) / 1000.0,
        if count == 0 { 0.0 } else { errors as f64 * 100.0 / count as f64 }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_follow_the_stages_linearly() {
        let (start, s) = stages(Scenario::Load);
        assert_eq!(users_at(start, &s, 0.0), 0.0);
        assert_eq!(users_at(start, &s, 60.0), 50.0);
        assert_eq!(users_at(start, &s, 120.0 + 300.0 + 180.0 + 10.0), 1000.0);
        assert_eq!(users_at(start, &s, 10_000.0), 0.0);
        let (start, s) = stages(Scenario::Spike);
        assert_eq!(users_at(start, &s, 30.0), 100.0);
        assert_eq!(users_at(start, &s, 75.0), 1050.0);
    }

    #[test]
    fn the_mix_has_the_blueprint_weights() {
        let mut counts = [0usize; 5];
        for roll in 0..100 {
            counts[pick(roll)] += 1;
        }
        assert_eq!(counts, [40, 30, 15, 10, 5]);
    }
}
