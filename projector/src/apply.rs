//! How each event reaches the read models: every event goes to the writer of
//! the read model it changes (`workspaces`, `boards`, `members`,
//! `item_events`, `comments`, `webhooks`), inside the batch's transaction, and its
//! activity entry is deferred. Item events, the bulk of the log, also defer
//! their item rows and statistics to the end of the batch (`Deferred`).

use sunday_domain::DomainEvent as E;
use sunday_domain::store::RecordedEvent;

use crate::items::Items;
use crate::outcome::{R, Tx, duplicate_as_unapplied};
use crate::{activity, boards, comments, item_events, members, stats, webhooks, workspaces};

/// Writes that wait for the end of a batch (or for an event that reads
/// them): item rows, statistics and live item counts, activity entries.
#[derive(Default)]
pub(crate) struct Deferred {
    items: Items,
    stats: stats::Pending,
    activity: Vec<RecordedEvent>,
}

impl Deferred {
    /// Writes the batch's items so far, the summed statistics and item counts.
    pub(crate) async fn flush_stats(&mut self, tx: &mut Tx) -> R {
        self.items.flush(tx).await?;
        self.stats.flush(tx).await
    }

    /// Writes everything deferred.
    pub(crate) async fn flush(&mut self, tx: &mut Tx) -> R {
        self.flush_stats(tx).await?;
        let events = std::mem::take(&mut self.activity);
        activity::insert(tx, &events).await
    }
}

/// Applies one event to the read models, and defers its activity entry.
/// Item events defer their statistics too; any other event first writes what
/// was deferred, since it may read or recompute it.
pub(crate) async fn apply(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent) -> R {
    let applied = match e.event.item_id() {
        Some(_) => item_event(tx, deferred, e).await,
        None => match deferred.flush_stats(tx).await {
            Ok(()) => other(tx, e).await,
            Err(err) => Err(err),
        },
    };
    applied.map_err(|err| duplicate_as_unapplied(err, e))?;
    if e.board_id.is_some() {
        deferred.activity.push(e.clone());
    }
    Ok(())
}

async fn item_event(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent) -> R {
    match &e.event {
        E::CommentAdded(_) | E::FileAttached(_) => comments::apply(tx, &mut deferred.items, e).await,
        _ => item_events::apply(tx, &mut deferred.items, &mut deferred.stats, e).await,
    }
}

async fn other(tx: &mut Tx, e: &RecordedEvent) -> R {
    match &e.event {
        E::WorkspaceCreated(_)
        | E::WorkspaceRenamed(_)
        | E::WorkspaceMemberAdded(_)
        | E::WorkspaceMemberRemoved(_)
        | E::UserProfileUpdated(_) => workspaces::apply(tx, e).await,
        E::BoardMemberAdded(_) | E::BoardMemberRoleChanged(_) | E::BoardMemberRemoved(_) => members::apply(tx, e).await,
        E::WebhookCreated(_) | E::WebhookUpdated(_) | E::WebhookSecretRotated(_) | E::WebhookDeleted(_) | E::WebhookDisabled(_) => {
            webhooks::apply(tx, e).await
        }
        _ => boards::apply(tx, e).await,
    }
}
