//! What the scan and the senders share while a dispatcher leads: the
//! webhooks as folded so far, the HTTP sender, the wake-up between them; and
//! how a webhook is disabled.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sunday_domain::store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StoreError, StreamId};
use sunday_domain::webhook::{self, Webhook, WebhookCommand};
use sunday_domain::{Ctx, Decision};
use sunday_eventstore::PgEventStore;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::recent::Recent;
use crate::send::Sender;
use crate::{DispatchConfig, DispatchError, Metrics};

/// What the scan and the senders share.
pub(crate) struct Shared {
    pub(crate) store: PgEventStore,
    pub(crate) config: DispatchConfig,
    pub(crate) sender: Sender,
    pub(crate) metrics: Arc<Metrics>,
    /// The webhooks as the scan has folded them.
    pub(crate) hooks: RwLock<HashMap<Uuid, Webhook>>,
    /// Rung after each scanned batch: there may be lanes to send.
    pub(crate) wake: Notify,
    /// The dispatcher's own pool (its commits do not wait for the disk).
    pub(crate) pool: sqlx::PgPool,
    /// The events the scan read last.
    pub(crate) recent: RwLock<Recent>,
}

impl Shared {
    /// A lane's events from memory if they are there, else from the log.
    pub(crate) async fn lane_events(
        &self,
        workspace: Uuid,
        lane: &crate::store::Lane,
        after: i64,
        limit: usize,
    ) -> Result<Vec<sunday_domain::store::RecordedEvent>, StoreError> {
        let kept = self.recent.read().unwrap_or_else(|p| p.into_inner()).lane(workspace, lane.key.board, (after, lane.head), limit);
        match kept {
            // Nothing kept where the lane's head says there is an event: the
            // log decides (a lane is never moved past what it did not see).
            Some(events) if !events.is_empty() || after >= lane.head => Ok(events),
            _ => crate::store::lane_events(&self.store, workspace, lane, after, limit).await,
        }
    }

    pub(crate) fn webhook(&self, id: Uuid) -> Option<Webhook> {
        self.hooks.read().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }
}

/// Appends `WebhookDisabled` (as the system, through the domain's rules) and
/// stops sending at once; the scan folds the event like any other.
pub(crate) async fn disable(shared: &Shared, hook: &Webhook, reason: &str) -> Result<(), DispatchError> {
    tracing::warn!(webhook = %hook.id, reason, "disabling a webhook");
    if let Some(h) = shared.hooks.write().unwrap_or_else(|p| p.into_inner()).get_mut(&hook.id) {
        h.active = false;
    }
    let stream = StreamId::webhook(hook.id);
    let ctx = Ctx { actor: Uuid::nil(), if_match: None, command_hash: "", legacy_hash: None };
    for _ in 0..5 {
        let events = shared.store.read_stream(&stream, 0).await?;
        let current = events.iter().fold(None, webhook::evolve);
        let cmd = WebhookCommand::Disable { reason: reason.to_owned() };
        let Ok(Decision::Append(event)) = webhook::decide(None, current.as_ref(), &ctx, &cmd) else { return Ok(()) };
        let version = current.map_or(0, |h| h.version);
        let new = NewEvent {
            event_id: Uuid::now_v7(),
            event,
            occurred_at: chrono::Utc::now(),
            workspace_id: Some(hook.workspace_id),
            board_id: None,
            metadata: Metadata { actor_id: Uuid::nil(), correlation_id: Uuid::now_v7(), ..Metadata::default() },
        };
        match shared.store.append(AppendRequest::new(&stream, ExpectedVersion::Exact(version), vec![new])).await {
            Ok(_) => return Ok(()),
            Err(StoreError::WrongExpectedVersion { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(DispatchError::Store(StoreError::Backend("the webhook kept changing while it was being disabled".into())))
}
