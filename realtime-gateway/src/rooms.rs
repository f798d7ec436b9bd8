//! The rooms of this process, by board, and the two ways into one: a bounded
//! inbox for what sockets tell it, and an unbounded channel for what the bus
//! hears (the board's events in log order, which must never be dropped and
//! come at the log's pace, not a client's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{self, Receiver, Sender, UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::Refused;
use crate::access::BoardAccess;
use crate::frame::{self, Status};
use crate::live::LiveEvent;
use crate::outbox::{Outbox, SocketId};

/// What a room's inbox holds at most. Joins wait for room; presence and
/// cursor moves beyond it are dropped (the next one replaces them anyway).
pub(crate) const INBOX: usize = 1024;

/// What a socket tells a room.
pub(crate) enum RoomInput {
    /// Start hearing the board's events. `access`: who may read the board as
    /// the socket just read it from the log, after the room could not admit it.
    Join {
        socket: Outbox,
        user: Uuid,
        access: Option<Box<BoardAccess>>,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    /// The socket has caught up: it shows in presence from now on.
    Ready {
        socket: SocketId,
    },
    Leave {
        socket: SocketId,
    },
    Presence {
        socket: SocketId,
        status: Status,
    },
    Cursor {
        socket: SocketId,
        position: frame::CursorPosition,
    },
}

/// What the bus tells a room.
pub(crate) enum Heard {
    /// One of the board's events, in log order.
    Live(Arc<LiveEvent>),
    /// Something about this workspace changed: re-read its membership.
    WorkspaceChanged(Uuid),
    /// The board's feed had a hiccup: fold access from the log again.
    Resync,
}

/// How sockets and the bus reach one room. Cheap to clone.
#[derive(Clone)]
pub(crate) struct RoomHandle {
    inbox: Sender<RoomInput>,
    heard: UnboundedSender<Heard>,
}

/// The receiving ends, owned by the room's task.
pub(crate) struct RoomQueues {
    pub(crate) inbox: Receiver<RoomInput>,
    pub(crate) heard: UnboundedReceiver<Heard>,
}

impl RoomHandle {
    pub(crate) fn new() -> (Self, RoomQueues) {
        let (inbox, inbox_rx) = mpsc::channel(INBOX);
        let (heard, heard_rx) = mpsc::unbounded_channel();
        (Self { inbox, heard }, RoomQueues { inbox: inbox_rx, heard: heard_rx })
    }

    /// Hands the room something the bus heard; false when the room is gone.
    pub(crate) fn hear(&self, h: Heard) -> bool {
        self.heard.send(h).is_ok()
    }

    /// Waits for room in the inbox; false when the room is gone.
    pub(crate) async fn send(&self, input: RoomInput) -> bool {
        self.inbox.send(input).await.is_ok()
    }

    /// An ephemeral input (presence, cursor): dropped when the inbox is full.
    pub(crate) fn tell(&self, input: RoomInput) {
        let _ = self.inbox.try_send(input);
    }

    /// A socket leaves: this must arrive, so a full inbox is waited on aside.
    pub(crate) fn leave(&self, socket: SocketId) {
        if let Err(TrySendError::Full(input)) = self.inbox.try_send(RoomInput::Leave { socket }) {
            let inbox = self.inbox.clone();
            tokio::spawn(async move {
                let _ = inbox.send(input).await;
            });
        }
    }

    pub(crate) fn same(&self, other: &Self) -> bool {
        self.inbox.same_channel(&other.inbox)
    }
}

/// The rooms of this process, by board.
#[derive(Clone, Default)]
pub(crate) struct Rooms(Arc<Mutex<HashMap<Uuid, RoomHandle>>>);

impl Rooms {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, RoomHandle>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands a board's room what the bus heard, if this process has one
    /// (`make` runs only then).
    pub(crate) fn hear(&self, board: Uuid, make: impl FnOnce() -> Heard) {
        if let Some(room) = self.lock().get(&board) {
            room.hear(make());
        }
    }

    pub(crate) fn workspace_changed(&self, workspace: Uuid) {
        for room in self.lock().values() {
            room.hear(Heard::WorkspaceChanged(workspace));
        }
    }

    /// The board's room, started with `start` when there is none.
    pub(crate) fn get_or_start(&self, board: Uuid, start: impl FnOnce(RoomHandle, RoomQueues)) -> RoomHandle {
        let mut rooms = self.lock();
        if let Some(room) = rooms.get(&board)
            && !room.inbox.is_closed()
        {
            return room.clone();
        }
        let (handle, queues) = RoomHandle::new();
        rooms.insert(board, handle.clone());
        start(handle.clone(), queues);
        handle
    }

    /// Removes the room `me` (and only it) if nothing is queued for it;
    /// false when it must go on.
    pub(crate) fn close_if_idle(&self, board: Uuid, me: &RoomHandle, queues: &RoomQueues) -> bool {
        let mut rooms = self.lock();
        if !queues.inbox.is_empty() || !queues.heard.is_empty() {
            return false;
        }
        Self::remove_if_same(&mut rooms, board, me);
        true
    }

    pub(crate) fn forget(&self, board: Uuid, room: &RoomHandle) {
        Self::remove_if_same(&mut self.lock(), board, room);
    }

    fn remove_if_same(rooms: &mut HashMap<Uuid, RoomHandle>, board: Uuid, room: &RoomHandle) {
        if rooms.get(&board).is_some_and(|r| r.same(room)) {
            rooms.remove(&board);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
