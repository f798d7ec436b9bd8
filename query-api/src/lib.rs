//! Sunday's query API: every GET of the contract, served from the read models
//! the projector keeps.
//!
//! Each read authorizes against the board's membership (a non-member gets
//! 404), may wait for `X-Sunday-Min-Position` (read-your-writes, 504 when the
//! wait runs out), and answers with an `ETag` (304 on `If-None-Match`) and the
//! read models' checkpoint as `X-Sunday-Position`.

mod access;
mod boards;
mod items;
pub mod problem;
mod respond;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sqlx::PgPool;
use sunday_domain::token::Secret;
use tokio::sync::watch;

/// Settings of the query API.
#[derive(Clone, Debug)]
pub struct Config {
    /// HS256 secret that bearer tokens are signed with.
    pub jwt_secret: Secret,
    /// Longest wait for `X-Sunday-Min-Position`.
    pub min_position_wait: Duration,
}

/// What every read handler shares.
#[derive(Clone)]
pub struct QueryState {
    pub config: std::sync::Arc<Config>,
    /// Where reads go (a replica when `DATABASE_READ_URL` is set).
    pub pool: PgPool,
    /// The read models' checkpoint.
    pub position: watch::Receiver<i64>,
}

impl QueryState {
    pub fn new(config: Config, pool: PgPool, position: watch::Receiver<i64>) -> Self {
        Self { config: std::sync::Arc::new(config), pool, position }
    }
}

/// Every GET route of the API (compose with `command_api::with_fallbacks`
/// for problem+json answers to unknown routes).
pub fn routes(state: QueryState) -> Router {
    Router::new()
        .route("/v1/workspaces", get(boards::workspaces))
        .route("/v1/boards", get(boards::list))
        .route("/v1/boards/{id}", get(boards::get))
        .route("/v1/boards/{id}/items", get(items::board_items))
        .route("/v1/boards/{id}/statistics", get(boards::statistics))
        .route("/v1/boards/{id}/activity", get(boards::activity))
        .route("/v1/items", get(items::items))
        .route("/v1/items/{id}", get(items::get))
        .route("/v1/items/{id}/comments", get(items::comments))
        .route("/v1/items/{id}/activity", get(items::activity))
        .route("/v1/files", get(items::files))
        .with_state(state)
}

/// Splits `limit + 1` fetched rows into a page and the cursor of the next one
/// (`None` on the last page).
pub(crate) fn page<T>(mut rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(cursor);
    (rows, next)
}

pub use respond::DEFAULT_MIN_POSITION_WAIT;
