//! Who may read a board, as of the log (never a lagging projection): the
//! workspace and the board's own stream folded, then kept current from the
//! board's events as the room hears them.

use std::collections::BTreeMap;

use sunday_domain::about::BoardMembership;
use sunday_domain::board;
use sunday_domain::roles::{Access, BoardRole, board_access};
use sunday_domain::store::{EventStore, Position, RecordedEvent, StoreError, StreamId};
use sunday_domain::workspace::{self, Workspace};
use sunday_eventstore::PgEventStore;
use uuid::Uuid;

use crate::live::LiveEvent;

/// A board's readers.
#[derive(Debug, Default)]
pub(crate) struct BoardAccess {
    pub(crate) workspace_id: Uuid,
    workspace: Option<Workspace>,
    members: BTreeMap<Uuid, BoardRole>,
    /// The board stream's version folded so far (0: the board does not exist).
    version: u64,
}

/// What applying an event did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Nothing about access changed.
    Same,
    /// The membership changed; readers must be checked again.
    Changed,
    /// The event is not the next one of the board stream: re-read the log.
    Gap,
}

impl BoardAccess {
    /// Folds the board's and its workspace's streams from the log, as they are now.
    pub(crate) async fn load(store: &PgEventStore, board_id: Uuid) -> Result<Self, StoreError> {
        let (events, ws_events) = Self::streams(store, board_id).await?;
        Ok(Self::fold(&events, &ws_events, Position::MAX))
    }

    /// Who could read the board below `below` (folding only the board's and
    /// its workspace's events before it), and who can as of everything
    /// committed (above it included), from one read of the two streams.
    pub(crate) async fn as_of_and_committed(store: &PgEventStore, board_id: Uuid, below: Position) -> Result<(Self, Self), StoreError> {
        let (events, ws_events) = Self::streams(store, board_id).await?;
        Ok((Self::fold(&events, &ws_events, below), Self::fold(&events, &ws_events, Position::MAX)))
    }

    /// The board's stream and its workspace's (empty when there is no board).
    async fn streams(store: &PgEventStore, board_id: Uuid) -> Result<(Vec<RecordedEvent>, Vec<RecordedEvent>), StoreError> {
        let events = store.read_stream(&StreamId::board(board_id), 0).await?;
        let Some(board) = events.iter().fold(None, board::evolve) else { return Ok((events, Vec::new())) };
        let ws_events = store.read_stream(&StreamId::workspace(board.workspace_id), 0).await?;
        Ok((events, ws_events))
    }

    fn fold(events: &[RecordedEvent], ws_events: &[RecordedEvent], below: Position) -> Self {
        let before = |e: &&RecordedEvent| e.position < below;
        let Some(board) = events.iter().filter(before).fold(None, board::evolve) else { return Self::default() };
        let workspace = ws_events.iter().filter(before).fold(None, workspace::evolve);
        Self { workspace_id: board.workspace_id, workspace, members: board.members, version: board.version }
    }

    /// Reads the workspace's events it has not folded yet.
    pub(crate) async fn reload_workspace(&mut self, store: &PgEventStore) -> Result<(), StoreError> {
        let seen = self.workspace_version();
        let events = store.read_stream(&StreamId::workspace(self.workspace_id), seen).await?;
        self.workspace = events.iter().fold(self.workspace.take(), workspace::evolve);
        Ok(())
    }

    fn workspace_version(&self) -> u64 {
        self.workspace.as_ref().map_or(0, |w| w.version)
    }

    /// Takes `fresher` (folded from the log by someone else, such as a
    /// socket whose join this room could not admit) when it is at least as
    /// far along in both streams.
    /// Each stream's part is taken on its own, so a room that heard a later
    /// board event still learns of a workspace member it had not heard of.
    pub(crate) fn adopt(&mut self, fresher: Self) {
        if self.exists() && fresher.workspace_id != self.workspace_id {
            return;
        }
        let workspace_version = self.workspace_version();
        if fresher.version >= self.version {
            self.workspace_id = fresher.workspace_id;
            self.members = fresher.members;
            self.version = fresher.version;
        }
        if fresher.workspace.as_ref().map_or(0, |w| w.version) >= workspace_version {
            self.workspace = fresher.workspace;
        }
    }

    pub(crate) fn exists(&self) -> bool {
        self.version > 0
    }

    pub(crate) fn can_read(&self, user: Uuid) -> bool {
        let ws_role = self.workspace.as_ref().and_then(|w| w.role_of(user));
        self.exists() && board_access(ws_role, self.members.get(&user).copied()) != Access::None
    }

    /// Folds one of the board's events (item events change nothing here).
    pub(crate) fn apply(&mut self, e: &LiveEvent) -> Applied {
        if !e.board_stream {
            return Applied::Same;
        }
        if e.stream_version <= self.version {
            // Folded already (by a load from the log); readers are checked
            // again here, at the event's place in the stream.
            return if e.membership.is_some() { Applied::Changed } else { Applied::Same };
        }
        if e.stream_version != self.version + 1 {
            return Applied::Gap;
        }
        self.version = e.stream_version;
        match e.membership {
            Some(BoardMembership::Set(user, role)) => {
                self.members.insert(user, role);
                Applied::Changed
            }
            Some(BoardMembership::Removed(user)) => {
                self.members.remove(&user);
                Applied::Changed
            }
            None => Applied::Same,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(version: u64, membership: Option<BoardMembership>) -> LiveEvent {
        LiveEvent {
            position: i64::try_from(version).unwrap_or(0) << 10,
            event_type: "BoardMemberAdded",
            board_stream: true,
            stream_version: version,
            membership,
            occurred_at_ms: 0,
            json: "{}".into(),
            traceparent: None,
        }
    }

    #[test]
    fn membership_events_fold_in_order_and_a_gap_asks_for_the_log() {
        let (owner, guest) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut a = BoardAccess { version: 1, members: BTreeMap::from([(owner, BoardRole::Owner)]), ..BoardAccess::default() };
        assert_eq!(a.apply(&event(2, Some(BoardMembership::Set(guest, BoardRole::Viewer)))), Applied::Changed);
        assert!(a.members.contains_key(&guest));
        assert_eq!(a.apply(&event(3, None)), Applied::Same);
        assert_eq!(a.apply(&event(5, None)), Applied::Gap);
        assert_eq!(a.apply(&event(4, Some(BoardMembership::Removed(guest)))), Applied::Changed);
        assert!(!a.members.contains_key(&guest));
        // Already folded by a load, but readers are checked again at its place.
        assert_eq!(a.apply(&event(4, Some(BoardMembership::Removed(guest)))), Applied::Changed);
        assert_eq!(a.apply(&event(3, None)), Applied::Same);
    }

    #[test]
    fn only_a_fold_as_far_along_is_adopted() {
        let guest = Uuid::from_u128(2);
        let mut a = BoardAccess { version: 3, ..BoardAccess::default() };
        a.adopt(BoardAccess { version: 2, members: BTreeMap::from([(guest, BoardRole::Viewer)]), ..BoardAccess::default() });
        assert!(!a.members.contains_key(&guest), "an older fold is ignored");
        a.adopt(BoardAccess { version: 4, members: BTreeMap::from([(guest, BoardRole::Viewer)]), ..BoardAccess::default() });
        assert!(a.members.contains_key(&guest));
    }
}
