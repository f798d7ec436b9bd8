//! Electing the one active instance of a role (projector, publisher): a
//! PostgreSQL advisory lock held by a connection of its own, so it is released
//! the moment the process dies and a standby takes over.

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

/// Waits until this process holds the lock `key`, or until `stop` turns true
/// (`None`). Keep the returned connection for as long as the role runs.
pub async fn elect(options: &PgConnectOptions, key: i64, stop: &mut watch::Receiver<bool>) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = PgConnection::connect_with(options).await?;
    let elected = sqlx::query("SELECT pg_advisory_lock($1)").bind(key).execute(&mut conn);
    tokio::select! {
        r = elected => { r?; }
        _ = stop.changed() => return Ok(None),
    }
    Ok(Some(conn))
}
