//! Sunday's projector: follows the event log from its checkpoint and keeps the
//! PostgreSQL read models that the query API serves.
//!
//! Events are applied in batches, each in one transaction that also moves the
//! checkpoint, so a crash at any point neither loses nor double-applies an
//! event. After each commit the projector announces the new checkpoint and the
//! boards it touched on its `Feed`, for read-your-writes waits and cache
//! eviction.

mod activity;
mod apply;
mod boards;
mod comments;
mod item_events;
mod items;
mod members;
mod outcome;
mod partitions;
mod rebuild;
pub mod schema;
mod stats;
mod webhooks;
mod workspaces;

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use sunday_domain::store::{EventStore, Position, RecordedEvent, StoreError};
use sunday_eventstore::PgEventStore;
use sunday_runtime::{Leadership, Task};
use tokio::sync::watch;
use tracing::Instrument;

pub use rebuild::{Progress, rebuild};
pub use sunday_read_models::{Feed, Invalidation, PROJECTION, announce, checkpoint, feed};

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
    /// The leader lock's connection failed: another process may lead now.
    #[error("lost the projector's leadership: {0}")]
    LeadershipLost(String),
    /// Another projector moved the checkpoint: this one's batch was not applied.
    #[error("the checkpoint is at {found}, not at {expected}: another projector wrote")]
    Fenced { expected: Position, found: Position },
    /// An event's write changed nothing it was meant to: the batch is not
    /// committed, and projecting stops there rather than drop the event.
    #[error("{event_type} at position {position} changed nothing in {table}: the read models disagree with the log")]
    Unapplied { event_type: &'static str, position: Position, table: &'static str },
}

impl From<outcome::ApplyError> for ProjectorError {
    fn from(e: outcome::ApplyError) -> Self {
        match e {
            outcome::ApplyError::Database(e) => Self::Database(e),
            outcome::ApplyError::Unapplied { event_type, position, table } => {
                UNAPPLIED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(event_type, position, table, "an event changed nothing in the read models; projection stops here");
                Self::Unapplied { event_type, position, table }
            }
        }
    }
}

/// Batches refused because an event changed nothing it was meant to
/// (`sunday_projection_unapplied_events_total`).
static UNAPPLIED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times applying an event changed nothing it was meant to, in this process.
pub fn unapplied_events() -> u64 {
    UNAPPLIED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The advisory lock that elects the one active projector.
const LEADER_LOCK: i64 = sunday_runtime::leader::locks::PROJECTOR;

/// How far the read models are behind the log.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Lag {
    /// Events of the log not yet projected.
    pub events: i64,
    /// Age of the oldest of them, in seconds (0 when caught up).
    pub seconds: f64,
}

/// The read models' lag; `pool` must find them (see `schema::pool`).
pub async fn lag(pool: &PgPool) -> Result<Lag, sqlx::Error> {
    let (events, seconds): (i64, f64) = sqlx::query_as(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(e.occurred_at))::float8, 0) FROM events e \
         WHERE e.position > coalesce((SELECT position FROM projection_checkpoints WHERE name = $1), 0)",
    )
    .bind(PROJECTION)
    .fetch_one(pool)
    .await?;
    Ok(Lag { events, seconds })
}

/// Applies one batch of events and moves the checkpoint from `from`, in one
/// transaction. Takes two of `pool`'s connections at once: the batch's, and
/// one to announce that the batch never appends (so `pool` needs two). The checkpoint row is locked and compared first, so a batch is
/// never applied twice even if two projectors run (`Fenced`).
pub async fn apply_batch(pool: &PgPool, from: Position, events: &[RecordedEvent]) -> Result<Invalidation, ProjectorError> {
    sunday_runtime::stats::timed("projection_batch", "read_models", apply_in_transaction(pool, from, events)).await
}

async fn apply_in_transaction(pool: &PgPool, from: Position, events: &[RecordedEvent]) -> Result<Invalidation, ProjectorError> {
    let mut tx = pool.begin().await?;
    let to = events.last().map_or(from, |e| e.position);
    let xid = claim(&mut tx, from, to).await?;
    // The batch never appends: log tails (the gateway's, the next batch's)
    // need not wait for it, however long it takes.
    sunday_eventstore::announce_never_appends(pool, xid).await?;
    partitions::ensure_for(&mut tx, events).await?;
    let mut touched = Invalidation { position: to, previous: from, ..Invalidation::default() };
    let mut deferred = apply::Deferred::default();
    for e in events {
        let span = tracing::debug_span!("project", event_type = e.event.event_type(), position = e.position);
        sunday_runtime::telemetry::follow(&span, e.metadata.traceparent.as_deref());
        apply::apply(&mut tx, &mut deferred, e).instrument(span).await?;
        touched.note(e);
    }
    deferred.flush(&mut tx).await?;
    tx.commit().await?;
    Ok(touched)
}

/// Moves the checkpoint from `from` to `to` as the batch's first statement:
/// the row stays locked until the batch commits, so a second projector's
/// batch from the same position waits, then finds it moved (`Fenced`). One
/// statement in the usual case; the first batch creates the row. Returns the
/// batch's transaction id, which the update gave it.
async fn claim(tx: &mut PgConnection, from: Position, to: Position) -> Result<i64, ProjectorError> {
    let sql = format!(
        "UPDATE projection_checkpoints SET position = $3, updated_at = now() WHERE name = $1 AND position = $2 RETURNING {}",
        sunday_eventstore::CURRENT_XID
    );
    if let Some(xid) = sqlx::query_scalar(&sql).bind(PROJECTION).bind(from).bind(to).fetch_optional(&mut *tx).await? {
        return Ok(xid);
    }
    sqlx::query("INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0) ON CONFLICT DO NOTHING")
        .bind(PROJECTION)
        .execute(&mut *tx)
        .await?;
    let found: i64 = sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
        .bind(PROJECTION)
        .fetch_one(&mut *tx)
        .await?;
    if found != from {
        return Err(ProjectorError::Fenced { expected: from, found });
    }
    Ok(sqlx::query_scalar(&sql).bind(PROJECTION).bind(from).bind(to).fetch_one(&mut *tx).await?)
}

