//! A board room: the sockets of one process joined to one board.
//!
//! One task per room owns everything about it, so nothing here is locked: it
//! folds the board's membership as events arrive, gathers events, presence
//! changes and cursor moves over one batch window, serialises each frame once
//! and hands the same bytes to every socket's bounded queue. A socket whose
//! queue is full is closed as a slow consumer; the others are not held back.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

use crate::access::{Applied, BoardAccess};
use crate::bus::{LiveEvent, Subscription};
use crate::frame::{self, Status};
use crate::socket::{Close, Out, Outbox, SocketId};
use crate::{Gateway, Refused};

/// How long a room without sockets stays subscribed, for quick re-joins.
const LINGER: Duration = Duration::from_secs(5);

/// What a room is told.
pub(crate) enum RoomInput {
    Join { socket: Outbox, user: Uuid, reply: oneshot::Sender<Result<(), Refused>> },
    Leave { socket: SocketId },
    Presence { socket: SocketId, status: Status },
    Cursor { socket: SocketId, position: frame::CursorPosition },
    Live(Arc<LiveEvent>),
    /// Something about this workspace changed: re-read its membership.
    WorkspaceChanged(Uuid),
}

/// Events gathered in one window, and their frame.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) board: Uuid,
    pub(crate) events: Vec<Arc<LiveEvent>>,
    pub(crate) frame: tokio_tungstenite::tungstenite::Utf8Bytes,
}

impl Batch {
    fn new(board: Uuid, events: Vec<Arc<LiveEvent>>) -> Self {
        let frame = frame::events(board, events.iter().map(|e| &*e.json));
        Self { board, events, frame }
    }

    pub(crate) fn first(&self) -> i64 {
        self.events.first().map_or(0, |e| e.position)
    }

    pub(crate) fn last(&self) -> i64 {
        self.events.last().map_or(0, |e| e.position)
    }

    pub(crate) fn oldest_ms(&self) -> i64 {
        self.events.iter().map(|e| e.occurred_at_ms).min().unwrap_or(0)
    }

    /// The frame without the events at or below `position` (for a socket that
    /// got those from the log while joining).
    pub(crate) fn frame_after(&self, position: i64) -> tokio_tungstenite::tungstenite::Utf8Bytes {
        frame::events(self.board, self.events.iter().filter(|e| e.position > position).map(|e| &*e.json))
    }
}

struct Member {
    user: Uuid,
    outbox: Outbox,
}

struct UserPresence {
    status: Status,
    sockets: u32,
}

/// Presence and cursors of one room.
#[derive(Default)]
struct Presence {
    users: BTreeMap<Uuid, UserPresence>,
    joined: Vec<Uuid>,
    left: Vec<Uuid>,
    changed: bool,
    cursors: HashMap<Uuid, frame::CursorPosition>,
}

impl Presence {
    fn enter(&mut self, user: Uuid) {
        let entry = self.users.entry(user).or_insert(UserPresence { status: Status::Active, sockets: 0 });
        entry.sockets += 1;
        if entry.sockets == 1 {
            self.joined.push(user);
            self.changed = true;
        }
    }

    fn exit(&mut self, user: Uuid) {
        let Some(entry) = self.users.get_mut(&user) else { return };
        entry.sockets = entry.sockets.saturating_sub(1);
        if entry.sockets == 0 {
            self.users.remove(&user);
            self.cursors.remove(&user);
            self.left.push(user);
            self.changed = true;
        }
    }

    fn set(&mut self, user: Uuid, status: Status) {
        if let Some(entry) = self.users.get_mut(&user)
            && entry.status != status {
                entry.status = status;
                self.changed = true;
            }
    }

