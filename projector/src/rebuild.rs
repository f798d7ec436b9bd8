//! `sunday projector rebuild`: replays the whole log into fresh read models
//! (schema `rm_next`) while the live ones keep serving, then swaps them in.
//!
//! A rebuild takes the same advisory lock as `prepare`, so two rebuilds (or
//! a rebuild and a process starting) never drop each other's `rm_next`. The
//! swap happens only once the rebuilt schema has reached the live
//! checkpoint, checked and done in one transaction that holds the live
//! checkpoint row (so no batch lands in between): read models never go back
//! in time, and the live projector, fenced by the new checkpoint, goes on
//! from it.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sunday_domain::store::EventStore;
use sunday_eventstore::PgEventStore;

use crate::schema::{self, Promotion};
use crate::{ProjectorError, apply_batch};

/// Events read and applied per transaction while rebuilding.
const BATCH: usize = 2000;

/// Where rebuild progress goes.
pub struct Progress {
    report: Box<dyn Fn(u64, u64, f64) + Send + Sync>,
}

impl Progress {
    /// Progress handed to `report` as (events done, events in all, events per second).
    pub fn new(report: impl Fn(u64, u64, f64) + Send + Sync + 'static) -> Self {
        Self { report: Box::new(report) }
    }

    /// Progress as log lines.
    pub fn log() -> Self {
        Self { report: Box::new(|done, total, rate| tracing::info!(done, total, rate, "rebuilding read models")) }
    }
}

/// Rebuilds every read model from the log into `rm_next`, then makes it the
/// live schema. Returns once the swap is done. Waits its turn if another
/// rebuild (or a starting process) holds the preparation lock.
pub async fn rebuild(store: &PgEventStore, base: PgConnectOptions, progress: &Progress) -> Result<(), ProjectorError> {
    let turn = crate::PrepareTurn::take(&base).await?;
    let result = rebuild_alone(store, base, progress).await;
    turn.give_back().await?;
    result
}

/// `rebuild`, for a caller that holds the preparation lock already.
pub(crate) async fn rebuild_alone(store: &PgEventStore, base: PgConnectOptions, progress: &Progress) -> Result<(), ProjectorError> {
    let pool = schema::pool(base, schema::NEXT, 2).await?;
    schema::create(&pool, schema::NEXT).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM public.events").fetch_one(&pool).await?;
    let total = u64::try_from(total).unwrap_or(0);
    let started = Instant::now();
    let mut last_report = Instant::now();
    let (mut at, mut done) = (0, 0u64);
    loop {
        let batch = store.read_all(at, BATCH).await?;
        let Some(last) = batch.last() else {
            // Caught up with the log as it is now: swap if that is at least
            // where the live read models are, else read what came since.
            match schema::promote_if_caught_up(&pool, at).await? {
                Promotion::Done => break,
                Promotion::Behind => tokio::time::sleep(Duration::from_millis(10)).await,
                Promotion::Contended => tokio::time::sleep(Duration::from_millis(100)).await,
            }
            continue;
        };
        let next = last.position;
        apply_batch(&pool, at, &batch).await?;
        at = next;
        done += u64::try_from(batch.len()).unwrap_or(0);
        if last_report.elapsed() > Duration::from_millis(250) {
            (progress.report)(done, total.max(done), done as f64 / started.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
    }
    (progress.report)(done, total.max(done), done as f64 / started.elapsed().as_secs_f64().max(1e-9));
    tracing::info!(events = done, seconds = started.elapsed().as_secs_f64(), "read models rebuilt and swapped in");
    Ok(())
}
