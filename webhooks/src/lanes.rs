//! The senders: lanes with events to send are taken up to a bound in all and
//! per webhook (a slow endpoint holds only its own), each sends its events
//! one at a time in log order, and stops at the first failure until its
//! retry is due. Only the lane of the failing board waits; the webhook's
//! other boards go on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sunday_domain::store::{Position, RecordedEvent};
use sunday_domain::webhook::Webhook;
use tokio::task::JoinSet;

use crate::DispatchError;
use crate::dispatch::{Shared, disable};
use crate::send::{Attempt, Outcome};
use crate::store::{self, Lane, LaneKey, Recorded};

/// Events a lane reads from the log at a time.
const PAGE: usize = 100;
/// The longest a scheduler sleeps without looking for due retries.
const IDLE: Duration = Duration::from_secs(1);

/// Runs lanes until an error that ends the dispatcher (it was fenced, or
/// its database failed).
pub(crate) async fn run(shared: Arc<Shared>) -> Result<(), DispatchError> {
    let mut running: JoinSet<(LaneKey, Result<(), DispatchError>)> = JoinSet::new();
    let mut busy: HashMap<LaneKey, ()> = HashMap::new();
    let mut per_webhook: HashMap<uuid::Uuid, usize> = HashMap::new();
    loop {
        let free = shared.config.in_flight.saturating_sub(running.len());
        if free > 0 {
            let keys: Vec<LaneKey> = busy.keys().copied().collect();
            for lane in store::ready_lanes(shared.store.pool(), &keys, free).await? {
                let count = per_webhook.entry(lane.key.webhook).or_default();
                if *count >= shared.config.per_webhook {
                    continue;
                }
                *count += 1;
                busy.insert(lane.key, ());
                let shared = shared.clone();
                running.spawn(async move { (lane.key, send_lane(&shared, lane).await) });
            }
        }
        let pause = until_next_retry(&shared).await?;
        tokio::select! {
            () = shared.wake.notified() => {}
            done = running.join_next(), if !running.is_empty() => {
                match done {
                    Some(Ok((key, result))) => {
                        busy.remove(&key);
                        if let Some(n) = per_webhook.get_mut(&key.webhook) { *n = n.saturating_sub(1); }
                        ended(result)?;
                    }
                    // A lane that panicked: start the dispatcher over from its tables.
                    Some(Err(e)) => return Err(DispatchError::Panicked(e.to_string())),
                    None => {}
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
            match attempt(shared, &hook, &lane, (delivered, passed), failures, e).await? {
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

/// One attempt at `e`, recorded with its effect on the lane: the new
/// `delivered` when it was delivered, `None` when the lane must wait.
/// `(delivered, passed)`: the lane's position, and how far it got past
/// events that match nothing.
async fn attempt(
    shared: &Shared,
    hook: &Webhook,
    lane: &Lane,
    (delivered, passed): (Position, Position),
    failures: u32,
    e: &RecordedEvent,
) -> Result<Option<Position>, DispatchError> {
    let secret = shared.config.key.secret_bytes(hook.id, hook.secret_version);
    let sent = Attempt { url: &hook.url, message_id: e.event_id.to_string(), secret, body: crate::payload::body(e) };
    let (took, outcome) = shared.sender.send(sent).await;
    shared.metrics.observe(&outcome, took);
    let duration_ms = i32::try_from(took.as_millis()).unwrap_or(i32::MAX);
    let base = Recorded {
        lane: lane.key,
        from: delivered,
        to: e.position,
        event: e,
        attempt: failures + 1,
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
    let failing_for = lane.failing_since.map_or(Duration::ZERO, |since| (now - since).to_std().unwrap_or(Duration::ZERO));
    let delay = if gone { None } else { shared.config.retry.next_delay(failures + 1, failing_for) };
    let next_attempt_at = delay.and_then(|d| chrono::Duration::from_std(d).ok()).map(|d| now + d);
    let failed = Recorded { to: passed, status, error: Some(&error), next_attempt_at, failed: true, ..base };
    store::record(shared.store.pool(), &failed).await?;
    if next_attempt_at.is_none() {
        let reason = if gone { error } else { format!("retries ran out: {error}") };
        disable(shared, hook, &reason).await?;
    }
    Ok(None)
}
