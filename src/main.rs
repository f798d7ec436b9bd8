//! The `sunday` binary: one executable whose subcommands run every role.

mod bench;
mod bench_api;
mod bench_ws;
mod health;
mod metrics;
mod roles;
mod telemetry;

/// mimalloc: fewer cycles per request than glibc's allocator under many small allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sunday_command_api::{AppState, Claims, Config, Secret, mint, spawn_housekeeping};
use sunday_eventstore::{MIGRATOR, PgEventStore};
use uuid::Uuid;

use roles::{Roles, connect_nats};

#[derive(Parser)]
#[command(name = "sunday", version, about = "Sunday: event-sourced work management backend")]
struct Cli {
    #[command(subcommand)]
    command: Option<Role>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone)]
struct Common {
    /// PostgreSQL URL of the event store.
    #[arg(long, env = "DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Address the HTTP server listens on.
    #[arg(long, env = "SUNDAY_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    listen: SocketAddr,
    /// HS256 secret for bearer tokens.
    #[arg(long, env = "SUNDAY_JWT_SECRET", default_value = "dev-secret-change-me", global = true, hide_default_value = true)]
    jwt_secret: String,
    /// Largest number of database connections this process opens.
    #[arg(long, env = "SUNDAY_DB_MAX_CONNECTIONS", default_value_t = 32, global = true)]
    db_max_connections: u32,
    /// How many boards the command side keeps folded in memory.
    #[arg(long, env = "SUNDAY_BOARD_CACHE", default_value_t = 1024, global = true)]
    board_cache: usize,
    /// Hours idempotency keys are kept (at least 24).
    #[arg(long, env = "SUNDAY_IDEMPOTENCY_HOURS", default_value_t = 48, global = true)]
    idempotency_hours: i32,
    /// PostgreSQL URL for reads (a replica); the primary when unset.
    #[arg(long, env = "DATABASE_READ_URL", global = true)]
    database_read_url: Option<String>,
    /// Longest wait, in milliseconds, for `X-Sunday-Min-Position`.
    #[arg(long, env = "SUNDAY_MIN_POSITION_WAIT_MS", default_value_t = 2000, global = true)]
    min_position_wait_ms: u64,
    /// Most events the projector applies in one transaction.
    #[arg(long, env = "SUNDAY_PROJECTOR_BATCH", default_value_t = 1000, global = true)]
    projector_batch: usize,
    /// NATS servers joining the processes (`nats://host:4222`, several
    /// comma-separated for a cluster); in-process only when unset.
    #[arg(long, env = "SUNDAY_NATS_URL", global = true)]
    nats_url: Option<String>,
    /// Copies JetStream keeps of the event stream (3 on a three-node cluster
    /// survives the loss of one node); the publisher sets it on the stream.
    #[arg(long, env = "SUNDAY_NATS_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5), global = true)]
    nats_replicas: u8,
    /// Prefix of every NATS subject this deployment uses.
    #[arg(long, env = "SUNDAY_NATS_PREFIX", default_value = "sunday", global = true)]
    nats_prefix: String,
    /// With DATABASE_READ_URL: milliseconds the replica may be behind what was
    /// heard before reads answer 503 (and /readyz is not ready).
    #[arg(long, env = "SUNDAY_REPLICA_MAX_LAG_MS", default_value_t = 5000, global = true)]
    replica_max_lag_ms: u64,
    /// Most events the projection may lag behind and still count as ready.
    #[arg(long, env = "SUNDAY_READY_MAX_LAG", default_value_t = 10_000, global = true)]
    ready_max_lag: i64,
    /// Realtime batch window in milliseconds: events of a board room are sent together.
    #[arg(long, env = "SUNDAY_WS_BATCH_MS", default_value_t = 50, global = true)]
    ws_batch_ms: u64,
    /// Frames a WebSocket may have queued before it is closed as a slow consumer (code 4008).
    #[arg(long, env = "SUNDAY_WS_QUEUE", default_value_t = 256, global = true)]
    ws_queue: usize,
    /// Seconds between server pings; a socket silent for two of them is dropped.
    #[arg(long, env = "SUNDAY_WS_HEARTBEAT_SECS", default_value_t = 25, global = true)]
    ws_heartbeat_secs: u64,
    /// Queries slower than this many milliseconds are logged with their name.
    #[arg(long, env = "SUNDAY_SLOW_QUERY_MS", default_value_t = 100, global = true)]
    slow_query_ms: u64,
    /// Months of activity kept before their partitions are dropped.
    #[arg(long, env = "SUNDAY_ACTIVITY_RETENTION_MONTHS", default_value_t = 24, global = true)]
    activity_retention_months: u32,
    /// Commands a user may send per second (bursts of twice as many); 0: no limit.
    #[arg(long, env = "SUNDAY_RATE_COMMANDS", default_value_t = 100, global = true)]
    rate_commands: u32,
    /// Reads a user may make per second (bursts of twice as many); 0: no limit.
    #[arg(long, env = "SUNDAY_RATE_READS", default_value_t = 500, global = true)]
    rate_reads: u32,
    /// WebSocket frames a user may send per second, all sockets together (bursts of twice as many); 0: no limit.
    #[arg(long, env = "SUNDAY_RATE_WS_FRAMES", default_value_t = 200, global = true)]
    rate_ws_frames: u32,
    /// WebSocket connections one user may hold open at once in a process; 0: no cap.
    #[arg(long, env = "SUNDAY_WS_MAX_SOCKETS_PER_USER", default_value_t = 64, global = true)]
    ws_max_sockets_per_user: usize,
}

