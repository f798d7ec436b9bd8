//! Sunday's command API: the write side over HTTP.
//!
//! Handlers parse a request into a command and hand it to `commands`, which
//! knows no transport: it loads the aggregate (through a bounded cache),
//! decides, and appends with an expected version. `respond` turns its answer
//! into `{data: {id, version, position}}` with `ETag` and `X-Sunday-Position`;
//! errors are rendered once, as problem+json, in `problem`.

pub mod aggregates;
pub mod auth;
pub mod command;
pub mod commands;
pub mod extract;
mod plan;
pub mod problem;
pub mod respond;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use sunday_domain::store::EventStore;
use sunday_eventstore::PgEventStore;

use sunday_edge::token::Secret;

use crate::aggregates::{Aggregates, StreamLocks};
use crate::commands::Commands;
use crate::problem::ApiError;

/// Settings of the command API.
#[derive(Clone, Debug)]
pub struct Config {
    /// HS256 secret that bearer tokens are signed with.
    pub jwt_secret: Secret,
    /// How many boards the aggregate cache holds.
    pub board_cache_capacity: usize,
    /// Idempotency keys older than this many hours are deleted (at least 24).
    pub idempotency_retention_hours: i32,
    /// Commands per user and second (`commands`; none by default).
    pub rate_limits: sunday_edge::Limits,
    /// What webhook secrets are derived from (`SUNDAY_WEBHOOK_KEY`).
    pub webhook_key: sunday_webhooks::WebhookKey,
    /// Which addresses a webhook's URL may lead to.
    pub webhook_addresses: sunday_webhooks::AddressPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            jwt_secret: Secret::new("dev-secret"),
            board_cache_capacity: 1024,
            idempotency_retention_hours: 48,
            rate_limits: sunday_edge::Limits::default(),
            webhook_key: sunday_webhooks::WebhookKey::new("dev-webhook-key"),
            webhook_addresses: sunday_webhooks::AddressPolicy::default(),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// How every command runs.
    pub commands: Commands,
    /// Per-user command rate limits.
    pub limits: Arc<sunday_edge::RateLimits>,
    pg: PgEventStore,
}

impl AppState {
    /// The event store's pool (for the few writes beside the log, such as a
    /// webhook replay's request).
    pub fn event_pool(&self) -> &sqlx::PgPool {
        self.pg.pool()
    }

    pub fn new(config: Config, store: PgEventStore) -> Self {
        let foreign: Arc<dyn aggregates::ForeignWrites> = store.notifier().clone();
        Self::with_foreign_writes(config, store, foreign)
    }

    /// Like `new`, with another source of "someone else wrote" marks (tests use
    /// one that never moves, to show that guards alone keep decisions right).
    pub fn with_foreign_writes(config: Config, store: PgEventStore, foreign: Arc<dyn aggregates::ForeignWrites>) -> Self {
        let dyn_store: Arc<dyn EventStore> = Arc::new(store.clone());
        let aggregates = Arc::new(Aggregates::new(dyn_store.clone(), foreign, config.board_cache_capacity));
        let limits = Arc::new(sunday_edge::RateLimits::new(config.rate_limits));
        let commands = Commands { store: dyn_store, aggregates, locks: Arc::new(StreamLocks::new(1024)) };
        Self { config: Arc::new(config), commands, limits, pg: store }
    }
}

/// The command API on its own: its routes, health endpoints, and problem+json
/// answers for unknown routes and methods.
pub fn router(state: AppState) -> Router {
    let health = Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(ready)).with_state(state.clone());
    with_fallbacks(routes(state).merge(health))
}

/// The command routes, to be composed with other roles' routes (the binary
/// adds health endpoints for all roles).
pub fn routes(state: AppState) -> Router {
    Router::new().merge(routes::router()).with_state(state)
}

/// Runs every request in an `http_request` span that continues the caller's
/// trace (`traceparent` header), named by method and route template, so the
/// events a command appends carry the request's trace (see
/// `sunday_runtime::telemetry`).
pub async fn trace_requests(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use tracing::Instrument;
    let route = req.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = req.method().clone();
    // Debug level: with no trace exporter and the default `info` log filter the
    // span is never created, so requests pay nothing for it.
    let span = tracing::debug_span!(
        "http_request",
        otel.name = %format_args!("{method} {route}"),
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    let parent = req.headers().get("traceparent").and_then(|v| v.to_str().ok());
    sunday_runtime::telemetry::follow(&span, parent);
    let response = next.run(req).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// Adds problem+json answers for unknown routes (404) and methods (405).
pub fn with_fallbacks(router: Router) -> Router {
    router.fallback(|| async { ApiError::NotFound("route") }).method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

/// Ready when the database answers.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match sqlx::query("SELECT 1").execute(state.pg.pool()).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// Deletes expired idempotency keys once an hour (task `housekeeping`, which
/// readiness does not wait on: a failed round is tried again next hour).
pub fn spawn_housekeeping(state: &AppState, tasks: &sunday_runtime::Tasks) {
    let store = state.pg.clone();
    let hours = state.config.idempotency_retention_hours.max(24);
    let task = tasks.register("housekeeping", false);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match store.expire_idempotency_keys(hours).await {
                Ok(n) => {
                    tracing::debug!(deleted = n, "expired idempotency keys");
                    task.running();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not expire idempotency keys");
                    task.failing(&e);
                }
            }
        }
    });
}
