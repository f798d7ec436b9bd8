//! The senders: lanes (and replays, `replay.rs`) with events to send are taken up to a bound in all and
//! per webhook (a slow endpoint holds only its own), each sends its events
//! one at a time in log order, and stops at the first failure until its
//! retry is due. Only the lane of the failing board waits; the webhook's
//! other boards go on.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sunday_domain::store::{Position, RecordedEvent};
use sunday_domain::webhook::Webhook;
use tokio::task::JoinSet;

use crate::DispatchError;
use crate::dispatch::{Shared, disable};
use crate::send::{Attempt, Outcome};
use crate::store::{self, Lane, LaneKey, Progress, Recorded};

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
            for lane in store::ready_lanes(shared.store.pool(), &lanes, free).await? {
                running.start(&shared, Work::Lane(lane.key), lane.key.webhook, |s| async move { send_lane(&s, lane).await });
            }
            let replays: Vec<i64> = running.busy.keys().filter_map(|w| if let Work::Replay(id) = w { Some(*id) } else { None }).collect();
            for replay in store::ready_replays(shared.store.pool(), &replays, free).await? {
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
    let next = store::next_retry(shared.store.pool()).await?;
    let wait = next.map_or(IDLE, |at| (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO));
    Ok(wait.min(IDLE))
}

/// Sends a lane's events in order until it is empty or one fails.
async fn send_lane(shared: &Shared, mut lane: Lane) -> Result<(), DispatchError> {
    let mut delivered = lane.delivered;
    let mut failures = lane.failures;
    loop {
        let Some(hook) = shared.webhook(lane.key.webhook).filter(|h| h.active) else { return Ok(()) };
        let events = store::lane_events(&shared.store, hook.workspace_id, &lane, delivered, PAGE).await?;
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
                store::skip(shared.store.pool(), lane.key, delivered, end).await?;
            }
            return Ok(());
        }
        if passed > delivered {
            store::skip(shared.store.pool(), lane.key, delivered, passed).await?;
            delivered = passed;
        }
    }
}

/// Where a sender stands when it tries an event.
pub(crate) struct At {
    pub(crate) progress: Progress,
    pub(crate) failing_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The position it has sent up to, and how far past it events that
    /// match nothing took it.
    pub(crate) delivered: Position,
    pub(crate) passed: Position,
    /// Failed attempts at this event so far.
    pub(crate) failures: u32,
}

/// One attempt at `e`, recorded with its effect on the lane or replay: the
/// new position when it was delivered, `None` when the sender must wait.
pub(crate) async fn attempt(shared: &Shared, hook: &Webhook, at: At, e: &RecordedEvent) -> Result<Option<Position>, DispatchError> {
    let secret = shared.config.key.secret_bytes(hook.id, hook.secret_version);
    let sent = Attempt { url: &hook.url, message_id: e.event_id.to_string(), secret, body: crate::payload::body(e) };
    let (took, outcome) = shared.sender.send(sent).await;
    shared.metrics.observe(&outcome, took);
    let duration_ms = i32::try_from(took.as_millis()).unwrap_or(i32::MAX);
    let base = Recorded {
        progress: at.progress,
        from: at.delivered,
        to: e.position,
        webhook: hook.id,
        event: e,
        attempt: at.failures + 1,
        status: None,
        error: None,
        duration_ms,
        next_attempt_at: None,
        failed: false,
    };
    let (status, error, gone) = match &outcome {
        Outcome::Delivered(status) => {
            store::record(shared.store.pool(), &Recorded { status: Some(*status), ..base }).await?;
            return Ok(Some(e.position));
        }
        Outcome::Gone => (Some(410), "the endpoint answered 410 Gone".to_owned(), true),
        Outcome::Failed { status, error } => (*status, error.clone(), false),
    };
    let now = chrono::Utc::now();
    let failing_for = at.failing_since.map_or(Duration::ZERO, |since| (now - since).to_std().unwrap_or(Duration::ZERO));
    let delay = if gone { None } else { shared.config.retry.next_delay(at.failures + 1, failing_for) };
    let next_attempt_at = delay.and_then(|d| chrono::Duration::from_std(d).ok()).map(|d| now + d);
    let failed = Recorded { to: at.passed, status, error: Some(&error), next_attempt_at, failed: true, ..base };
    store::record(shared.store.pool(), &failed).await?;
    if next_attempt_at.is_none() {
        let reason = if gone { error } else { format!("retries ran out: {error}") };
        disable(shared, hook, &reason).await?;
    }
    Ok(None)
}