#[derive(Subcommand)]
enum Role {
    /// Every role in one process (the default).
    All,
    /// The command API only.
    CommandApi,
    /// The projector only (`rebuild`: rebuild every read model from the log).
    Projector(ProjectorArgs),
    /// The query API only.
    QueryApi,
    /// The realtime gateway only (`/v1/ws`).
    Gateway,
    /// Apply the database migrations and exit.
    Migrate,
    /// Print a development JWT for a user.
    Token(TokenArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(BenchKind),
}

#[derive(Subcommand)]
enum BenchKind {
    /// Single-event commands through the HTTP API at several concurrency levels.
    Commands(bench::CommandBench),
    /// Cached board reads and filtered listings of a large board.
    Reads(bench::ReadBench),
    /// Projection lag under a steady command rate.
    Lag(bench::LagBench),
    /// Realtime delivery: many sockets over many boards, commands at fixed rates.
    Ws(bench_ws::WsBench),
    /// The blueprint's API scenarios: weighted mix, think time, ramping/stress/spike stages.
    Api(bench_api::ApiBench),
}

#[derive(Args)]
struct ProjectorArgs {
    #[command(subcommand)]
    action: Option<ProjectorAction>,
}

#[derive(Subcommand)]
enum ProjectorAction {
    /// Rebuild every read model from the log into fresh tables, then swap them in.
    Rebuild,
}

#[derive(Args)]
struct TokenArgs {
    /// The user the token is for (a new UUID when omitted).
    #[arg(long)]
    user: Option<Uuid>,
    /// Display name claim.
    #[arg(long)]
    name: Option<String>,
    /// Lifetime in hours.
    #[arg(long, default_value_t = 24)]
    hours: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init()?;
    let cli = Cli::parse();
    match cli.command.unwrap_or(Role::All) {
        Role::All => serve(&cli.common, Roles::ALL).await,
        Role::CommandApi => serve(&cli.common, Roles { commands: true, ..Roles::NONE }).await,
        Role::QueryApi => serve(&cli.common, Roles { queries: true, ..Roles::NONE }).await,
        Role::Gateway => serve(&cli.common, Roles { gateway: true, ..Roles::NONE }).await,
        Role::Projector(ProjectorArgs { action: None }) => serve(&cli.common, Roles { projector: true, ..Roles::NONE }).await,
        Role::Projector(ProjectorArgs { action: Some(ProjectorAction::Rebuild) }) => rebuild(&cli.common).await,
        Role::Migrate => migrate(&cli.common).await,
        Role::Token(t) => {
            token(&cli.common, &t);
            Ok(())
        }
        Role::Bench(BenchKind::Commands(b)) => bench::run(&b, &cli.common.jwt_secret).await,
        Role::Bench(BenchKind::Reads(b)) => bench::run_reads(&b, &cli.common.jwt_secret).await,
        Role::Bench(BenchKind::Lag(b)) => bench::run_lag(&b, &cli.common.jwt_secret).await,
        Role::Bench(BenchKind::Ws(b)) => bench_ws::run(&b, &cli.common.jwt_secret).await,
        Role::Bench(BenchKind::Api(b)) => bench_api::run(&b, &cli.common.jwt_secret).await,
    }
}

async fn connect(common: &Common) -> anyhow::Result<sqlx::PgPool> {
    let url = common.database_url.as_deref().context("DATABASE_URL is not set (ops/run sets it for you)")?;
    PgEventStore::connect(url, common.db_max_connections).await.context("connecting to PostgreSQL")
}

async fn migrate(common: &Common) -> anyhow::Result<()> {
    let pool = connect(common).await?;
    MIGRATOR.run(&pool).await.context("running migrations")?;
    PgEventStore::new(pool).keep_positions_growing().await.context("keeping log positions growing")?;
    tracing::info!("migrations applied");
    Ok(())
}

/// Serves the chosen roles until SIGTERM or Ctrl-C.
async fn serve(common: &Common, roles: Roles) -> anyhow::Result<()> {
    let pool = connect(common).await?;
    MIGRATOR.run(&pool).await.context("running migrations")?;
    if common.jwt_secret == "dev-secret-change-me" {
        tracing::warn!("SUNDAY_JWT_SECRET is not set: using the development secret");
    }
    sunday_eventstore::stats::set_slow_query_threshold(std::time::Duration::from_millis(common.slow_query_ms));
    let store = PgEventStore::new(pool);
    store.keep_positions_growing().await.context("keeping log positions growing")?;
    let base = base_options(common)?;
    sunday_projector::prepare(&store, base.clone()).await.context("preparing the read models")?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let tasks = sunday_runtime::Tasks::new();
    let feed = sunday_projector::Feed::new();
    let nats = match &common.nats_url {
        Some(url) => Some(connect_nats(url, roles).await?),
        None => None,
    };
    let mut publisher = None;
    if let (Some(client), true) = (&nats, roles.projector) {
        sunday_projector::announce::publish(&feed, client.clone(), &common.nats_prefix);
        // An ack lost with its NATS node fails the batch after 2 s (not the
        // client's 5 s), and the publisher goes on from its checkpoint.
        let js = async_nats::jetstream::ContextBuilder::new().timeout(std::time::Duration::from_secs(2)).build(client.clone());
        publisher = Some(sunday_relay::spawn(&tasks, store.clone(), js, common.nats_prefix.clone(), common.nats_replicas.into(), stop.clone()));
    }
    let mut app = axum::Router::new();
    let commands = AppState::new(command_config(common), store.clone());
    let commands_limits = commands.limits.clone();
    if roles.commands {
        spawn_housekeeping(&commands, &tasks);
        app = app.merge(sunday_command_api::routes(commands.clone()));
    }
    let reads = match roles.queries || roles.gateway {
        true => Some(read_pool(common, base.clone()).await?),
        false => None,
    };
    let mut queries = None;
    if let (true, Some(reads)) = (roles.queries, &reads) {
        let state = match common.database_read_url.is_some() {
            true => sunday_query_api::QueryState::on_replica(query_config(common), reads.clone()),
            false => sunday_query_api::QueryState::new(query_config(common), reads.clone()),
        };
        queries = Some(state.clone());
        if roles.projector {
            state.follow_feed(&feed);
        } else if let Some(client) = &nats {
            state.follow_nats(client, &common.nats_prefix).await.context("subscribing to invalidations")?;
        }
        state.poll_checkpoint(std::time::Duration::from_secs(1), &tasks);
        app = app.merge(sunday_query_api::routes(state));
    }
    let mut pools = vec![("events", store.pool().clone())];
    if let Some(r) = &reads {
        pools.push(("reads", r.clone()));
    }
    let gateway = match (roles.gateway, reads) {
        (true, Some(reads)) => Some(start_gateway(common, &store, commands, reads, nats.as_ref(), &tasks).await?),
        _ => None,
    };
    if let Some(g) = &gateway {
        app = app.merge(g.routes());
    }
    let mut projector = None;
    if roles.projector {
        let config = sunday_projector::Config {
            batch_size: common.projector_batch,
            activity_retention_months: common.activity_retention_months,
        };
        let pool = sunday_projector::schema::writer_pool(base.clone(), 4).await?;
        let p = sunday_projector::Projector { store: store.clone(), pool, config, feed: feed.clone() };
        projector = Some(sunday_projector::spawn(&tasks, p, stop.clone()));
    }
    let read_models = sunday_projector::schema::pool(base.clone(), sunday_projector::schema::LIVE, 2).await?;
    let projection = roles.projector.then(|| (read_models.clone(), common.ready_max_lag));
    let replica = queries.clone().filter(|q| q.replica_lag().is_some());
    let health = health::Health { pool: store.pool().clone(), nats: nats.clone(), projection, tasks: tasks.clone(), replica };
    let app = sunday_command_api::with_fallbacks(app.merge(health::routes(health)));
    let app = app.layer(axum::middleware::from_fn(sunday_command_api::trace_requests));
    let command_limits = roles.commands.then(|| commands_limits.clone());
    let sources = metrics::Sources { read_models: Some(read_models), gateway: gateway.clone(), queries, pools, command_limits, tasks };
    let app = metrics::instrument(app, metrics::Metrics::new(sources));
    let listener = tokio::net::TcpListener::bind(common.listen).await.with_context(|| format!("binding {}", common.listen))?;
    // Answers go out at once rather than waiting on Nagle's algorithm.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    tracing::info!(address = %common.listen, "sunday is listening");
    let stopping = async move {
        shutdown_signal().await;
        if let Some(g) = gateway {
            g.shutdown(std::time::Duration::from_secs(2)).await;
        }
    };
    axum::serve(listener, app).with_graceful_shutdown(stopping).await?;
    let _ = stop_tx.send(true);
    if let Some(p) = projector {
        p.await.context("projector task")?;
    }
    if let Some(p) = publisher {
        p.await.context("publisher task")?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The realtime gateway, on NATS when configured, else on the in-process bus.
async fn start_gateway(
    common: &Common,
    store: &PgEventStore,
    commands: AppState,
    reads: sqlx::PgPool,
    nats: Option<&async_nats::Client>,
    tasks: &sunday_runtime::Tasks,
) -> anyhow::Result<sunday_realtime_gateway::Gateway> {
    let config = sunday_realtime_gateway::Config {
        jwt_secret: Secret::new(common.jwt_secret.clone()),
        batch_window: std::time::Duration::from_millis(common.ws_batch_ms),
        queue_frames: common.ws_queue,
        heartbeat: std::time::Duration::from_secs(common.ws_heartbeat_secs.max(1)),
        rate_limits: rate_limits(common),
        max_sockets_per_user: common.ws_max_sockets_per_user,
        ..sunday_realtime_gateway::Config::default()
    };
    let bus = match nats {
        Some(client) => sunday_realtime_gateway::Bus::Nats { client: client.clone(), prefix: common.nats_prefix.clone() },
        None => sunday_realtime_gateway::Bus::Log,
    };
    Ok(sunday_realtime_gateway::Gateway::start(config, store.clone(), commands, reads, bus, tasks).await?)
}

async fn rebuild(common: &Common) -> anyhow::Result<()> {
    let pool = connect(common).await?;
    MIGRATOR.run(&pool).await.context("running migrations")?;
    let store = PgEventStore::new(pool);
    store.keep_positions_growing().await.context("keeping log positions growing")?;
    sunday_projector::rebuild(&store, base_options(common)?, &sunday_projector::Progress::bar()).await?;
    eprintln!();
    Ok(())
}

fn base_options(common: &Common) -> anyhow::Result<sqlx::postgres::PgConnectOptions> {
    let url = common.database_url.as_deref().context("DATABASE_URL is not set (ops/run sets it for you)")?;
    url.parse().context("DATABASE_URL is not a PostgreSQL URL")
}

/// The per-user rates of the settings (each service applies its own kind).
fn rate_limits(common: &Common) -> sunday_edge::Limits {
    use std::num::NonZeroU32;
    sunday_edge::Limits {
        commands: NonZeroU32::new(common.rate_commands),
        reads: NonZeroU32::new(common.rate_reads),
        frames: NonZeroU32::new(common.rate_ws_frames),
    }
}

fn command_config(common: &Common) -> Config {
    Config {
        jwt_secret: Secret::new(common.jwt_secret.clone()),
        board_cache_capacity: common.board_cache,
        idempotency_retention_hours: common.idempotency_hours,
        rate_limits: rate_limits(common),
    }
}

fn query_config(common: &Common) -> sunday_query_api::Config {
    sunday_query_api::Config {
        jwt_secret: Secret::new(common.jwt_secret.clone()),
        min_position_wait: std::time::Duration::from_millis(common.min_position_wait_ms),
        rate_limits: rate_limits(common),
        replica_max_lag: std::time::Duration::from_millis(common.replica_max_lag_ms),
    }
}

/// The pool reads go to: `DATABASE_READ_URL` when set, else the primary's.
async fn read_pool(common: &Common, primary: sqlx::postgres::PgConnectOptions) -> anyhow::Result<sqlx::PgPool> {
    let base = match &common.database_read_url {
        Some(url) => url.parse().context("DATABASE_READ_URL is not a PostgreSQL URL")?,
        None => primary,
    };
    let pool = sunday_projector::schema::pool(base, sunday_projector::schema::LIVE, common.db_max_connections).await;
    pool.context("connecting for reads")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

fn token(common: &Common, t: &TokenArgs) {
    let claims = Claims {
        sub: t.user.unwrap_or_else(Uuid::now_v7),
        exp: chrono::Utc::now().timestamp() + t.hours * 3600,
        name: t.name.clone(),
        email: None,
    };
    println!("{}", mint(&Secret::new(common.jwt_secret.clone()), &claims));
}
