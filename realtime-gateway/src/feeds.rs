//! With NATS, a process follows each workspace that has rooms here through
//! one JetStream consumer (`<prefix>.events.<workspace>.>`), shared by
//! those rooms: each board event goes to its board's room, and each
//! workspace-level event (membership) to every room of the workspace, all in
//! log order. One consumer per workspace, not per board, because a workspace
//! removal must reach a room before any later event of its board: two
//! consumers would deliver them in no particular order (and NATS 2.9 has no
//! consumer with two filters).
//!
//! The consumer (`consumer`) checks its sequence; after a gap, a missed
//! heartbeat or a lost connection it is made again from the stream sequence
//! after the last one it delivered, so nothing is skipped, and every room of
//! the workspace folds access from the log again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;

use crate::consumer::Consumer;
use crate::consumer::SubscribeError;
use crate::live::LiveEvent;
use crate::rooms::{Heard, RoomHandle};

/// Longest wait between attempts to follow a workspace again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Whether a workspace's consumer is up.
#[derive(Clone, Debug)]
enum State {
    Starting,
    Running,
    Failed(String),
}

/// One workspace followed, and the rooms it feeds.
struct Feed {
    rooms: Mutex<HashMap<Uuid, RoomHandle>>,
    state: watch::Receiver<State>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Feed {
    fn rooms(&self) -> MutexGuard<'_, HashMap<Uuid, RoomHandle>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands a message to the rooms it concerns.
    fn route(&self, board: Option<Uuid>, heard: impl Fn() -> Heard) {
        let rooms = self.rooms();
        match board {
            Some(b) => {
                if let Some(room) = rooms.get(&b) {
                    room.hear(heard());
                }
            }
            None => rooms.values().for_each(|room| {
                room.hear(heard());
            }),
        }
    }
}

/// The workspaces this process follows. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Feeds {
    client: async_nats::Client,
    prefix: String,
    feeds: Arc<Mutex<HashMap<Uuid, Arc<Feed>>>>,
    /// Task `workspace-feeds`: failing while a feed cannot be followed.
    task: sunday_runtime::Task,
}

/// How long a join waits for JetStream before answering `unavailable`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(3);

/// A room's place in its workspace's feed; dropping it leaves the feed (the
/// last room to leave stops the consumer).
pub(crate) struct Membership {
    feeds: Feeds,
    workspace: Uuid,
    board: Uuid,
    room: RoomHandle,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.feeds.leave(self.workspace, self.board, &self.room);
    }
}

impl Feeds {
    pub(crate) fn new(client: async_nats::Client, prefix: String, task: sunday_runtime::Task) -> Self {
        task.running();
        Self { client, prefix, feeds: Arc::default(), task }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Arc<Feed>>> {
        self.feeds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Routes the board's events (and its workspace's) to `room` from now on,
    /// once the workspace's consumer is up.
    pub(crate) async fn join(&self, workspace: Uuid, board: Uuid, room: RoomHandle) -> Result<Membership, SubscribeError> {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(SubscribeError("not connected to NATS; retry".into()));
        }
        let feed = {
            let mut feeds = self.lock();
            let feed = feeds.entry(workspace).or_insert_with(|| self.start(workspace)).clone();
            feed.rooms().insert(board, room.clone());
            feed
        };
        let membership = Membership { feeds: self.clone(), workspace, board, room };
        let mut state = feed.state.clone();
        let settled = tokio::time::timeout(JOIN_TIMEOUT, state.wait_for(|s| !matches!(s, State::Starting))).await;
        let settled = match settled {
            Err(_) => return Err(SubscribeError("JetStream did not answer in time; retry".into())),
            Ok(Err(_)) => return Err(SubscribeError("the workspace feed stopped".into())),
            Ok(Ok(s)) => s.clone(),
        };
        match settled {
            State::Failed(why) => Err(SubscribeError(why)),
            _ => Ok(membership),
        }
    }

