//! The senders: lanes (and replays, `replay.rs`) with events to send are taken up to a bound in all and
//! per webhook (a slow endpoint holds only its own), each sends its events
//! one at a time in log order, and stops at the first failure until its
//! retry is due. Only the lane of the failing board waits; the webhook's
//! other boards go on.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::DispatchError;
use crate::attempt::{At, attempt};
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
    busy: HashMap<Work, ()>,
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
        self.busy.insert(work, ());
        let fut = run(shared.clone());
        self.tasks.spawn(async move { (work, webhook, fut.await) });
    }

    fn finished(&mut self, work: Work, webhook: uuid::Uuid) {
        self.busy.remove(&work);
        if let Some(n) = self.per_webhook.get_mut(&webhook) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Runs lanes and replays until an error that ends the dispatcher (it was
/// fenced, or a sender panicked).
pub(crate) async fn run(shared: Arc<Shared>) -> Result<(), DispatchError> {
    let mut running = Running::default();
    loop {
        let free = shared.config.in_flight.saturating_sub(running.tasks.len());
        if free > 0 {
            let lanes: Vec<LaneKey> = running.busy.keys().filter_map(|w| if let Work::Lane(k) = w { Some(*k) } else { None }).collect();
            for lane in store::ready_lanes(&shared.pool, &lanes, free).await? {
                running.start(&shared, Work::Lane(lane.key), lane.key.webhook, |s| async move { send_lane(&s, lane).await });
            }
            let replays: Vec<i64> = running.busy.keys().filter_map(|w| if let Work::Replay(id) = w { Some(*id) } else { None }).collect();
            for replay in store::ready_replays(&shared.pool, &replays, free).await? {
                let (work, webhook) = (Work::Replay(replay.id), replay.webhook);
                running.start(&shared, work, webhook, |s| async move { crate::replay::send(&s, replay).await });
            }
        }
        let pause = until_next_retry(&shared).await?;
        tokio::select! {
            () = shared.wake.notified() => {}
            done = running.tasks.join_next(), if !running.tasks.is_empty() => match done {
                Some(Ok((work, webhook, result))) => {
                    running.finished(work, webhook);
                    ended(result)?;
                }
                // A sender that panicked: start the dispatcher over from its tables.
                Some(Err(e)) => return Err(DispatchError::Panicked(e.to_string())),
                None => {}
            },
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
async fn send_lane(shared: &Shared, mut lane: Lane) -> Result<(), DispatchError> {
    let mut delivered = lane.delivered;
    let mut failures = lane.failures;
    loop {
        let Some(hook) = shared.webhook(lane.key.webhook).filter(|h| h.active) else { return Ok(()) };
        let events = shared.lane_events(hook.workspace_id, &lane, delivered, PAGE).await?;
        let mut passed = delivered;
        for e in &events {
            if !hook.matches(e.event.event_type(), e.workspace_id, e.board_id) {
                passed = e.position;
                continue;
            }
            let at = At { progress: Progress::Lane(lane.key), failing_since: lane.failing_since, delivered, passed, failures };
            match attempt(shared, &hook, at, e).await? {
                Some(to) => {
                    (delivered, passed, failures) = (to, to, 0);
                    lane.failing_since = None;
                }
                None => return Ok(()),
            }
        }
        if events.len() < PAGE {
            let end = if events.is_empty() { lane.head } else { passed };
            if end > delivered {
                store::skip(&shared.pool, lane.key, delivered, end).await?;
            }
            return Ok(());
        }
        if passed > delivered {
            store::skip(&shared.pool, lane.key, delivered, passed).await?;
            delivered = passed;
        }
    }
}
