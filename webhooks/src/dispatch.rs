//! The dispatcher role (`sunday webhooks`, and inside `sunday all`): one
//! active instance (an advisory lock; standbys wait to take over), which
//! runs the scan and the senders side by side from the positions in its
//! tables, under the supervisor that starts it again after any error.

use std::sync::{Arc, RwLock};

use sunday_eventstore::PgEventStore;
use tokio::sync::{Notify, watch};

use crate::send::Sender;
use crate::shared::Shared;
use crate::{DispatchConfig, DispatchError, Metrics, lanes, scan, store};

/// The advisory lock that elects the one active dispatcher.
const LEADER_LOCK: i64 = sunday_runtime::leader::locks::WEBHOOKS;

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
    let pool = store::relaxed_pool(&store, 16).await?;
    let recent = RwLock::new(crate::recent::Recent::new(at));
    let shared = Arc::new(Shared { store, config, sender, metrics, hooks: RwLock::new(hooks), wake: Notify::new(), pool, recent });
    task.leading();
    tokio::select! {
        r = scan::follow(&shared, at) => r,
        r = lanes::run(shared.clone()) => r,
        r = prune(&shared) => r,
        _ = stop.changed() => Ok(()),
        why = leadership.lost() => Err(DispatchError::LeadershipLost(why)),
    }
}

/// How often old attempts are deleted, and how many rows at a time.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
const PRUNE_BATCH: i64 = 10_000;

/// Deletes attempts older than the configured retention, a batch at a
/// time, so the deliveries log stays bounded however busy the endpoints.
async fn prune(shared: &Shared) -> Result<(), DispatchError> {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let keep = chrono::Duration::from_std(shared.config.keep_attempts).unwrap_or(chrono::Duration::days(7));
        while store::prune_attempts(&shared.pool, chrono::Utc::now() - keep, PRUNE_BATCH).await? == PRUNE_BATCH {}
    }
}
