//! The dispatcher role (`sunday webhooks`, and inside `sunday all`): one
//! active instance (an advisory lock; standbys wait to take over), which
//! runs the scan and the senders side by side from the positions in its
//! tables, under the supervisor that starts it again after any error.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sunday_domain::store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StoreError, StreamId};
use sunday_domain::webhook::{self, Webhook, WebhookCommand};
use sunday_domain::{Ctx, Decision};
use sunday_eventstore::PgEventStore;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::send::Sender;
use crate::{DispatchConfig, DispatchError, Metrics, lanes, scan, store};

/// The advisory lock that elects the one active dispatcher.
const LEADER_LOCK: i64 = 0x5355_4e44_4159_0003;

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
}

impl Shared {
    pub(crate) fn webhook(&self, id: Uuid) -> Option<Webhook> {
        self.hooks.read().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }
}

/// Runs the dispatcher under `tasks` (task `webhooks`).
pub fn spawn(
    tasks: &sunday_runtime::Tasks,
    store: PgEventStore,
    config: DispatchConfig,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let watch = stop.clone();
    tasks.supervise("webhooks", true, watch, move |task| {
        let (store, config, metrics, mut stop) = (store.clone(), config.clone(), metrics.clone(), stop.clone());
        async move { run(store, config, metrics, &mut stop, &task).await }
    })
}

/// Dispatches until `stop` turns true or something fails, once elected.
pub async fn run(
    store: PgEventStore,
    config: DispatchConfig,
    metrics: Arc<Metrics>,
    stop: &mut watch::Receiver<bool>,
    task: &sunday_runtime::Task,
) -> Result<(), DispatchError> {
    task.standby();
    let options = store.pool().connect_options();
    let Some(mut leadership) = sunday_runtime::leader::elect(&options, LEADER_LOCK, stop).await? else { return Ok(()) };
    let (at, hooks) = store::load(store.pool()).await?;
    tracing::info!(position = at, webhooks = hooks.len(), "webhook dispatcher elected");
    let sender = Sender::new(config.addresses, config.timeout).map_err(|e| DispatchError::Client(e.to_string()))?;
    let shared = Arc::new(Shared { store, config, sender, metrics, hooks: RwLock::new(hooks), wake: Notify::new() });
    task.leading();
    tokio::select! {
        r = scan::follow(&shared, at) => r,
        r = lanes::run(shared.clone()) => r,
        _ = stop.changed() => Ok(()),
        why = leadership.lost() => Err(DispatchError::LeadershipLost(why)),
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
