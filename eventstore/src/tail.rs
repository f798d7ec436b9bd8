//! `LogTail`: follows the whole log from a position, catching up in pages and
//! then waiting for appends, never skipping a late committer.

use std::time::Duration;

use sunday_domain::store::{Position, RecordedEvent, StoreError};
use tokio::sync::watch;

use crate::{Horizon, PgEventStore};

/// How long a caught-up tail waits without any signal before it looks anyway
/// (covers a lost LISTEN connection).
const SAFETY_POLL: Duration = Duration::from_secs(1);
/// First and last wait while committed events sit above the horizon (an older
/// transaction is still open somewhere).
const HORIZON_WAIT_MIN: Duration = Duration::from_millis(1);
const HORIZON_WAIT_MAX: Duration = Duration::from_millis(50);

/// How many dead pooled connections a read gets past before it errs.
const STALE_CONNECTIONS: usize = 8;

/// A live reader of the whole log, in log order, each event exactly once.
pub struct LogTail {
    store: PgEventStore,
    after: Position,
    batch: usize,
    wake: watch::Receiver<Position>,
}

impl LogTail {
    pub(crate) fn new(store: PgEventStore, after: Position, batch: usize) -> Self {
        let wake = store.notifier().subscribe();
        Self { store, after, batch: batch.max(1), wake }
    }

    /// The next events after the last ones returned; waits until there are some.
    /// After a database restart the pool holds connections that died with
    /// it: each fails once and is dropped, so a read that fails for want of
    /// a connection is tried again at once, a few times, before it errs.
    pub async fn next_batch(&mut self) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut attempts = 0;
        loop {
            match self.try_next_batch().await {
                Err(StoreError::Backend(e))
                    if attempts < STALE_CONNECTIONS && e.downcast_ref::<sqlx::Error>().is_some_and(crate::is_unreachable) =>
                {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    async fn try_next_batch(&mut self) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut horizon_wait = HORIZON_WAIT_MIN;
        let mut held = Duration::ZERO;
        loop {
            // Mark the signal seen before reading, so an append that lands after
            // the read still wakes the wait below.
            self.wake.borrow_and_update();
            let events =
                sunday_runtime::stats::timed("tail", "events", self.store.log_events(self.after, self.batch, Horizon::after_waiting(held)))
                    .await?;
            if let Some(last) = events.last() {
                self.after = last.position;
                return Ok(events);
            }
            if self.store.head().await? > self.after {
                tokio::time::sleep(horizon_wait).await;
                held += horizon_wait;
                horizon_wait = (horizon_wait * 2).min(HORIZON_WAIT_MAX);
                continue;
            }
            horizon_wait = HORIZON_WAIT_MIN;
            held = Duration::ZERO;
            let _ = tokio::time::timeout(SAFETY_POLL, self.wake.changed()).await;
        }
    }
}
