//! Where a gateway hears about new events.
//!
//! - In process (`Bus::Log`): one gap-safe tail of the log per process, routed
//!   to the board rooms of this process. What `sunday all` uses without NATS.
//! - JetStream (`Bus::Nats`): one push consumer per workspace (`consumer`) with
//!   rooms in this process, shared by them (`feeds`): each room hears its
//!   board's events and its workspace's own events (membership) in log order,
//!   with no gap.
//!
//! Either way a room hears, in log order, every event of its board published
//! after it subscribed (it folds access from the log only after subscribing,
//! so nothing falls between the two); a joining socket gets the rest from the
//! log itself.

use std::sync::Arc;

use sunday_eventstore::PgEventStore;

use crate::live::LiveEvent;
use crate::rooms::Heard;

/// How this gateway hears about new events.
#[derive(Clone)]
pub enum Bus {
    /// Tail the log in this process.
    Log,
    /// JetStream, published by `sunday_command_api::publisher`.
    Nats { client: async_nats::Client, prefix: String },
}

/// A room's live subscription; dropping it stops it.
pub(crate) struct Subscription {
    /// The room's place in its workspace's JetStream feed (`None` on the
    /// in-process bus, which routes to every room of the process already).
    _feed: Option<crate::feeds::Membership>,
}

impl Subscription {
    pub(crate) fn log() -> Self {
        Self { _feed: None }
    }

    pub(crate) fn feed(m: crate::feeds::Membership) -> Self {
        Self { _feed: Some(m) }
    }
}

/// The in-process bus: tails the log from the current horizon and routes each
/// event to its board's room (workspace-level events to every room, as a hint).
pub(crate) async fn follow_log(
    store: PgEventStore,
    rooms: crate::rooms::Rooms,
    task: sunday_runtime::Task,
) -> Result<(), sunday_domain::store::StoreError> {
    let start = store.horizon().await?.saturating_sub(1);
    let mut tail = store.tail(start, 1000);
    task.running();
    tokio::spawn(async move {
        loop {
            let batch = match tail.next_batch().await {
                Ok(b) => b,
                Err(e) => {
                    // The tail resumes from where it was: nothing is skipped.
                    tracing::error!(error = %e, "gateway log tail failed; retrying");
                    task.failing(&e);
                    wait_for_the_log(&store, &task).await;
                    continue;
                }
            };
            for e in &batch {
                match (e.board_id, e.workspace_id) {
                    (Some(board), _) => rooms.hear(board, || Heard::Live(Arc::new(LiveEvent::from_recorded(e)))),
                    (None, Some(ws)) => rooms.workspace_changed(ws),
                    (None, None) => {}
                }
            }
        }
    });
    Ok(())
}

/// Waits, backing off, until the log can be read again; then the task is
/// well (the tail itself may wait a long time for its next event).
async fn wait_for_the_log(store: &PgEventStore, task: &sunday_runtime::Task) {
    let mut backoff = sunday_runtime::Backoff::new(std::time::Duration::from_secs(5));
    loop {
        tokio::time::sleep(backoff.after(std::time::Duration::ZERO)).await;
        match store.horizon().await {
            Ok(_) => {
                task.running();
                return;
            }
            Err(e) => task.failing(&e),
        }
    }
}
