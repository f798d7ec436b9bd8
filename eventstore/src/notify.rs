//! Wake-ups for log tails: an in-process watch channel raised after each append,
//! forwarded to other processes as a coalesced PostgreSQL NOTIFY, and fed from
//! their NOTIFYs by a LISTEN task.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use sunday_domain::store::Position;
use tokio::sync::watch;

/// The NOTIFY channel appends are announced on.
pub(crate) const CHANNEL: &str = "sunday_events";

/// Raises and observes "the log has grown" signals.
pub struct LogNotifier {
    latest: watch::Sender<Position>,
    outgoing: watch::Sender<Position>,
}

impl LogNotifier {
    /// Starts the NOTIFY forwarder and the LISTEN task on `pool`'s database.
    pub fn start(pool: PgPool) -> Self {
        let (latest, _) = watch::channel(0);
        let (outgoing, outgoing_rx) = watch::channel(0);
        tokio::spawn(forward_notifications(pool.clone(), outgoing_rx));
        tokio::spawn(listen(pool, latest.clone()));
        Self { latest, outgoing }
    }

    /// Called after an append committed at `position`.
    pub fn appended(&self, position: Position) {
        self.latest.send_if_modified(|p| raise(p, position));
        self.outgoing.send_if_modified(|p| raise(p, position));
    }

    /// A receiver that changes whenever the log may have grown.
    pub fn subscribe(&self) -> watch::Receiver<Position> {
        self.latest.subscribe()
    }
}

fn raise(current: &mut Position, new: Position) -> bool {
    if new > *current {
        *current = new;
        true
    } else {
        false
    }
}

/// Sends one NOTIFY per burst of appends: while a NOTIFY is in flight, further
/// appends only update the value the next one carries. NOTIFY runs outside the
/// append transactions, so it never serialises their commits.
async fn forward_notifications(pool: PgPool, mut rx: watch::Receiver<Position>) {
    while rx.changed().await.is_ok() {
        let position = *rx.borrow_and_update();
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(position.to_string())
            .execute(&pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not NOTIFY other processes of an append");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Listens for other processes' appends and raises the local signal.
async fn listen(pool: PgPool, latest: watch::Sender<Position>) {
    loop {
        match listen_once(&pool, &latest).await {
            Ok(never) => match never {},
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection lost; tails fall back to their safety poll until it is back");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

async fn listen_once(pool: &PgPool, latest: &watch::Sender<Position>) -> Result<std::convert::Infallible, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    loop {
        let n = listener.recv().await?;
        if let Ok(position) = n.payload().parse::<Position>() {
            latest.send_if_modified(|p| raise(p, position));
        }
    }
}
