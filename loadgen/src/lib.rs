//! Sunday's load generators, run as `sunday bench <kind>` against a running
//! server: commands, reads, projection lag, realtime delivery and the
//! blueprint's API scenarios. Each prints Markdown tables for
//! docs/PERFORMANCE.md. A tool, not a service: any error ends the run with
//! its message (`anyhow`), as it would in a binary.

mod api;
mod client;
mod commands;
mod delivery;
mod lag;
mod level;
mod reads;
mod sse;
mod webhooks;
mod ws;

pub use api::ApiBench;
pub use commands::CommandBench;
pub use lag::LagBench;
pub use reads::ReadBench;
pub use webhooks::WebhookBench;
pub use ws::WsBench;

/// Which load to generate.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum Bench {
    /// Single-event commands through the HTTP API at several concurrency levels.
    Commands(CommandBench),
    /// Cached board reads and filtered listings of a large board.
    Reads(ReadBench),
    /// Projection lag under a steady command rate.
    Lag(LagBench),
    /// Realtime delivery: many sockets over many boards, commands at fixed rates.
    Ws(WsBench),
    /// The blueprint's API scenarios: weighted mix, think time, ramping/stress/spike stages.
    Api(ApiBench),
    /// Webhook deliveries to a receiver on loopback: throughput and commit-to-delivery latency.
    Webhooks(WebhookBench),
}

/// Runs one load generator with tokens signed by `secret`.
pub async fn run(bench: &Bench, secret: &str) -> anyhow::Result<()> {
    match bench {
        Bench::Commands(b) => commands::run(b, secret).await,
        Bench::Reads(b) => reads::run(b, secret).await,
        Bench::Lag(b) => lag::run(b, secret).await,
        Bench::Ws(b) => ws::run(b, secret).await,
        Bench::Api(b) => api::run(b, secret).await,
        Bench::Webhooks(b) => webhooks::run(b, secret).await,
    }
}
