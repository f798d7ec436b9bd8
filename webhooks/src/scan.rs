//! The scan: follows the log from its position, folds the webhook streams,
//! and for every other event moves the head of each lane it belongs to (one
//! lane per webhook and board). Inactive webhooks' lanes grow too, so that
//! `PATCH {active: true}` resumes from the first event not delivered.

use std::collections::HashMap;

use sunday_domain::store::{Position, RecordedEvent};
use sunday_domain::webhook::{self, Webhook};
use uuid::Uuid;

use crate::DispatchError;
use crate::shared::Shared;
use crate::store::{self, LaneKey, ScanBatch};

/// Follows the log until an error; wakes the senders after each batch.
pub(crate) async fn follow(shared: &Shared, mut at: Position) -> Result<(), DispatchError> {
    let mut tail = shared.store.tail(at, 1000);
    loop {
        let events = tail.next_batch().await?;
        let Some(last) = events.last().map(|e| e.position) else { continue };
        let batch = {
            let hooks = shared.hooks.read().unwrap_or_else(|p| p.into_inner());
            fold(&hooks, &events)
        };
        // Kept before the lanes' heads move: a sender woken by the commit
        // must find every event up to them.
        shared.recent.write().unwrap_or_else(|p| p.into_inner()).push(events);
        store::commit_scan(&shared.pool, at, last, &batch).await?;
        let mut hooks = shared.hooks.write().unwrap_or_else(|p| p.into_inner());
        for (id, hook) in batch.webhooks {
            match hook {
                Some(h) => hooks.insert(id, h),
                None => hooks.remove(&id),
            };
        }
        drop(hooks);
        at = last;
        shared.wake.notify_one();
    }
}

/// What a batch of events changes, given the webhooks before it.
pub(crate) fn fold(hooks: &HashMap<Uuid, Webhook>, events: &[RecordedEvent]) -> ScanBatch {
    let mut batch = ScanBatch::default();
    let mut current = hooks.clone();
    for e in events {
        if e.stream_id.as_str().starts_with("webhook-") {
            fold_webhook(&mut current, &mut batch, e);
            continue;
        }
        if e.workspace_id.is_none() {
            continue;
        }
        let board = e.board_id.unwrap_or(Uuid::nil());
        let event_type = e.event.event_type();
        for hook in current.values().filter(|h| h.matches(event_type, e.workspace_id, e.board_id)) {
            let lane = batch.lanes.entry(LaneKey { webhook: hook.id, board }).or_insert((e.position, e.position));
            lane.1 = e.position;
        }
    }
    batch
}

fn fold_webhook(current: &mut HashMap<Uuid, Webhook>, batch: &mut ScanBatch, e: &RecordedEvent) {
    let id = e.event.subject().1;
    let before = current.remove(&id);
    let was_inactive = before.as_ref().is_some_and(|h| !h.active);
    let after = webhook::evolve(before, e).filter(|h| !h.deleted);
    if was_inactive && after.as_ref().is_some_and(|h| h.active) {
        batch.resumed.push(id);
    }
    if let Some(h) = &after {
        current.insert(id, h.clone());
    }
    batch.webhooks.insert(id, after);
}
