//! One attempt at one event for a lane or a replay: signed and sent,
//! recorded with what it does to the sender's position, and on the last
//! failure (or `410`), the webhook disabled.

use std::time::Duration;

use sunday_domain::store::{Position, RecordedEvent};
use sunday_domain::webhook::Webhook;

use crate::DispatchError;
use crate::send::{Attempt, Outcome};
use crate::shared::{Shared, disable};
use crate::store::{self, Failure, Progress, Sent};

/// Deliveries recorded together: a crash re-sends at most this many (under
/// their own `webhook-id`), and each costs one statement the fewer.
const FLUSH: usize = 32;

/// Where a sender of a lane or replay stands: its position as the database
/// holds it, how far it has sent or passed since, and the deliveries not
/// recorded yet.
pub(crate) struct Run {
    pub(crate) progress: Progress,
    pub(crate) webhook: Webhook,
    recorded: Position,
    passed: Position,
    failures: u32,
    failing_since: Option<chrono::DateTime<chrono::Utc>>,
    pending: Vec<Sent>,
}

impl Run {
    /// A sender at `at` (as recorded), after `failures` failed attempts at the next event.
    pub(crate) fn new(
        progress: Progress,
        webhook: Webhook,
        at: Position,
        failures: u32,
        failing_since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Self {
        Self { progress, webhook, recorded: at, passed: at, failures, failing_since, pending: Vec::new() }
    }

    /// How far it has sent or passed.
    pub(crate) fn position(&self) -> Position {
        self.passed
    }

    /// Goes past what matches nothing (events, or a lane's empty tail).
    pub(crate) fn pass(&mut self, to: Position) {
        self.passed = self.passed.max(to);
    }

    /// Sends `e`: `false` when the sender must wait (the failure is recorded,
    /// with what was delivered before it).
    pub(crate) async fn send(&mut self, shared: &Shared, e: &RecordedEvent) -> Result<bool, DispatchError> {
        let secret = shared.config.key.secret_bytes(self.webhook.id, self.webhook.secret_version);
        let sent = Attempt { url: &self.webhook.url, message_id: e.event_id.to_string(), secret, body: crate::payload::body(e) };
        let (took, outcome) = shared.sender.send(sent).await;
        shared.metrics.observe(&outcome, took);
        let duration_ms = i32::try_from(took.as_millis()).unwrap_or(i32::MAX);
        let (status, error, gone) = match &outcome {
            Outcome::Delivered(status) => {
                let attempt = i32::try_from(self.failures + 1).unwrap_or(i32::MAX);
                let status = i16::try_from(*status).unwrap_or(200);
                self.pending.push(Sent {
                    event_id: e.event_id,
                    position: e.position,
                    event_type: e.event.event_type(),
                    attempt,
                    status,
                    duration_ms,
                });
                (self.passed, self.failures, self.failing_since) = (e.position, 0, None);
                if self.pending.len() >= FLUSH {
                    self.flush(shared).await?;
                }
                return Ok(true);
            }
            Outcome::Gone => (Some(410), "the endpoint answered 410 Gone".to_owned(), true),
            Outcome::Failed { status, error } => (*status, error.clone(), false),
        };
        self.flush(shared).await?;
        let now = chrono::Utc::now();
        let failing_for = self.failing_since.map_or(Duration::ZERO, |since| (now - since).to_std().unwrap_or(Duration::ZERO));
        let delay = if gone { None } else { shared.config.retry.next_delay(self.failures + 1, failing_for) };
        let next_attempt_at = delay.and_then(|d| chrono::Duration::from_std(d).ok()).map(|d| now + d);
        let failed = Failure {
            progress: self.progress,
            at: self.recorded,
            webhook: self.webhook.id,
            event: e,
            attempt: self.failures + 1,
            status,
            error: &error,
            duration_ms,
            next_attempt_at,
        };
        store::record_failure(&shared.pool, &failed).await?;
        if next_attempt_at.is_none() {
            let reason = if gone { error } else { format!("retries ran out: {error}") };
            disable(shared, &self.webhook, &reason).await?;
        }
        Ok(false)
    }

    /// Records what was delivered and passed since the last record.
    pub(crate) async fn flush(&mut self, shared: &Shared) -> Result<(), DispatchError> {
        if self.passed == self.recorded && self.pending.is_empty() {
            return Ok(());
        }
        store::advance(&shared.pool, self.progress, self.webhook.id, (self.recorded, self.passed), &self.pending).await?;
        self.recorded = self.passed;
        self.pending.clear();
        Ok(())
    }
}
