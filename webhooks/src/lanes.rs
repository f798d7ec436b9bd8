//! The senders: lanes (and replays, `replay.rs`) with events to send are taken up to a bound in all and
//! per webhook (a slow endpoint holds only its own), each sends its events
//! one at a time in log order, and stops at the first failure until its
//! retry is due. Only the lane of the failing board waits; the webhook's
//! other boards go on.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::DispatchError;
use crate::attempt::Run;
use crate::shared::Shared;
use crate::store::{self, Lane, LaneKey, Progress};

/// Events a lane reads from the log at a time.
const PAGE: usize = 100;
/// The longest a scheduler sleeps without looking for due retries.
const IDLE: Duration = Duration::from_secs(1);

/// What a sender task works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Work {
    Lane(LaneKey),
    Replay(i64),
}

/// The senders in flight, and how many per webhook.
#[derive(Default)]
struct Running {
    tasks: JoinSet<(Work, uuid::Uuid, Result<(), DispatchError>)>,
    busy: HashSet<Work>,
    per_webhook: HashMap<uuid::Uuid, usize>,
}

impl Running {
    /// Starts `work` unless its webhook has as many senders as it may.
    fn start<F>(&mut self, shared: &Arc<Shared>, work: Work, webhook: uuid::Uuid, run: impl FnOnce(Arc<Shared>) -> F)
    where
        F: Future<Output = Result<(), DispatchError>> + Send + 'static,
    {
        let count = self.per_webhook.entry(webhook).or_default();
        if *count >= shared.config.per_webhook || self.tasks.len() >= shared.config.in_flight {
            return;
        }
        *count += 1;
        self.busy.insert(work);
        let fut = run(shared.clone());
        self.tasks.spawn(async move { (work, webhook, fut.await) });
    }

    /// A sender's end: its place is free again; a panic ends the dispatcher
    /// (it starts over from its tables).
    fn ended(
        &mut self,
        joined: Result<(Work, uuid::Uuid, Result<(), DispatchError>), tokio::task::JoinError>,
    ) -> Result<(), DispatchError> {
        let (work, webhook, result) = joined.map_err(|e| DispatchError::Panicked(e.to_string()))?;
        self.busy.remove(&work);
        if let Some(n) = self.per_webhook.get_mut(&webhook) {
            *n = n.saturating_sub(1);
        }
        ended(result)
    }
}

/// Runs lanes and replays until an error that ends the dispatcher (it was
/// fenced, or a sender panicked).
pub(crate) async fn run(shared: Arc<Shared>) -> Result<(), DispatchError> {
    let mut running = Running::default();
    loop {
        let free = shared.config.in_flight.saturating_sub(running.tasks.len());
        if free > 0 {
            let lanes: Vec<LaneKey> = running.busy.iter().filter_map(|w| if let Work::Lane(k) = w { Some(*k) } else { None }).collect();
            for lane in store::ready_lanes(&shared.pool, &lanes, free).await? {
                running.start(&shared, Work::Lane(lane.key), lane.key.webhook, |s| async move { send_lane(&s, lane).await });
            }
            let replays: Vec<i64> = running.busy.iter().filter_map(|w| if let Work::Replay(id) = w { Some(*id) } else { None }).collect();
            for replay in store::ready_replays(&shared.pool, &replays, free).await? {
                let (work, webhook) = (Work::Replay(replay.id), replay.webhook);
                running.start(&shared, work, webhook, |s| async move { crate::replay::send(&s, replay).await });
            }
        }
        let pause = until_next_retry(&shared).await?;
        tokio::select! {
            () = shared.wake.notified() => {}
            done = running.tasks.join_next(), if !running.tasks.is_empty() => {
                // Every sender that is done, before looking for lanes again.
                let mut done = done;
                while let Some(ended_one) = done {
                    running.ended(ended_one)?;
                    done = running.tasks.try_join_next();
                }
            }
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// A lane's end: fencing ends the dispatcher; anything else is logged and
/// the lane is taken up again later.
fn ended(result: Result<(), DispatchError>) -> Result<(), DispatchError> {
    match result {
        Err(DispatchError::Fenced) => Err(DispatchError::Fenced),
        Err(e) => {
            tracing::warn!(error = %e, "a webhook lane stopped; it is taken up again");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

async fn until_next_retry(shared: &Shared) -> Result<Duration, DispatchError> {
    let next = store::next_retry(&shared.pool).await?;
    let wait = next.map_or(IDLE, |at| (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO));
    Ok(wait.min(IDLE))
}

/// Sends a lane's events in order until it is empty or one fails.
async fn send_lane(shared: &Shared, lane: Lane) -> Result<(), DispatchError> {
    let Some(hook) = shared.webhook(lane.key.webhook).filter(|h| h.active) else { return Ok(()) };
    let mut run = Run::new(Progress::Lane(lane.key), hook, lane.delivered, lane.failures, lane.failing_since);
    loop {
        let events = shared.lane_events(run.webhook.workspace_id, &lane, run.position(), PAGE).await?;
        for e in &events {
            if !run.webhook.matches(e.event.event_type(), e.workspace_id, e.board_id) {
                run.pass(e.position);
            } else if !run.send(shared, e).await? {
                return Ok(());
            }
        }
        if events.len() < PAGE {
            if events.is_empty() {
                run.pass(lane.head);
            }
            return run.flush(shared).await;
        }
        run.flush(shared).await?;
        // Changed or stopped meanwhile: the next page goes by its state now.
        match shared.webhook(lane.key.webhook).filter(|h| h.active) {
            Some(hook) => run.webhook = hook,
            None => return Ok(()),
        }
    }
}
