//! Where the read models live: the schema `rm` (the live ones) or `rm_next`
//! (being rebuilt), selected by each connection's search_path, and how a
//! schema is created from `schema.sql`.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};

/// The version of `schema.sql`; a live schema of another version is rebuilt.
pub const SCHEMA_VERSION: i32 = 4;
/// The schema of the live read models.
pub const LIVE: &str = "rm";
/// The schema a rebuild writes into before it replaces the live one.
pub const NEXT: &str = "rm_next";

const DDL: &str = include_str!("../schema.sql");

/// Connection options that find the read models of `schema` (and the event
/// store in `public`), with Sunday's session settings
/// (`sunday_eventstore::session_options`: UTC, generic plans, idle sessions
/// in a transaction ended after a few seconds).
pub fn options(base: PgConnectOptions, schema: &str) -> PgConnectOptions {
    sunday_eventstore::session_options(base).options([("search_path", format!("{schema},public"))])
}

/// Options for the live read models from a database URL.
pub fn live_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(options(PgConnectOptions::from_str(url)?, LIVE))
}

/// A pool on the read models of `schema`.
pub async fn pool(base: PgConnectOptions, schema: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .acquire_timeout(sunday_eventstore::ACQUIRE_TIMEOUT)
        .connect_with(options(base, schema))
        .await
}

/// A pool for the projector's writes: each connection is checked as it is
/// taken (a round trip per batch), so after a database restart the batch
/// does not fail on a connection that died with the server.
pub async fn writer_pool(base: PgConnectOptions, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(true)
        .acquire_timeout(sunday_eventstore::ACQUIRE_TIMEOUT)
        .connect_with(options(base, LIVE))
        .await
}

/// The version of the read models in `schema`, `None` if it does not exist.
pub async fn version(pool: &PgPool, schema: &str) -> Result<Option<i32>, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(format!("{schema}.read_model_info")).fetch_one(pool).await?;
    if !exists {
        return Ok(None);
    }
    let sql = format!("SELECT schema_version FROM {schema}.read_model_info");
    sqlx::query_scalar(&sql).fetch_optional(pool).await
}

/// Creates empty read models in `schema` (dropping whatever was there), all
/// in one transaction. `pool` must have `schema` first in its search_path.
pub async fn create(pool: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    tx.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}").as_str()).await?;
    tx.execute(DDL).await?;
    tx.execute(
        format!("CREATE TABLE read_model_info (schema_version integer NOT NULL); INSERT INTO read_model_info VALUES ({SCHEMA_VERSION})")
            .as_str(),
    )
    .await?;
    tx.commit().await
}

/// What came of an attempt to swap the rebuilt read models in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    /// The rebuilt schema is live now.
    Done,
    /// The live read models are ahead: read what came since and try again.
    Behind,
    /// Readers held the tables past `SWAP_LOCK_TIMEOUT`: nothing changed; try
    /// again a little later.
    Contended,
}

/// How long a swap waits for the live tables before it gives way. Readers
/// queue behind a waiting swap, so this bounds the stall a swap can cause;
/// it is below PostgreSQL's `deadlock_timeout` (1 s) so that, should a
/// reader's locks cross the swap's, the swap gives way and no read fails.
const SWAP_LOCK_TIMEOUT: &str = "300ms";

/// Replaces the live read models by those rebuilt in `NEXT` (whose
/// checkpoint is `rebuilt`), atomically, if they have reached the live
/// checkpoint. Nothing changes unless the answer is `Done`.
pub async fn promote_if_caught_up(pool: &PgPool, rebuilt: i64) -> Result<Promotion, sqlx::Error> {
    match try_promote(pool, rebuilt).await {
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("55P03" | "40P01")) => {
            tracing::debug!(error = %e, "read models busy: the swap gives way and tries again");
            Ok(Promotion::Contended)
        }
        other => other,
    }
}

async fn try_promote(pool: &PgPool, rebuilt: i64) -> Result<Promotion, sqlx::Error> {
    let mut tx = pool.begin().await?;
    tx.execute(format!("SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'").as_str()).await?;
    let live_exists: bool =
        sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(format!("{LIVE}.projection_checkpoints")).fetch_one(&mut *tx).await?;
    let live: Option<i64> = match live_exists {
        true => {
            // The whole table, not the row: a batch's first statement takes
            // it, so this waits for the batch in flight and keeps the next
            // out (a row lock would deadlock with the drop below).
            tx.execute(format!("LOCK TABLE {LIVE}.projection_checkpoints IN ACCESS EXCLUSIVE MODE").as_str()).await?;
            let sql = format!("SELECT position FROM {LIVE}.projection_checkpoints WHERE name = $1");
            sqlx::query_scalar(&sql).bind(crate::PROJECTION).fetch_optional(&mut *tx).await?
        }
        false => None,
    };
    if live.is_some_and(|l| l > rebuilt) {
        return Ok(Promotion::Behind);
    }
    tx.execute(format!("DROP SCHEMA IF EXISTS {LIVE} CASCADE; ALTER SCHEMA {NEXT} RENAME TO {LIVE}").as_str()).await?;
    tx.commit().await?;
    Ok(Promotion::Done)
}
