//! Aggregate tests as sentences: `given(events).when(actor, command)` and
//! then the one event decided (`then`, `then_an_event`), nothing
//! (`then_nothing`), or a refusal (`then_refused`, `then_refused_with`). The
//! events given are folded as the command path folds them (workspace, then
//! board with its items); no database.

use std::collections::BTreeMap;

use sunday_domain::board::{self, Board};
use sunday_domain::board_commands::{self, BoardCommand};
use sunday_domain::item_commands::{self, ItemCommand};
use sunday_domain::store::{Metadata, RecordedEvent, StreamId};
use sunday_domain::workspace::{self, Workspace, WorkspaceCommand};
use sunday_domain::{Ctx, Decision, DomainError, DomainEvent};
use uuid::Uuid;

/// The workspace and board every sentence is about.
pub(crate) const WS: Uuid = Uuid::from_u128(100);
pub(crate) const BOARD: Uuid = Uuid::from_u128(200);

/// A command of any aggregate; an item command names its item.
pub(crate) enum Command {
    Workspace(WorkspaceCommand),
    Board(BoardCommand),
    Item(Uuid, ItemCommand),
}

impl From<WorkspaceCommand> for Command {
    fn from(c: WorkspaceCommand) -> Self {
        Self::Workspace(c)
    }
}

impl From<BoardCommand> for Command {
    fn from(c: BoardCommand) -> Self {
        Self::Board(c)
    }
}

/// `cmd` on item `id` (for a create, the id it creates).
pub(crate) fn on_item(id: Uuid, cmd: ItemCommand) -> Command {
    Command::Item(id, cmd)
}

/// The events so far, as the log holds them.
#[derive(Clone, Default)]
pub(crate) struct Given {
    events: Vec<RecordedEvent>,
    versions: BTreeMap<String, u64>,
}

/// The history of a test: these events, in this order.
pub(crate) fn given(events: impl IntoIterator<Item = (StreamId, DomainEvent)>) -> Given {
    events.into_iter().fold(Given::default(), |g, (stream, e)| g.and(stream, e))
}

impl Given {
    /// One more event in the history.
    pub(crate) fn and(mut self, stream: StreamId, event: DomainEvent) -> Self {
        let version = self.versions.entry(stream.as_str().to_owned()).or_default();
        *version += 1;
        self.events.push(RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: stream,
            stream_version: *version,
            position: i64::try_from(self.events.len() + 1).unwrap_or_default() * 1024,
            occurred_at: chrono::Utc::now(),
            workspace_id: Some(WS),
            board_id: Some(BOARD),
            stored_schema_version: event.schema_version(),
            event,
            metadata: Metadata { command_hash: Some("h".into()), ..Metadata::default() },
        });
        self
    }

    /// The history with the event `actor`'s `command` is decided to, which must be one.
    pub(crate) fn and_then(self, actor: Uuid, command: impl Into<Command>) -> Self {
        let command = command.into();
        let stream = match &command {
            Command::Workspace(_) => StreamId::workspace(WS),
            Command::Board(_) => StreamId::board(BOARD),
            Command::Item(id, _) => StreamId::item(*id),
        };
        let event = self.when(actor, command).event();
        self.and(stream, event)
    }

    pub(crate) fn events(&self) -> &[RecordedEvent] {
        &self.events
    }

    pub(crate) fn workspace(&self) -> Option<Workspace> {
        self.events.iter().filter(|e| e.stream_id.as_str().starts_with("workspace-")).fold(None, workspace::evolve)
    }

    pub(crate) fn board(&self) -> Option<Board> {
        self.events.iter().filter(|e| !e.stream_id.as_str().starts_with("workspace-")).fold(None, board::evolve)
    }

    /// `actor` sends `command`.
    pub(crate) fn when(&self, actor: Uuid, command: impl Into<Command>) -> Then {
        self.when_at(Ctx { actor, if_match: None, command_hash: "h", legacy_hash: None }, command)
    }

    /// `actor` sends `command` expecting its target at `version` (`If-Match`).
    pub(crate) fn when_expecting(&self, actor: Uuid, version: u64, command: impl Into<Command>) -> Then {
        self.when_at(Ctx { actor, if_match: Some(version), command_hash: "h", legacy_hash: None }, command)
    }

    fn when_at(&self, ctx: Ctx<'_>, command: impl Into<Command>) -> Then {
        let (ws, board) = (self.workspace(), self.board());
        let decided = match command.into() {
            Command::Workspace(cmd) => workspace::decide(ws.as_ref(), &ctx, &cmd),
            Command::Board(cmd) => board_commands::decide(ws.as_ref(), board.as_ref(), &ctx, &cmd),
            Command::Item(id, cmd) => match (&ws, &board) {
                (Some(ws), Some(board)) => item_commands::decide(ws, board, board.items.get(&id), &ctx, &cmd),
                _ => Err(DomainError::NotFound("board")),
            },
        };
        Then(decided)
    }
}

/// What a command was decided to.
#[must_use = "a sentence ends with then…"]
pub(crate) struct Then(pub(crate) Result<Decision, DomainError>);

impl Then {
    /// Then exactly this event.
    #[track_caller]
    pub(crate) fn then(self, expected: DomainEvent) {
        assert_eq!(self.event(), expected);
    }

    /// Then one event, which `check` looks at.
    #[track_caller]
    pub(crate) fn then_an_event(self, check: impl FnOnce(DomainEvent)) {
        check(self.event());
    }

    /// Then nothing is appended: the command changes nothing.
    #[track_caller]
    pub(crate) fn then_nothing(self) {
        assert_eq!(self.0, Ok(Decision::Unchanged));
    }

    /// Then exactly this refusal.
    #[track_caller]
    pub(crate) fn then_refused(self, expected: DomainError) {
        assert_eq!(self.0, Err(expected));
    }

    /// Then a refusal of this kind (`DomainError::Forbidden(_)`, …), whatever its message.
    #[track_caller]
    pub(crate) fn then_refused_with(self, kind: fn(&DomainError) -> bool) {
        assert!(matches!(&self.0, Err(e) if kind(e)), "expected a refusal of that kind, got {:?}", self.0);
    }

    /// The one event decided.
    #[track_caller]
    pub(crate) fn event(self) -> DomainEvent {
        match self.0 {
            Ok(Decision::Append(e)) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}
