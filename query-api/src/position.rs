//! How far this instance's reads are, and when its board cache can be trusted.
//!
//! Two positions are kept. `invalidated`: every batch up to it has had its
//! invalidation applied to the cache (heard from the projector in this
//! process, over NATS, or made up for by dropping the whole cache). `position`
//! (what `X-Sunday-Min-Position` waits on and `X-Sunday-Position` reports):
//! the read models the pool reads have every batch up to it *and* the cache
//! has heard of them. On the primary it follows `invalidated`; on a replica
//! (`DATABASE_READ_URL`) it is the lower of `invalidated` and the checkpoint
//! the replica has replayed, read from the replica itself.
//!
//! Each invalidation names the checkpoint it starts from (`previous`), so a
//! lost one is noticed with the next one: the cache is dropped at once rather
//! than at the next poll.
//!
//! On a replica, the lag is how long ago the oldest batch heard of and not
//! yet replayed was heard (zero when the replica has every batch heard, so an
//! idle deployment has no lag); past `Config::replica_max_lag` reads answer
//! 503 rather than old data (`respond::wait_for`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use sunday_read_models::Invalidation;
use tokio::sync::Notify;

use crate::QueryState;

/// How soon a replica behind the invalidations heard is looked at again.
const REPLICA_RETRY: Duration = Duration::from_millis(5);

/// Batches heard and not yet replayed that a replica remembers (beyond it,
/// the newest entry stands for the later ones, with its older time).
const UNREPLAYED: usize = 4096;

/// This instance's view of the checkpoint.
#[derive(Default)]
pub(crate) struct Tracker {
    invalidated: AtomicI64,
    /// Reads go to a replica: `position` waits for it to replay.
    replica: bool,
    /// Wakes the replica poll when an invalidation arrives.
    heard: Notify,
    /// On a replica: the checkpoints heard and not replayed yet, with when.
    unreplayed: Mutex<VecDeque<(i64, Instant)>>,
}

impl Tracker {
    pub(crate) fn new(replica: bool) -> Self {
        Self { replica, ..Self::default() }
    }

    fn unreplayed(&self) -> std::sync::MutexGuard<'_, VecDeque<(i64, Instant)>> {
        self.unreplayed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn heard_at(&self, position: i64) {
        let mut q = self.unreplayed();
        let full = q.len() >= UNREPLAYED;
        match q.back_mut() {
            Some(last) if full => last.0 = last.0.max(position),
            _ => q.push_back((position, Instant::now())),
        }
    }

    fn replayed(&self, position: i64) {
        let mut q = self.unreplayed();
        while q.front().is_some_and(|(p, _)| *p <= position) {
            q.pop_front();
        }
    }

    /// How far behind the replica is (`None` when reads go to the primary).
    pub(crate) fn replica_lag(&self) -> Option<Duration> {
        self.replica.then(|| self.unreplayed().front().map_or(Duration::ZERO, |(_, at)| at.elapsed()))
    }
}

impl QueryState {
    /// Applies a committed batch: drops the whole cache if batches before it
    /// were never heard, evicts what it changed, then moves the position.
    pub fn apply(&self, inv: &Invalidation) {
        let tracker = &self.tracker;
        if inv.previous > tracker.invalidated.load(Ordering::Acquire) {
            self.cache.clear(inv.position);
        }
        self.cache.invalidate(inv);
        tracker.invalidated.fetch_max(inv.position, Ordering::AcqRel);
        if tracker.replica {
            tracker.heard_at(inv.position);
            tracker.heard.notify_one();
        } else {
            self.raise(inv.position);
        }
    }

    /// Every `every`, reads the checkpoint the read pool sees; if it is ahead
    /// of the invalidations heard (some were lost, or there is no projector
    /// to hear), drops the whole cache and catches up. On a replica it also
    /// follows the replay closely after each invalidation, so reads that
    /// wait for a position are answered as soon as the replica has it.
    /// Task `checkpoint-poll` in `tasks`, failing while the database does not answer.
    pub fn poll_checkpoint(&self, every: Duration, tasks: &sunday_runtime::Tasks) {
        let me = self.clone();
        let task = tasks.register("checkpoint-poll", true);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                let periodic = tokio::select! {
                    _ = tick.tick() => true,
                    () = me.tracker.heard.notified(), if me.tracker.replica => false,
                };
                match me.catch_up(periodic).await {
                    Ok(()) => task.running(),
                    Err(e) => {
                        tracing::warn!(error = %e, "checkpoint poll failed; polling on");
                        task.failing(&e);
                    }
                }
            }
        });
    }

    async fn catch_up(&self, periodic: bool) -> Result<(), sqlx::Error> {
        loop {
            let at = sunday_read_models::checkpoint(&self.pool).await?;
            let heard = self.tracker.invalidated.load(Ordering::Acquire);
            if periodic && at > heard {
                self.cache.clear(at);
                self.tracker.invalidated.fetch_max(at, Ordering::AcqRel);
                self.raise(at);
                return Ok(());
            }
            if !self.tracker.replica {
                return Ok(());
            }
            self.tracker.replayed(at);
            self.raise(at.min(heard));
            if at >= heard {
                return Ok(());
            }
            tokio::time::sleep(REPLICA_RETRY).await;
        }
    }
}
