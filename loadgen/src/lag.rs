//! `sunday bench lag`: commands at a steady rate, and for every Nth one the
//! time from its acknowledgement until a read waiting for its position
//! (`X-Sunday-Min-Position`) answers: the projection lag as a client sees it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::client::{Client, percentile_ms, token};
use crate::commands::{CommandBench, setup};

/// What to run.
#[derive(clap::Args, Clone, Debug)]
pub struct LagBench {
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

pub(crate) async fn run(bench: &LagBench, secret: &str) -> anyhow::Result<()> {
    let token = token(secret, Uuid::now_v7(), None);
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
