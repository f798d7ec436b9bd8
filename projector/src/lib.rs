//! Sunday's projector: follows the event log from its checkpoint and keeps the
//! PostgreSQL read models that the query API serves.
//!
//! Events are applied in batches, each in one transaction that also moves the
//! checkpoint, so a crash at any point neither loses nor double-applies an
//! event. After each commit the projector announces the new checkpoint and the
//! boards it touched on its `Feed`, for read-your-writes waits and cache
//! eviction.

mod apply;
pub mod feed;
mod partitions;

use std::time::Duration;

use sqlx::PgPool;
use sunday_domain::store::{Position, RecordedEvent, StoreError};
use sunday_eventstore::PgEventStore;
use tokio::sync::watch;

pub use feed::{Feed, Invalidation};

/// The checkpoint name of the read models.
pub const PROJECTION: &str = "read_models";

/// Settings of the projector.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most events applied in one transaction.
    pub batch_size: usize,
    /// Months of activity kept; older monthly partitions are dropped.
    pub activity_retention_months: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { batch_size: 1000, activity_retention_months: 24 }
    }
}

/// Why projecting stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("read-model write failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// The checkpoint of the read models (0 before the first event).
pub async fn checkpoint(pool: &PgPool) -> Result<Position, sqlx::Error> {
    let p: Option<i64> = sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = $1")
        .bind(PROJECTION)
        .fetch_optional(pool)
        .await?;
    Ok(p.unwrap_or(0))
}

/// Applies one batch of events and moves the checkpoint, in one transaction.
pub async fn apply_batch(pool: &PgPool, events: &[RecordedEvent]) -> Result<Invalidation, ProjectorError> {
    let mut tx = pool.begin().await?;
    partitions::ensure_for(&mut tx, events).await?;
    let mut touched = Invalidation::default();
    for e in events {
        apply::apply(&mut tx, e).await?;
        touched.note(e);
    }
    if let Some(last) = events.last() {
        sqlx::query(
            "INSERT INTO projection_checkpoints (name, position) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
        )
        .bind(PROJECTION)
        .bind(last.position)
        .execute(&mut *tx)
        .await?;
        touched.position = last.position;
    }
    tx.commit().await?;
    Ok(touched)
}

/// Runs the projector until `stop` turns true: catch up from the checkpoint,
/// then follow the log live.
pub async fn run(store: PgEventStore, config: Config, feed: Feed, mut stop: watch::Receiver<bool>) -> Result<(), ProjectorError> {
    let pool = store.pool().clone();
    let start = checkpoint(&pool).await?;
    feed.advance(Invalidation { position: start, ..Invalidation::default() });
    partitions::maintain(&pool, config.activity_retention_months).await?;
    let mut tail = store.tail(start, config.batch_size);
    tracing::info!(checkpoint = start, "projector started");
    loop {
        let batch = tokio::select! {
            batch = tail.next_batch() => batch?,
            _ = stop.changed() => return Ok(()),
        };
        let touched = apply_with_retry(&pool, &batch).await?;
        feed.advance(touched);
    }
}

/// Retries a batch whose transaction failed for a passing reason (a lost
/// connection), since the checkpoint did not move.
async fn apply_with_retry(pool: &PgPool, batch: &[RecordedEvent]) -> Result<Invalidation, ProjectorError> {
    let mut wait = Duration::from_millis(50);
    for _ in 0..5 {
        match apply_batch(pool, batch).await {
            Ok(t) => return Ok(t),
            Err(ProjectorError::Database(e)) if is_transient(&e) => {
                tracing::warn!(error = %e, "projection batch failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(e),
        }
    }
    apply_batch(pool, batch).await
}

fn is_transient(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
}