    fn start(&self, workspace: Uuid) -> Arc<Feed> {
        let (tx, state) = watch::channel(State::Starting);
        let feed = Arc::new(Feed { rooms: Mutex::default(), state, task: Mutex::new(None) });
        let task = tokio::spawn(follow(self.clone(), workspace, feed.clone(), tx));
        *feed.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        feed
    }

    fn leave(&self, workspace: Uuid, board: Uuid, room: &RoomHandle) {
        let mut feeds = self.lock();
        let Some(feed) = feeds.get(&workspace).cloned() else { return };
        let empty = {
            let mut rooms = feed.rooms();
            if rooms.get(&board).is_some_and(|r| r.same(room)) {
                rooms.remove(&board);
            }
            rooms.is_empty()
        };
        if empty {
            feeds.remove(&workspace);
            if let Some(task) = feed.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
                task.abort();
            }
        }
    }

    /// Forgets a feed whose first consumer could not be made, so that the
    /// next join tries again.
    fn forget(&self, workspace: Uuid, feed: &Arc<Feed>) {
        let mut feeds = self.lock();
        if feeds.get(&workspace).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            feeds.remove(&workspace);
        }
    }
}

/// Follows one workspace until its last room leaves (the task is aborted).
async fn follow(feeds: Feeds, workspace: Uuid, feed: Arc<Feed>, state: watch::Sender<State>) {
    let filter = format!("{}.events.{workspace}.>", feeds.prefix);
    let mut backoff = Duration::from_millis(100);
    // The stream sequence a consumer made again starts at: nothing skipped.
    let mut resume = None;
    loop {
        let mut messages = match Consumer::start(&feeds.client, &feeds.prefix, filter.clone(), resume).await {
            Ok(m) => m,
            Err(e) if matches!(*state.borrow(), State::Starting) => {
                feeds.forget(workspace, &feed);
                let _ = state.send(State::Failed(e.to_string()));
                return;
            }
            Err(e) => {
                tracing::warn!(%workspace, error = %e, "cannot follow the workspace's events; retrying");
                feeds.task.failing(&e);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if !matches!(*state.borrow(), State::Starting) {
            // Made again: rooms fold access again, in case the lost one was
            // about to tell them of a membership change.
            feed.route(None, || Heard::Resync);
        }
        let _ = state.send(State::Running);
        feeds.task.running();
        while let Some(next) = messages.next().await {
            backoff = Duration::from_millis(100);
            match next {
                Ok(m) => {
                    let board = board_of(&m.subject);
                    let traceparent = m.headers.as_ref().and_then(|h| h.get("traceparent")).map(|v| v.as_str());
                    match LiveEvent::from_published(&m.payload, traceparent) {
                        Some(e) if board.is_some() => {
                            let e = Arc::new(e);
                            feed.route(board, || Heard::Live(e.clone()));
                        }
                        Some(_) => feed.route(None, || Heard::WorkspaceChanged(workspace)),
                        None => tracing::warn!(subject = %m.subject, "skipping a message that is not a Sunday event"),
                    }
                }
                Err(e) => {
                    tracing::warn!(%workspace, error = %e, "workspace feed lost; it is made again from where it was");
                    break;
                }
            }
        }
        resume = Some(messages.resume());
        tokio::time::sleep(backoff).await;
    }
}

/// The board a subject `<prefix>.events.<ws>.<board>.<type>` is about
/// (`None` for the workspace's own events, whose board part is `_`).
fn board_of(subject: &str) -> Option<Uuid> {
    subject.rsplit('.').nth(1).and_then(|s| Uuid::parse_str(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_their_board() {
        let b = Uuid::from_u128(9);
        assert_eq!(board_of(&format!("p.events.{}.{b}.ItemCreated", Uuid::nil())), Some(b));
        assert_eq!(board_of(&format!("p.events.{}._.WorkspaceMemberRemoved", Uuid::nil())), None);
    }
}
