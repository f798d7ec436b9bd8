//! The projector's announcements to readers in the same process: how far the
//! read models are, and which boards, workspaces and users changed.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use sunday_domain::store::{Position, RecordedEvent};
use uuid::Uuid;

/// What one committed batch changed, and the checkpoint after it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Invalidation {
    pub position: Position,
    /// The checkpoint the batch started from: a reader whose last applied
    /// invalidation ended below it missed some and cannot trust its cache.
    #[serde(default)]
    pub previous: Position,
    /// Workspaces whose own stream changed (name, members).
    pub workspaces: BTreeSet<Uuid>,
    /// Boards whose stream or items changed.
    pub boards: BTreeSet<Uuid>,
    /// Users whose profile changed (their name appears in member and assignee lists).
    pub users: BTreeSet<Uuid>,
}

impl Invalidation {
    /// Records what an applied event touched.
    pub fn note(&mut self, e: &RecordedEvent) {
        match (e.board_id, e.workspace_id) {
            (Some(b), _) => {
                self.boards.insert(b);
            }
            (None, Some(w)) => {
                self.workspaces.insert(w);
            }
            (None, None) => {}
        }
        if let sunday_domain::DomainEvent::UserProfileUpdated(u) = &e.event {
            self.users.insert(u.user_id);
        }
    }
}

/// Called with every committed batch's changes before the checkpoint moves.
pub type Hook = Arc<dyn Fn(&Invalidation) + Send + Sync>;

/// The channel between the projector and the readers of its read models.
#[derive(Clone, Default)]
pub struct Feed {
    hooks: Arc<Mutex<Vec<Hook>>>,
}

impl Feed {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `hook` on every committed batch, synchronously and before the
    /// checkpoint moves: a cache evicted here is never seen stale by a reader
    /// that waited for the checkpoint.
    pub fn on_advance(&self, hook: Hook) {
        self.hooks.lock().unwrap_or_else(|p| p.into_inner()).push(hook);
    }

    /// Announces a committed batch to every hook.
    pub fn advance(&self, done: Invalidation) {
        let hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for hook in hooks {
            hook(&done);
        }
    }
}
