//! Electing the one active instance of a role (projector, publisher): a
//! PostgreSQL advisory lock held by a connection of its own, so it is released
//! the moment the process dies and a standby takes over. A task of its own
//! checks that connection every second: a leader whose lock connection died
//! learns it within a few heartbeats and steps down, before a standby's
//! fencing has to stop it.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

/// Every advisory lock Sunday takes, in one place so that no two roles
/// share one (the webhook dispatcher's once took the preparation lock's
/// key, and a second process waited for ever to prepare the read models).
pub mod locks {
    /// The active projector.
    pub const PROJECTOR: i64 = 0x5355_4e44_4159_0001;
    /// The active JetStream publisher.
    pub const PUBLISHER: i64 = 0x5355_4e44_4159_0002;
    /// Creating, rebuilding or swapping the read models.
    pub const PREPARE: i64 = 0x5355_4e44_4159_0003;
    /// The active webhook dispatcher.
    pub const WEBHOOKS: i64 = 0x5355_4e44_4159_0004;
}

/// How often a leader checks that it still holds its lock.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// A held leadership; dropping it gives the lock up.
pub struct Leadership {
    lost: watch::Receiver<Option<String>>,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Leadership {
    /// Resolves when the lock's connection failed its heartbeat: the lock is
    /// gone (the server released it with the connection), so stop leading.
    /// Cancel-safe: use it in a `select!`.
    pub async fn lost(&mut self) -> String {
        match self.lost.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => "the leadership heartbeat stopped".to_owned(),
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

async fn heartbeat(mut conn: PgConnection, lost: watch::Sender<Option<String>>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        let why = match tokio::time::timeout(HEARTBEAT * 3, sqlx::query("SELECT 1").execute(&mut conn)).await {
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => format!("the leader lock's connection failed: {e}"),
            Err(_) => "the leader lock's connection stopped answering".to_owned(),
        };
        let _ = lost.send(Some(why));
        return;
    }
}

/// Waits until this process holds the lock `key`, or until `stop` turns true
/// (`None`). Keep the returned leadership for as long as the role runs.
pub async fn elect(options: &PgConnectOptions, key: i64, stop: &mut watch::Receiver<bool>) -> Result<Option<Leadership>, sqlx::Error> {
    let mut conn = PgConnection::connect_with(options).await?;
    let elected = sqlx::query("SELECT pg_advisory_lock($1)").bind(key).execute(&mut conn);
    tokio::select! {
        r = elected => { r?; }
        _ = stop.changed() => return Ok(None),
    }
    let (tx, lost) = watch::channel(None);
    Ok(Some(Leadership { lost, heartbeat: tokio::spawn(heartbeat(conn, tx)) }))
}
