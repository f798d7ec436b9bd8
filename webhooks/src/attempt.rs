//! One attempt at one event for a lane or a replay: signed and sent,
//! recorded with what it does to the sender's position, and on the last
//! failure (or `410`), the webhook disabled.

use std::time::Duration;

use sunday_domain::store::{Position, RecordedEvent};
use sunday_domain::webhook::Webhook;

use crate::DispatchError;
use crate::send::{Attempt, Outcome};
use crate::shared::{Shared, disable};
use crate::store::{self, Progress, Recorded};

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
            store::record(&shared.pool, &Recorded { status: Some(*status), ..base }).await?;
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
    store::record(&shared.pool, &failed).await?;
    if next_attempt_at.is_none() {
        let reason = if gone { error } else { format!("retries ran out: {error}") };
        disable(shared, hook, &reason).await?;
    }
    Ok(None)
}
