//! Wake-ups for log tails and freshness for caches.
//!
//! Each append raises an in-process watch channel and is forwarded to other
//! processes as a PostgreSQL NOTIFY (`<instance>:<position>`, coalesced and at
//! most one every `MIN_NOTIFY_INTERVAL`). A LISTEN task hears the other
//! processes' appends: it raises the same channel and tracks the highest
//! *foreign* position, which tells a cache whether anyone else wrote since it
//! last looked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use sunday_domain::store::Position;
use tokio::sync::watch;
use uuid::Uuid;

/// The NOTIFY channel appends are announced on.
pub(crate) const CHANNEL: &str = "sunday_events";
/// The shortest gap between two NOTIFYs of one process.
const MIN_NOTIFY_INTERVAL: Duration = Duration::from_millis(5);

/// Raises and observes "the log has grown" signals.
pub struct LogNotifier {
    latest: watch::Sender<Position>,
    outgoing: watch::Sender<Position>,
    foreign: Arc<Foreign>,
}

/// What the LISTEN task knows about other processes' appends.
#[derive(Default)]
struct Foreign {
    head: AtomicI64,
    listening: AtomicBool,
}

impl LogNotifier {
    /// Starts the NOTIFY forwarder and the LISTEN task on `pool`'s database.
    pub fn start(pool: PgPool) -> Self {
        let instance = Uuid::now_v7();
        let (latest, _) = watch::channel(0);
        let (outgoing, outgoing_rx) = watch::channel(0);
        let foreign = Arc::new(Foreign::default());
        tokio::spawn(forward_notifications(pool.clone(), instance, outgoing_rx));
        tokio::spawn(listen(pool, instance, latest.clone(), foreign.clone()));
        Self { latest, outgoing, foreign }
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

    /// A counter that moves whenever another process appended. `None` while this
    /// process cannot hear the others (no LISTEN connection): then every cache
    /// must re-read before it decides.
    pub fn foreign_mark(&self) -> Option<Position> {
        if self.foreign.listening.load(Ordering::Acquire) { Some(self.foreign.head.load(Ordering::Acquire)) } else { None }
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
async fn forward_notifications(pool: PgPool, instance: Uuid, mut rx: watch::Receiver<Position>) {
    while rx.changed().await.is_ok() {
        let position = *rx.borrow_and_update();
        let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(format!("{instance}:{position}")).execute(&pool).await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not NOTIFY other processes of an append");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(MIN_NOTIFY_INTERVAL).await;
    }
}

/// Listens for other processes' appends, reconnecting when the connection drops.
async fn listen(pool: PgPool, instance: Uuid, latest: watch::Sender<Position>, foreign: Arc<Foreign>) {
    loop {
        let Err(e) = listen_once(&pool, instance, &latest, &foreign).await;
        foreign.listening.store(false, Ordering::Release);
        tracing::warn!(error = %e, "LISTEN connection lost; caches re-read and tails poll until it is back");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn listen_once(
    pool: &PgPool,
    instance: Uuid,
    latest: &watch::Sender<Position>,
    foreign: &Foreign,
) -> Result<std::convert::Infallible, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // Appends made while we were not listening are unknown: move the mark so
    // every cache re-reads once.
    foreign.head.fetch_add(1, Ordering::AcqRel);
    foreign.listening.store(true, Ordering::Release);
    loop {
        // `None`: the connection dropped. Notifications sent meanwhile are lost,
        // so report it rather than let `recv` reconnect silently.
        let Some(n) = listener.try_recv().await? else {
            return Err(sqlx::Error::PoolClosed);
        };
        let Some((sender, position)) = n.payload().split_once(':') else { continue };
        let Ok(position) = position.parse::<Position>() else { continue };
        if sender != instance.to_string() {
            // A counter, not the position: another process's positions need not
            // arrive in increasing order.
            foreign.head.fetch_add(1, Ordering::AcqRel);
            latest.send_modify(|p| *p = (*p).max(position));
        }
    }
}
