//! The binary's settings (flags and environment variables, shared by every
//! role) and the configurations of the services made from them.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use sunday_command_api::Config;
use sunday_edge::token::Secret;

#[derive(Args, Clone)]
pub(crate) struct Common {
    /// PostgreSQL URL of the event store.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub(crate) database_url: Option<String>,
    /// Address the HTTP server listens on.
    #[arg(long, env = "SUNDAY_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub(crate) listen: SocketAddr,
    /// HS256 secret for bearer tokens.
    #[arg(long, env = "SUNDAY_JWT_SECRET", default_value = "dev-secret-change-me", global = true, hide_default_value = true)]
    pub(crate) jwt_secret: String,
    /// Largest number of database connections this process opens.
    #[arg(long, env = "SUNDAY_DB_MAX_CONNECTIONS", default_value_t = 32, global = true)]
    pub(crate) db_max_connections: u32,
    /// How many boards the command side keeps folded in memory.
    #[arg(long, env = "SUNDAY_BOARD_CACHE", default_value_t = 1024, global = true)]
    pub(crate) board_cache: usize,
    /// Hours idempotency keys are kept (at least 24).
    #[arg(long, env = "SUNDAY_IDEMPOTENCY_HOURS", default_value_t = 48, global = true)]
    pub(crate) idempotency_hours: i32,
    /// PostgreSQL URL for reads (a replica); the primary when unset.
    #[arg(long, env = "DATABASE_READ_URL", global = true)]
    pub(crate) database_read_url: Option<String>,
    /// Longest wait, in milliseconds, for `X-Sunday-Min-Position`.
    #[arg(long, env = "SUNDAY_MIN_POSITION_WAIT_MS", default_value_t = 2000, global = true)]
    pub(crate) min_position_wait_ms: u64,
    /// Most events the projector applies in one transaction.
    #[arg(long, env = "SUNDAY_PROJECTOR_BATCH", default_value_t = 1000, global = true)]
    pub(crate) projector_batch: usize,
    /// NATS servers joining the processes (`nats://host:4222`, several
    /// comma-separated for a cluster); in-process only when unset.
    #[arg(long, env = "SUNDAY_NATS_URL", global = true)]
    pub(crate) nats_url: Option<String>,
    /// Copies JetStream keeps of the event stream (3 on a three-node cluster
    /// survives the loss of one node); the publisher sets it on the stream.
    #[arg(long, env = "SUNDAY_NATS_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5), global = true)]
    pub(crate) nats_replicas: u8,
    /// Prefix of every NATS subject this deployment uses.
    #[arg(long, env = "SUNDAY_NATS_PREFIX", default_value = "sunday", global = true)]
    pub(crate) nats_prefix: String,
    /// With DATABASE_READ_URL: milliseconds the replica may be behind what was
    /// heard before reads answer 503 (and /readyz is not ready).
    #[arg(long, env = "SUNDAY_REPLICA_MAX_LAG_MS", default_value_t = 5000, global = true)]
    pub(crate) replica_max_lag_ms: u64,
    /// Most events the projection may lag behind and still count as ready.
    #[arg(long, env = "SUNDAY_READY_MAX_LAG", default_value_t = 10_000, global = true)]
    pub(crate) ready_max_lag: i64,
    /// Realtime batch window in milliseconds: events of a board room are sent together.
    #[arg(long, env = "SUNDAY_WS_BATCH_MS", default_value_t = 50, global = true)]
    pub(crate) ws_batch_ms: u64,
    /// Frames a WebSocket may have queued before it is closed as a slow consumer (code 4008).
    #[arg(long, env = "SUNDAY_WS_QUEUE", default_value_t = 256, global = true)]
    pub(crate) ws_queue: usize,
    /// Seconds between server pings; a socket silent for two of them is dropped.
    #[arg(long, env = "SUNDAY_WS_HEARTBEAT_SECS", default_value_t = 25, global = true)]
    pub(crate) ws_heartbeat_secs: u64,
    /// Queries slower than this many milliseconds are logged with their name.
    #[arg(long, env = "SUNDAY_SLOW_QUERY_MS", default_value_t = 100, global = true)]
    pub(crate) slow_query_ms: u64,
    /// Months of activity kept before their partitions are dropped.
    #[arg(long, env = "SUNDAY_ACTIVITY_RETENTION_MONTHS", default_value_t = 24, global = true)]
    pub(crate) activity_retention_months: u32,
    /// Commands a user may send per second (bursts of twice as many); 0: no limit.
    #[arg(long, env = "SUNDAY_RATE_COMMANDS", default_value_t = 100, global = true)]
    pub(crate) rate_commands: u32,
    /// Reads a user may make per second (bursts of twice as many); 0: no limit.
    #[arg(long, env = "SUNDAY_RATE_READS", default_value_t = 500, global = true)]
    pub(crate) rate_reads: u32,
    /// WebSocket frames a user may send per second, all sockets together (bursts of twice as many); 0: no limit.
    #[arg(long, env = "SUNDAY_RATE_WS_FRAMES", default_value_t = 200, global = true)]
    pub(crate) rate_ws_frames: u32,
    /// WebSocket connections one user may hold open at once in a process; 0: no cap.
    #[arg(long, env = "SUNDAY_WS_MAX_SOCKETS_PER_USER", default_value_t = 64, global = true)]
    pub(crate) ws_max_sockets_per_user: usize,
    /// Key webhook secrets are derived from (changing it changes every secret).
    #[arg(long, env = "SUNDAY_WEBHOOK_KEY", default_value = "dev-webhook-key-change-me", global = true, hide_default_value = true)]
    pub(crate) webhook_key: String,
    /// Lets webhooks call loopback, link-local and private addresses (tests only).
    #[arg(long, env = "SUNDAY_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub(crate) webhook_allow_private: bool,
    /// Delays between a failed webhook delivery's attempts (the last repeats).
    #[arg(long, env = "SUNDAY_WEBHOOK_RETRY", default_value = "5s,30s,2m,10m,30m,1h", value_parser = delays, global = true)]
    pub(crate) webhook_retry: String,
    /// How long an event may keep failing before its webhook is disabled.
    #[arg(long, env = "SUNDAY_WEBHOOK_GIVE_UP", default_value = "24h", value_parser = sunday_webhooks::retry::parse_duration, global = true)]
    pub(crate) webhook_give_up: std::time::Duration,
    /// How long an endpoint has to answer a delivery.
    #[arg(long, env = "SUNDAY_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = sunday_webhooks::retry::parse_duration, global = true)]
    pub(crate) webhook_timeout: std::time::Duration,
    /// How long webhook delivery attempts stay in the deliveries log.
    #[arg(long, env = "SUNDAY_WEBHOOK_KEEP_ATTEMPTS", default_value = "168h", value_parser = sunday_webhooks::retry::parse_duration, global = true)]
    pub(crate) webhook_keep_attempts: std::time::Duration,
}