    /// The `presence` frame of this window, if anything changed.
    fn take_frame(&mut self, board: Uuid) -> Option<tokio_tungstenite::tungstenite::Utf8Bytes> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        let users = self.users.iter().map(|(u, p)| frame::PresenceUser { user_id: *u, status: p.status }).collect();
        let data = frame::PresenceData {
            board_id: board,
            users,
            joined: std::mem::take(&mut self.joined),
            left: std::mem::take(&mut self.left),
        };
        Some(frame::server("presence", &data))
    }

    /// The `cursors` frame of this window: the latest position per user.
    fn take_cursors(&mut self, board: Uuid) -> Option<tokio_tungstenite::tungstenite::Utf8Bytes> {
        if self.cursors.is_empty() {
            return None;
        }
        let cursors = self.cursors.drain().map(|(user_id, position)| frame::CursorEntry { user_id, position }).collect();
        Some(frame::server("cursors", &frame::CursorsData { board_id: board, cursors }))
    }
}

/// One board room's state.
pub(crate) struct Room {
    board: Uuid,
    gateway: Gateway,
    access: BoardAccess,
    sockets: HashMap<SocketId, Member>,
    pending: Vec<Arc<LiveEvent>>,
    presence: Presence,
    /// When the current window closes (none open when `None`).
    deadline: Option<Instant>,
    /// The last event position heard (later duplicates are dropped).
    heard: i64,
}

/// Runs a room until it has had no sockets for `LINGER`.
pub(crate) async fn run(gateway: Gateway, board: Uuid, me: UnboundedSender<RoomInput>, mut inbox: UnboundedReceiver<RoomInput>) {
    let started = match start(&gateway, board, me.clone()).await {
        Ok(s) => s,
        Err(refused) => return refuse_all(&gateway, board, &me, &mut inbox, &refused),
    };
    let (access, _subscription) = started;
    let mut room = Room {
        board,
        gateway,
        access,
        sockets: HashMap::new(),
        pending: Vec::new(),
        presence: Presence::default(),
        deadline: None,
        heard: 0,
    };
    let mut idle_since = Instant::now();
    loop {
        let input = match room.deadline {
            Some(at) => tokio::select! {
                input = inbox.recv() => input,
                () = tokio::time::sleep_until(at) => { room.flush(); continue; }
            },
            None if room.sockets.is_empty() => tokio::select! {
                input = inbox.recv() => input,
                () = tokio::time::sleep_until(idle_since + LINGER) => {
                    if room.gateway.rooms.close_if_idle(board, &me, &inbox) { return; }
                    idle_since = Instant::now();
                    continue;
                }
            },
            None => inbox.recv().await,
        };
        let Some(input) = input else { return };
        room.handle(input).await;
        if room.sockets.is_empty() && room.deadline.is_none() {
            idle_since = Instant::now();
        }
    }
}

type Started = (BoardAccess, Subscription);

/// Loads who may read the board and subscribes to its events.
async fn start(gateway: &Gateway, board: Uuid, me: UnboundedSender<RoomInput>) -> Result<Started, Refused> {
    let access = BoardAccess::load(&gateway.store, board).await.map_err(|e| Refused::Unavailable(e.to_string()))?;
    if !access.exists() {
        return Err(Refused::Forbidden);
    }
    let subscription = gateway.bus.subscribe(board, me).await.map_err(|e| Refused::Unavailable(e.to_string()))?;
    Ok((access, subscription))
}

/// A room that could not start answers its queued joins and goes away.
fn refuse_all(gateway: &Gateway, board: Uuid, me: &UnboundedSender<RoomInput>, inbox: &mut UnboundedReceiver<RoomInput>, refused: &Refused) {
    loop {
        while let Ok(input) = inbox.try_recv() {
            if let RoomInput::Join { reply, .. } = input {
                let _ = reply.send(Err(refused.clone()));
            }
        }
        if gateway.rooms.close_if_idle(board, me, inbox) {
            return;
        }
    }
}

impl Room {
    async fn handle(&mut self, input: RoomInput) {
        match input {
            RoomInput::Join { socket, user, reply } => {
                let answer = self.join(socket, user).await;
                let _ = reply.send(answer);
            }
            RoomInput::Leave { socket } => self.remove(socket),
            RoomInput::Presence { socket, status } => {
                if let Some(m) = self.sockets.get(&socket) {
                    self.presence.set(m.user, status);
                    self.arm();
                }
            }
            RoomInput::Cursor { socket, position } => {
                if let Some(m) = self.sockets.get(&socket) {
                    self.presence.cursors.insert(m.user, position);
                    self.arm();
                }
            }
            RoomInput::Live(e) => self.hear(e).await,
            RoomInput::WorkspaceChanged(ws) if ws == self.access.workspace_id => {
                if let Err(e) = self.access.reload_workspace(&self.gateway.store).await {
                    tracing::warn!(board = %self.board, error = %e, "could not re-read workspace membership");
                }
                self.evict_non_readers();
            }
            RoomInput::WorkspaceChanged(_) => {}
        }
    }

