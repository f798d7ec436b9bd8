//! The projector's announcements to readers in the same process: how far the
//! read models are, and which boards, workspaces and users changed.

use std::collections::BTreeSet;

use sunday_domain::store::{Position, RecordedEvent};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// What one committed batch changed, and the checkpoint after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invalidation {
    pub position: Position,
    pub workspaces: BTreeSet<Uuid>,
    pub boards: BTreeSet<Uuid>,
    /// Users whose profile changed (their name appears in member and assignee lists).
    pub users: BTreeSet<Uuid>,
}

impl Invalidation {
    /// Records what an applied event touched.
    pub fn note(&mut self, e: &RecordedEvent) {
        if let Some(b) = e.board_id {
            self.boards.insert(b);
        }
        if let Some(w) = e.workspace_id {
            self.workspaces.insert(w);
        }
        if let sunday_domain::DomainEvent::UserProfileUpdated(u) = &e.event {
            self.users.insert(u.user_id);
        }
    }
}

/// The channel between the projector and the readers of its read models.
#[derive(Clone)]
pub struct Feed {
    position: watch::Sender<Position>,
    invalidations: broadcast::Sender<Invalidation>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    pub fn new() -> Self {
        Self { position: watch::channel(0).0, invalidations: broadcast::channel(1024).0 }
    }

    /// Announces a committed batch.
    pub fn advance(&self, done: Invalidation) {
        let position = done.position;
        let _ = self.invalidations.send(done);
        self.position.send_if_modified(|p| {
            let moved = position > *p;
            *p = (*p).max(position);
            moved
        });
    }

    /// The checkpoint the read models have reached.
    pub fn position(&self) -> watch::Receiver<Position> {
        self.position.subscribe()
    }

    /// Every committed batch's changes, for cache eviction.
    pub fn invalidations(&self) -> broadcast::Receiver<Invalidation> {
        self.invalidations.subscribe()
    }
}
