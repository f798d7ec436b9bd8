//! The PostgreSQL backend of Sunday's event-store port.
//!
//! Appends are one statement (plus the idempotency row when there is one); reads
//! of the whole log stop at the snapshot's oldest running transaction so that no
//! late committer is ever skipped; `LogTail` follows the log live, woken by an
//! in-process signal and by PostgreSQL NOTIFY from other processes.

mod append;
mod batch;
mod notify;
mod read;
mod tail;

use std::sync::Arc;

use sqlx::PgPool;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sunday_domain::store::StoreError;

pub use batch::BatchCounts;
pub use notify::LogNotifier;
pub use read::Horizon;
pub use tail::LogTail;

/// The embedded schema migrations of the database: the event store and the
/// read models share one migration history (`migrations/` at the top level).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The PostgreSQL event store. Cheap to clone.
#[derive(Clone)]
pub struct PgEventStore {
    pool: PgPool,
    notifier: Arc<LogNotifier>,
    batcher: Arc<batch::Batcher>,
}

impl PgEventStore {
    /// A store over `pool`; starts the tasks that batch appends and tell other
    /// processes about them.
    pub fn new(pool: PgPool) -> Self {
        let notifier = Arc::new(LogNotifier::start(pool.clone()));
        let batcher = Arc::new(batch::Batcher::start(pool.clone()));
        Self { pool, notifier, batcher }
    }

    /// Connects a pool of at most `max_connections` to `url`.
    ///
    /// Sessions use generic plans for prepared statements: every statement here
    /// is a fixed text with parameters, and re-planning the append on each
    /// execution (PostgreSQL's custom plans) costs more than running it.
    /// Connections are not pinged before each use (a round trip per query); a
    /// broken one fails its query and is replaced. A session idle inside a
    /// transaction (a request cancelled mid-append) is ended after 5 s, since
    /// an open transaction holds back every reader of the log.
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
        Self::connect_with(PgConnectOptions::from_str(url)?, max_connections).await
    }

    /// `connect` with options already parsed.
    pub async fn connect_with(options: PgConnectOptions, max_connections: u32) -> Result<PgPool, sqlx::Error> {
        PgPoolOptions::new()
            .max_connections(max_connections)
            .test_before_acquire(false)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(session_options(options))
            .await
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How group commit has gone in this store so far.
    pub fn batch_counts(&self) -> &BatchCounts {
        &self.batcher.counts
    }

    /// The signal appends raise; tails wait on it.
    pub fn notifier(&self) -> &Arc<LogNotifier> {
        &self.notifier
    }

    /// Follows the whole log from `after`, live.
    pub fn tail(&self, after: sunday_domain::store::Position, batch: usize) -> LogTail {
        LogTail::new(self.clone(), after, batch)
    }

    /// The horizon: every event below it is final (no transaction that could
    /// still commit one there is open). A reader that has everything below the
    /// horizon and follows a gap-safe tail from `horizon - 1` misses nothing.
    pub async fn horizon(&self) -> Result<sunday_domain::store::Position, StoreError> {
        self.horizon_of(Horizon::Cluster).await
    }

    /// The horizon as `horizon()` or, for a reader already waiting on it, as
    /// this database's transactions alone hold it (see [`Horizon`]).
    pub async fn horizon_of(&self, which: Horizon) -> Result<sunday_domain::store::Position, StoreError> {
        let sql = format!("SELECT {}", which.sql());
        sqlx::query_scalar(&sql).fetch_one(&self.pool).await.map_err(backend)
    }

    /// The version and position of a stream's last event, if it has any.
    pub async fn stream_head(
        &self,
        stream: &sunday_domain::store::StreamId,
    ) -> Result<Option<(u64, sunday_domain::store::Position)>, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT stream_version, position FROM events WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1")
                .bind(stream.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(row.map(|(v, p)| (u64::try_from(v).unwrap_or(0), p)))
    }

    /// Makes every position from now on higher than the log's highest, by
    /// raising the position base when transaction ids run lower than the log
    /// (a dump restored into another cluster, a logical copy). Call at start,
    /// after the migrations; a no-op in a cluster the log was written in.
    /// Fails with a clear message when positions would leave the range JSON
    /// clients can hold (2^53). Returns the base.
    pub async fn keep_positions_growing(&self) -> Result<sunday_domain::store::Position, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("LOCK TABLE position_base IN EXCLUSIVE MODE").execute(&mut *tx).await.map_err(backend)?;
        let (xid, base, top): (i64, i64, i64) = sqlx::query_as(
            "SELECT pg_current_xact_id()::text::bigint, (SELECT base FROM position_base), coalesce((SELECT max(position) FROM events), 0)",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        let needed = (top >> 10) + 1 - xid;
        let base = if needed > base {
            sqlx::query("UPDATE position_base SET base = $1").bind(needed).execute(&mut *tx).await.map_err(backend)?;
            tracing::warn!(
                base = needed,
                highest = top,
                "transaction ids are lower than the log's positions (a restored dump?): raised the position base"
            );
            needed
        } else {
            base
        };
        if xid + base >= MAX_POSITION_XACT {
            return Err(StoreError::PositionsExhausted { highest: top });
        }
        tx.commit().await.map_err(backend)?;
        Ok(base)
    }

    /// Deletes idempotency keys older than `hours` (they are kept at least 24 h).
    pub async fn expire_idempotency_keys(&self, hours: i32) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)")
            .bind(hours)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

