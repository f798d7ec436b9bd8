//! Sunday's query API: every GET of the contract, served from the read models
//! the projector keeps.
//!
//! Each read authorizes against the board's membership (a non-member gets
//! 404), may wait for `X-Sunday-Min-Position` (read-your-writes, 504 when the
//! wait runs out), and answers with an `ETag` (304 on `If-None-Match`) and the
//! read models' checkpoint as `X-Sunday-Position`.

mod access;
mod boards;
pub mod cache;
mod item_json;
mod items;
mod listings;
mod position;
pub mod problem;
mod respond;
pub mod snapshot;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use futures_util::StreamExt;
use sqlx::PgPool;
use sunday_edge::token::Secret;
use sunday_read_models::{Feed, Invalidation};
use tokio::sync::watch;

use crate::cache::BoardCache;

/// Settings of the query API.
#[derive(Clone, Debug)]
pub struct Config {
    /// HS256 secret that bearer tokens are signed with.
    pub jwt_secret: Secret,
    /// Longest wait for `X-Sunday-Min-Position`.
    pub min_position_wait: Duration,
    /// Reads per user and second (`reads`; none by default).
    pub rate_limits: sunday_edge::Limits,
    /// On a replica: the most it may be behind what was heard before reads
    /// answer 503 instead of older data.
    pub replica_max_lag: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            jwt_secret: Secret::new("dev-secret"),
            min_position_wait: DEFAULT_MIN_POSITION_WAIT,
            rate_limits: sunday_edge::Limits::default(),
            replica_max_lag: Duration::from_secs(5),
        }
    }
}

/// What every read handler shares: one `Arc`, so handing it to a request
/// costs one atomic increment.
#[derive(Clone)]
pub struct QueryState(Arc<Shared>);

impl std::ops::Deref for QueryState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of a `QueryState`.
pub struct Shared {
    pub config: Config,
    /// Where reads go (a replica when `DATABASE_READ_URL` is set).
    pub pool: PgPool,
    /// The read models' checkpoint as this instance knows it.
    pub(crate) position: watch::Receiver<i64>,
    advance: watch::Sender<i64>,
    pub(crate) cache: BoardCache,
    pub(crate) tokens: respond::VerifiedTokens,
    tracker: position::Tracker,
    /// Per-user read rate limits.
    pub limits: sunday_edge::RateLimits,
}

/// How many board answers an instance caches.
const BOARD_CACHE: usize = 10_000;

impl QueryState {
    /// A query API that knows of no checkpoint yet: connect it to the
    /// projector with `follow_feed` (same process) or `follow_nats`, and
    /// `poll_checkpoint` as the safety net.
    pub fn new(config: Config, pool: PgPool) -> Self {
        Self::build(config, pool, false)
    }

    /// A query API whose pool reads a replica (`DATABASE_READ_URL`): the
    /// position it waits on and reports is what the replica has replayed
    /// (run `poll_checkpoint`, which follows it).
    pub fn on_replica(config: Config, pool: PgPool) -> Self {
        Self::build(config, pool, true)
    }

    fn build(config: Config, pool: PgPool, replica: bool) -> Self {
        let (advance, position) = watch::channel(0);
        let tokens = respond::VerifiedTokens::new(BOARD_CACHE);
        let tracker = position::Tracker::new(replica);
        let limits = sunday_edge::RateLimits::new(config.rate_limits);
        Self(Arc::new(Shared { config, pool, position, advance, cache: BoardCache::new(BOARD_CACHE), tokens, tracker, limits }))
    }

    /// How far behind what was heard the replica reads come from is (zero
    /// when it has replayed every batch heard); `None` on the primary.
    pub fn replica_lag(&self) -> Option<Duration> {
        self.tracker.replica_lag()
    }

    /// Board-cache lookups so far: (hits, misses).
    pub fn cache_counts(&self) -> (u64, u64) {
        self.cache.counts()
    }

    /// Listings-cache lookups so far: (hits, misses).
    pub fn list_cache_counts(&self) -> (u64, u64) {
        self.cache.list_counts()
    }

    /// Listings cached and the bytes they take.
    pub fn list_cache_size(&self) -> (usize, usize) {
        self.cache.list_size()
    }

    fn raise(&self, position: i64) {
        self.advance.send_if_modified(|p| {
            let moved = position > *p;
            *p = (*p).max(position);
            moved
        });
    }

    /// Follows the projector of this process.
    pub fn follow_feed(&self, feed: &Feed) {
        let me = self.clone();
        feed.on_advance(Arc::new(move |inv: &Invalidation| me.apply(inv)));
    }

    /// Follows projectors of other processes through NATS.
    pub async fn follow_nats(&self, client: &async_nats::Client, prefix: &str) -> Result<(), async_nats::SubscribeError> {
        let mut sub = client.subscribe(sunday_read_models::announce::subject(prefix)).await?;
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                match serde_json::from_slice::<Invalidation>(&msg.payload) {
                    Ok(inv) => me.apply(&inv),
                    Err(e) => tracing::warn!(error = %e, "unreadable invalidation"),
                }
            }
        });
        Ok(())
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
        .route("/v1/workspaces/{id}/webhooks", get(webhooks::list))
        .route("/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
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
