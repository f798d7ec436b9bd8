//! The `sunday` binary: one executable whose subcommands run every role.

mod health;
mod metrics;
mod roles;
mod scrape;
mod settings;
mod telemetry;

/// mimalloc: fewer cycles per request than glibc's allocator under many small allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sunday_command_api::{AppState, spawn_housekeeping};
use sunday_edge::token::{Claims, Secret, mint};
use sunday_eventstore::{MIGRATOR, PgEventStore};
use uuid::Uuid;

use roles::{Roles, connect_nats};
use settings::{Common, base_options, command_config, query_config, rate_limits, read_pool};

#[derive(Parser)]
#[command(name = "sunday", version, about = "Sunday: event-sourced work management backend")]
struct Cli {
    #[command(subcommand)]
    command: Option<Role>,
    #[command(flatten)]
    common: Common,
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
    /// The realtime gateway only (`/v1/ws` and the change feeds).
    Gateway,
    /// The webhook dispatcher only (one is active at a time; others wait to take over).
    Webhooks,
    /// Apply the database migrations and exit.
    Migrate,
    /// Print a development JWT for a user.
    Token(TokenArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(sunday_loadgen::Bench),
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
    // Every HTTP client of the process (the webhook dispatcher's, the OTLP
    // exporter's) does TLS with rustls on ring, installed once, first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _telemetry = telemetry::init()?;
    let cli = Cli::parse();
    match cli.command.unwrap_or(Role::All) {
        Role::All => serve(&cli.common, Roles::ALL).await,
        Role::CommandApi => serve(&cli.common, Roles { commands: true, ..Roles::NONE }).await,
        Role::QueryApi => serve(&cli.common, Roles { queries: true, ..Roles::NONE }).await,
        Role::Gateway => serve(&cli.common, Roles { gateway: true, ..Roles::NONE }).await,
        Role::Webhooks => serve(&cli.common, Roles { webhooks: true, ..Roles::NONE }).await,
        Role::Projector(ProjectorArgs { action: None }) => serve(&cli.common, Roles { projector: true, ..Roles::NONE }).await,
        Role::Projector(ProjectorArgs { action: Some(ProjectorAction::Rebuild) }) => rebuild(&cli.common).await,
        Role::Migrate => migrate(&cli.common).await,
        Role::Token(t) => {
            token(&cli.common, &t);
            Ok(())
        }
        Role::Bench(b) => sunday_loadgen::run(&b, &cli.common.jwt_secret).await,
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
    if common.webhook_key == "dev-webhook-key-change-me" {
        tracing::warn!("SUNDAY_WEBHOOK_KEY is not set: webhook secrets are derived from the development key");
    }
    if common.jwt_secret == "dev-secret-change-me" {
        tracing::warn!("SUNDAY_JWT_SECRET is not set: using the development secret");
    }
    sunday_runtime::stats::set_slow_query_threshold(std::time::Duration::from_millis(common.slow_query_ms));
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
        publisher =
            Some(sunday_relay::spawn(&tasks, store.clone(), js, common.nats_prefix.clone(), common.nats_replicas.into(), stop.clone()));
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
        let config =
            sunday_projector::Config { batch_size: common.projector_batch, activity_retention_months: common.activity_retention_months };
        let pool = sunday_projector::schema::writer_pool(base.clone(), 4).await?;
        let p = sunday_projector::Projector { store: store.clone(), pool, config, feed: feed.clone() };
        projector = Some(sunday_projector::spawn(&tasks, p, stop.clone()));
    }
    let webhook_metrics = std::sync::Arc::new(sunday_webhooks::Metrics::default());
    let dispatcher = roles
        .webhooks
        .then(|| sunday_webhooks::spawn(&tasks, store.clone(), settings::webhook_config(common), webhook_metrics.clone(), stop.clone()));
    let read_models = sunday_projector::schema::pool(base.clone(), sunday_projector::schema::LIVE, 2).await?;
    let projection = roles.projector.then(|| (read_models.clone(), common.ready_max_lag));
    let replica = queries.clone().filter(|q| q.replica_lag().is_some());
    let health = health::Health { pool: store.pool().clone(), nats: nats.clone(), projection, tasks: tasks.clone(), replica };
    let app = sunday_command_api::with_fallbacks(app.merge(health::routes(health)));
    let app = app.layer(axum::middleware::from_fn(sunday_command_api::trace_requests));
    let command_limits = roles.commands.then(|| commands_limits.clone());
    let webhooks = roles.webhooks.then(|| (webhook_metrics, store.pool().clone()));
    let sources =
        scrape::Sources { read_models: Some(read_models), gateway: gateway.clone(), queries, pools, command_limits, tasks, webhooks };
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
    // As a make-service, each connection gets a clone of the router (an `Arc`);
    // a plain `Router` is rebuilt per connection (its route table copied: 14
    // KiB held by every long-lived connection, each change-feed stream's).
    axum::serve(listener, app.into_make_service()).with_graceful_shutdown(stopping).await?;
    let _ = stop_tx.send(true);
    if let Some(p) = projector {
        p.await.context("projector task")?;
    }
    if let Some(p) = publisher {
        p.await.context("publisher task")?;
    }
    if let Some(d) = dispatcher {
        d.await.context("webhook dispatcher task")?;
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
    Ok(sunday_realtime_gateway::Gateway::start(config, store.clone(), commands.commands, reads, bus, tasks).await?)
}

async fn rebuild(common: &Common) -> anyhow::Result<()> {
    let pool = connect(common).await?;
    MIGRATOR.run(&pool).await.context("running migrations")?;
    let store = PgEventStore::new(pool);
    store.keep_positions_growing().await.context("keeping log positions growing")?;
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template("rebuild [{bar:20}] {pos}/{len} events ({percent}%) {per_sec} {elapsed}");
    bar.set_style(style.unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()).progress_chars("#>-"));
    let shown = bar.clone();
    let progress = sunday_projector::Progress::new(move |done, total, _rate| {
        shown.set_length(total);
        shown.set_position(done);
    });
    sunday_projector::rebuild(&store, base_options(common)?, &progress).await?;
    bar.finish();
    Ok(())
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