/// Positions stay below 2^53, the integers every JSON client reads exactly:
/// the shifted transaction id must stay below 2^43.
const MAX_POSITION_XACT: i64 = 1 << 43;

/// The longest a query waits for a connection before it fails (a 503): an
/// unreachable database is answered at once, not after sqlx's 30 s default.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The session settings every Sunday connection uses, whatever the server's
/// defaults: generic plans for prepared statements, a session idle inside a
/// transaction ended after 5 s (it would hold back every reader of the log),
/// and the time zone pinned to UTC, since timestamps Sunday writes as
/// literals (activity partition bounds) and the months it computes are UTC.
pub fn session_options(options: PgConnectOptions) -> PgConnectOptions {
    options.options([("plan_cache_mode", "force_generic_plan"), ("idle_in_transaction_session_timeout", "5s"), ("TimeZone", "UTC")])
}

/// Tells log readers that the transaction `xid` (running on another
/// connection, which took its id a moment ago) will never append events, so
/// that a long batch of it holds no log tail back. The database refuses an
/// append from it from now on (see
/// `migrations/20261203000001_appending_horizon.sql`). Runs on `pool` in a
/// transaction of its own, which also forgets transactions that have ended.
pub async fn announce_never_appends(pool: &PgPool, xid: i64) -> Result<(), sqlx::Error> {
    const ANNOUNCE: &str = "WITH ended AS (DELETE FROM sunday_non_appending WHERE pg_visible_in_snapshot(xid, pg_current_snapshot())) \
        INSERT INTO sunday_non_appending (xid) VALUES ($1::bigint::text::xid8)";
    sqlx::query(ANNOUNCE).bind(xid).execute(pool).await.map(|_| ())
}

/// The current transaction's id as [`announce_never_appends`] takes it (it
/// gives the transaction an id if it has none yet).
pub const CURRENT_XID: &str = "pg_current_xact_id()::text::bigint";

/// Whether a database error means the server cannot be reached now (a
/// connection refused or cut, a pool that cannot get one), as opposed to a
/// query that failed: the former is worth a 503 and a retry.
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}

/// Wraps a database error as a backend failure.
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// The name of the unique constraint a database error violated, if any.
pub(crate) fn violated_constraint(e: &sqlx::Error) -> Option<String> {
    let db = e.as_database_error()?;
    if db.code().as_deref() != Some("23505") {
        return None;
    }
    db.constraint().map(str::to_owned)
}