/// Makes sure the live read models exist and are of this build's version:
/// creates them in an empty database, rebuilds them when their shape changed.
/// Processes starting together take turns (an advisory lock), so only the
/// first one creates or rebuilds.
pub async fn prepare(store: &PgEventStore, base: PgConnectOptions) -> Result<(), ProjectorError> {
    let turn = PrepareTurn::take(&base).await?;
    let result = prepare_alone(store, base).await;
    turn.give_back().await?;
    result
}

/// The lock `prepare` and `rebuild` take turns with.
const PREPARE_LOCK: i64 = sunday_runtime::leader::locks::PREPARE;

/// A turn to create, rebuild or swap the read models: the preparation lock,
/// held by a connection of its own (released with it, should the process die).
pub(crate) struct PrepareTurn(PgConnection);

impl PrepareTurn {
    pub(crate) async fn take(base: &PgConnectOptions) -> Result<Self, sqlx::Error> {
        let mut conn = PgConnection::connect_with(base).await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(PREPARE_LOCK).execute(&mut conn).await?;
        Ok(Self(conn))
    }

    pub(crate) async fn give_back(self) -> Result<(), sqlx::Error> {
        self.0.close().await
    }
}

async fn prepare_alone(store: &PgEventStore, base: PgConnectOptions) -> Result<(), ProjectorError> {
    let pool = schema::pool(base.clone(), schema::LIVE, 2).await?;
    match schema::version(&pool, schema::LIVE).await? {
        Some(v) if v == schema::SCHEMA_VERSION => Ok(()),
        None if store.read_all(0, 1).await?.is_empty() => Ok(schema::create(&pool, schema::LIVE).await?),
        found => {
            tracing::warn!(?found, wanted = schema::SCHEMA_VERSION, "read models are missing or outdated: rebuilding");
            rebuild::rebuild_alone(store, base, &Progress::log()).await
        }
    }
}

/// What a running projector works with.
pub struct Projector {
    pub store: PgEventStore,
    /// On the live read models (see `schema::pool`).
    pub pool: PgPool,
    pub config: Config,
    pub feed: Feed,
}

/// Runs the projector until `stop` turns true or something fails (run it
/// under `sunday_runtime::Tasks::supervise`, which starts it again). It waits
/// to become the one active projector (a PostgreSQL advisory lock held by a
/// connection of its own, released the moment the process dies; a lost lock
/// connection ends the run), then catches up from the checkpoint and follows
/// the log live.
pub async fn run(p: &Projector, stop: &mut watch::Receiver<bool>, task: &Task) -> Result<(), ProjectorError> {
    task.standby();
    let Some(mut leadership) = sunday_runtime::leader::elect(&p.pool.connect_options(), LEADER_LOCK, stop).await? else {
        return Ok(());
    };
    tracing::info!("projector elected");
    partitions::maintain(&p.pool, p.config.activity_retention_months).await?;
    loop {
        match follow(p, stop, &mut leadership, task).await {
            Err(ProjectorError::Fenced { expected, found }) => {
                tracing::warn!(expected, found, "checkpoint moved under us; resuming from it");
            }
            other => return other,
        }
    }
}

/// Runs the projector under `tasks` (task `projector`): whatever ends a run,
/// it starts again after a backoff, re-elected and from its checkpoint.
pub fn spawn(tasks: &sunday_runtime::Tasks, projector: Projector, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let projector = std::sync::Arc::new(projector);
    let watch = stop.clone();
    tasks.supervise("projector", true, watch, move |task| {
        let (p, mut stop) = (projector.clone(), stop.clone());
        async move { run(&p, &mut stop, &task).await }
    })
}

/// Follows the log from the stored checkpoint until stopped, fenced, or no
/// longer the leader.
async fn follow(p: &Projector, stop: &mut watch::Receiver<bool>, leadership: &mut Leadership, task: &Task) -> Result<(), ProjectorError> {
    let mut at = checkpoint(&p.pool).await?;
    p.feed.advance(Invalidation { position: at, previous: at, ..Invalidation::default() });
    let mut tail = p.store.tail(at, p.config.batch_size);
    tracing::info!(checkpoint = at, "projecting");
    task.leading();
    loop {
        let batch = tokio::select! {
            batch = tail.next_batch() => batch?,
            _ = stop.changed() => return Ok(()),
            why = leadership.lost() => return Err(ProjectorError::LeadershipLost(why)),
        };
        let touched = apply_with_retry(&p.pool, at, &batch).await?;
        at = touched.position;
        p.feed.advance(touched);
    }
}

/// Retries a batch whose transaction failed for a passing reason (a lost
/// connection), since the checkpoint did not move.
async fn apply_with_retry(pool: &PgPool, from: Position, batch: &[RecordedEvent]) -> Result<Invalidation, ProjectorError> {
    let mut wait = Duration::from_millis(50);
    for _ in 0..5 {
        match apply_batch(pool, from, batch).await {
            Ok(t) => return Ok(t),
            Err(ProjectorError::Database(e)) if is_transient(&e) => {
                tracing::warn!(error = %e, "projection batch failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(e),
        }
    }
    apply_batch(pool, from, batch).await
}

fn is_transient(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
}