pub(crate) fn base_options(common: &Common) -> anyhow::Result<sqlx::postgres::PgConnectOptions> {
    let url = common.database_url.as_deref().context("DATABASE_URL is not set (ops/run sets it for you)")?;
    url.parse().context("DATABASE_URL is not a PostgreSQL URL")
}

/// The per-user rates of the settings (each service applies its own kind).
pub(crate) fn rate_limits(common: &Common) -> sunday_edge::Limits {
    use std::num::NonZeroU32;
    sunday_edge::Limits {
        commands: NonZeroU32::new(common.rate_commands),
        reads: NonZeroU32::new(common.rate_reads),
        frames: NonZeroU32::new(common.rate_ws_frames),
    }
}

pub(crate) fn command_config(common: &Common) -> Config {
    Config {
        jwt_secret: Secret::new(common.jwt_secret.clone()),
        board_cache_capacity: common.board_cache,
        idempotency_retention_hours: common.idempotency_hours,
        rate_limits: rate_limits(common),
        webhook_key: sunday_webhooks::WebhookKey::new(&common.webhook_key),
        webhook_addresses: sunday_webhooks::AddressPolicy { allow_private: common.webhook_allow_private },
    }
}

/// A list of delays, checked when the settings are read.
fn delays(text: &str) -> Result<String, String> {
    sunday_webhooks::RetrySchedule::parse_delays(text).map(|_| text.to_owned())
}

pub(crate) fn webhook_config(common: &Common) -> sunday_webhooks::DispatchConfig {
    sunday_webhooks::DispatchConfig {
        key: sunday_webhooks::WebhookKey::new(&common.webhook_key),
        addresses: sunday_webhooks::AddressPolicy { allow_private: common.webhook_allow_private },
        retry: sunday_webhooks::RetrySchedule {
            delays: sunday_webhooks::RetrySchedule::parse_delays(&common.webhook_retry).unwrap_or_default(),
            give_up_after: common.webhook_give_up,
        },
        timeout: common.webhook_timeout,
        keep_attempts: common.webhook_keep_attempts,
        ..sunday_webhooks::DispatchConfig::default()
    }
}

pub(crate) fn query_config(common: &Common) -> sunday_query_api::Config {
    sunday_query_api::Config {
        jwt_secret: Secret::new(common.jwt_secret.clone()),
        min_position_wait: std::time::Duration::from_millis(common.min_position_wait_ms),
        rate_limits: rate_limits(common),
        replica_max_lag: std::time::Duration::from_millis(common.replica_max_lag_ms),
    }
}

/// The pool reads go to: `DATABASE_READ_URL` when set, else the primary's.
pub(crate) async fn read_pool(common: &Common, primary: sqlx::postgres::PgConnectOptions) -> anyhow::Result<sqlx::PgPool> {
    let base = match &common.database_read_url {
        Some(url) => url.parse().context("DATABASE_READ_URL is not a PostgreSQL URL")?,
        None => primary,
    };
    let pool = sunday_projector::schema::pool(base, sunday_projector::schema::LIVE, common.db_max_connections).await;
    pool.context("connecting for reads")
}
