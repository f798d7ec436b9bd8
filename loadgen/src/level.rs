//! Driving a load and reporting it: closed loop (each client sends as fast
//! as answers come) or open loop (a fixed schedule, latency from the
//! scheduled send), merged into one `Level` and printed as a Markdown row.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::Value;

use crate::client::{Client, percentile_ms};

/// One level's result.
pub(crate) struct Level {
    pub(crate) clients: usize,
    count: usize,
    errors: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

/// One request of a load: method, path and body, made from the client's
/// index and its request count.
pub(crate) type MakeRequest = fn(usize, u64, &str) -> (Method, String, Option<Value>);

/// Runs one client per target for `duration`, each sending requests as fast
/// as answers come; the first tenth is warm-up.
pub(crate) async fn drive(
    target: SocketAddr,
    token: &str,
    targets: &[String],
    duration: Duration,
    make: MakeRequest,
) -> anyhow::Result<Level> {
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
pub(crate) async fn drive_at_rate(
    target: SocketAddr,
    token: &str,
    paths: &[String],
    duration: Duration,
    rate: u64,
) -> anyhow::Result<Level> {
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

/// One Markdown table row: the scenario (if named), clients, rate and latencies.
pub(crate) fn print_row(scenario: Option<&str>, l: &Level) {
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