    /// Admits a socket if its user may read the board as of the log.
    async fn join(&mut self, socket: Outbox, user: Uuid) -> Result<(), Refused> {
        if !self.access.can_read(user) {
            // Perhaps added a moment ago and the room has not heard it yet.
            let refreshed = self.access.refresh(&self.gateway.store, self.board).await;
            refreshed.map_err(|e| Refused::Unavailable(e.to_string()))?;
        }
        if !self.access.can_read(user) {
            return Err(Refused::Forbidden);
        }
        self.presence.enter(user);
        self.sockets.insert(socket.id(), Member { user, outbox: socket });
        self.arm();
        Ok(())
    }

    fn remove(&mut self, socket: SocketId) {
        if let Some(m) = self.sockets.remove(&socket) {
            self.presence.exit(m.user);
            self.arm();
        }
    }

    /// One event of the board, in log order.
    async fn hear(&mut self, e: Arc<LiveEvent>) {
        if e.position <= self.heard {
            return;
        }
        self.heard = e.position;
        match self.access.apply(&e) {
            Applied::Same => {}
            Applied::Changed => {
                // Readers who lose access get nothing from this event on.
                self.flush_events();
                self.evict_non_readers();
            }
            Applied::Gap => {
                self.flush_events();
                match BoardAccess::load(&self.gateway.store, self.board).await {
                    Ok(access) => self.access = access,
                    Err(err) => tracing::warn!(board = %self.board, error = %err, "could not re-read board membership"),
                }
                self.evict_non_readers();
            }
        }
        self.pending.push(e);
        self.arm();
    }

    fn evict_non_readers(&mut self) {
        let gone: Vec<SocketId> = self.sockets.iter().filter(|(_, m)| !self.access.can_read(m.user)).map(|(id, _)| *id).collect();
        for id in gone {
            if let Some(m) = self.sockets.get(&id) {
                m.outbox.evicted(self.board);
            }
            self.remove(id);
        }
    }

    /// Opens a batch window if none is open.
    fn arm(&mut self) {
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.gateway.config.batch_window);
        }
    }

    fn flush_events(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = Arc::new(Batch::new(self.board, std::mem::take(&mut self.pending)));
        // One span per traced event: the frame that carries it to the room.
        let spans: Vec<tracing::Span> = batch
            .events
            .iter()
            .filter_map(|e| e.traceparent.as_deref())
            .map(|tp| {
                let span = tracing::debug_span!("ws_frame", board_id = %self.board, sockets = self.sockets.len());
                sunday_eventstore::telemetry::follow(&span, Some(tp));
                span
            })
            .collect();
        self.broadcast(&Out::Events(batch));
        drop(spans);
    }

    /// Closes the window: one frame each for events, presence and cursors.
    fn flush(&mut self) {
        self.deadline = None;
        self.flush_events();
        if let Some(frame) = self.presence.take_frame(self.board) {
            self.broadcast(&Out::Board(Arc::new((self.board, frame))));
        }
        if let Some(frame) = self.presence.take_cursors(self.board) {
            self.broadcast(&Out::Board(Arc::new((self.board, frame))));
        }
    }

    /// Hands one frame to every socket; a full queue closes its socket.
    fn broadcast(&mut self, out: &Out) {
        let mut dropped = Vec::new();
        for (id, m) in &self.sockets {
            match m.outbox.try_send(out.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    m.outbox.close(Close::SlowConsumer);
                    self.gateway.metrics.slow_consumer();
                    dropped.push(*id);
                }
                Err(TrySendError::Closed(_)) => dropped.push(*id),
            }
        }
        for id in dropped {
            self.remove(id);
        }
    }
}
