//! A board room: the sockets of one process joined to one board.
//!
//! One task per room owns everything about it, so nothing here is locked: it
//! folds the board's membership as events arrive, gathers events, presence
//! changes and cursor moves over one batch window, serialises each frame once
//! and hands the same bytes to every socket's bounded queue. A socket whose
//! queue is full is closed as a slow consumer; the others are not held back.
//!
//! What sockets tell a room goes through a bounded inbox; what the bus hears
//! (the log, in order) through a channel of its own, so no client can crowd
//! the board's events out. The room never waits on the database for a
//! client: a join it cannot admit is checked against the log by the socket.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;
use uuid::Uuid;

use crate::access::{Applied, BoardAccess};
use crate::bus::Subscription;
use crate::live::{Batch, LiveEvent};
use crate::outbox::{Close, Out, Outbox, SocketId};
use crate::presence::Presence;
use crate::rooms::{Heard, RoomHandle, RoomInput, RoomQueues};
use crate::{Gateway, Refused};

/// How long a room without sockets stays subscribed, for quick re-joins.
const LINGER: Duration = Duration::from_secs(5);

struct Member {
    user: Uuid,
    outbox: Outbox,
    /// Caught up and shown in presence.
    ready: bool,
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
    /// When the last socket left (or the room started).
    idle_since: Instant,
}

/// Runs a room until it has had no sockets for `LINGER`.
pub(crate) async fn run(gateway: Gateway, board: Uuid, me: RoomHandle, mut queues: RoomQueues) {
    let (access, _subscription) = match start(&gateway, board, &me).await {
        Ok(started) => started,
        Err(refused) => return refuse_all(&gateway, board, &me, &mut queues, &refused),
    };
    let mut room = Room {
        board,
        gateway,
        access,
        sockets: HashMap::new(),
        pending: Vec::new(),
        presence: Presence::default(),
        deadline: None,
        heard: 0,
        idle_since: Instant::now(),
    };
    loop {
        let idle = room.sockets.is_empty() && room.deadline.is_none();
        let wake = room.deadline.unwrap_or(room.idle_since + LINGER);
        tokio::select! {
            biased;
            heard = queues.heard.recv() => match heard {
                Some(h) => room.on_heard(h).await,
                None => return,
            },
            input = queues.inbox.recv() => match input {
                Some(i) => room.handle(i),
                None => return,
            },
            () = tokio::time::sleep_until(wake), if idle || room.deadline.is_some() => {
                if room.deadline.is_some() {
                    room.flush();
                } else if room.gateway.rooms.close_if_idle(board, &me, &queues) {
                    return;
                } else {
                    room.idle_since = Instant::now();
                }
            }
        }
    }
}

/// Subscribes to the board's events, then folds access from the log: whatever
/// the subscription does not hear, the fold has read. (The board's workspace,
/// which the subscription needs, never changes.)
async fn start(gateway: &Gateway, board: Uuid, me: &RoomHandle) -> Result<(BoardAccess, Subscription), Refused> {
    let unavailable = |e: &dyn std::fmt::Display| Refused::Unavailable(e.to_string());
    let first = BoardAccess::load(&gateway.store, board).await.map_err(|e| unavailable(&e))?;
    if !first.exists() {
        return Err(Refused::Forbidden);
    }
    let subscription = gateway.subscribe(first.workspace_id, board, me.clone()).await.map_err(|e| unavailable(&e))?;
    let access = BoardAccess::load(&gateway.store, board).await.map_err(|e| unavailable(&e))?;
    Ok((access, subscription))
}

/// A room that could not start answers its queued joins and goes away.
fn refuse_all(gateway: &Gateway, board: Uuid, me: &RoomHandle, queues: &mut RoomQueues, refused: &Refused) {
    loop {
        while let Ok(input) = queues.inbox.try_recv() {
            if let RoomInput::Join { reply, .. } = input {
                let _ = reply.send(Err(refused.clone()));
            }
        }
        while queues.heard.try_recv().is_ok() {}
        if gateway.rooms.close_if_idle(board, me, queues) {
            return;
        }
    }
}

impl Room {
    fn handle(&mut self, input: RoomInput) {
        match input {
            RoomInput::Join { socket, user, access, reply } => {
                let answer = self.join(socket, user, access);
                let _ = reply.send(answer);
            }
            RoomInput::Ready { socket } => {
                if let Some(m) = self.sockets.get_mut(&socket).filter(|m| !m.ready) {
                    m.ready = true;
                    self.presence.enter(m.user);
                    self.arm();
                }
            }
            RoomInput::Leave { socket } => self.remove(socket),
            RoomInput::Presence { socket, status } => {
                if let Some(m) = self.sockets.get(&socket).filter(|m| m.ready) {
                    self.presence.set(m.user, status);
                    self.arm();
                }
            }
            RoomInput::Cursor { socket, position } => {
                if let Some(m) = self.sockets.get(&socket).filter(|m| m.ready) {
                    self.presence.cursors.insert(m.user, position);
                    self.arm();
                }
            }
        }
    }

    async fn on_heard(&mut self, heard: Heard) {
        match heard {
            Heard::Live(e) => self.hear(e).await,
            Heard::WorkspaceChanged(ws) if ws != self.access.workspace_id => {}
            Heard::WorkspaceChanged(_) => {
                if let Err(e) = self.access.reload_workspace(&self.gateway.store).await {
                    tracing::warn!(board = %self.board, error = %e, "could not re-read workspace membership");
                }
                self.evict_non_readers();
            }
            Heard::Resync => self.reload().await,
        }
    }

    /// Registers a socket if its user may read the board as far as the room
    /// knows; the socket's catch-up checks again as of the log it replays.
    fn join(&mut self, socket: Outbox, user: Uuid, access: Option<Box<BoardAccess>>) -> Result<(), Refused> {
        let verified = access.is_some();
        if let Some(fresher) = access {
            self.access.adopt(*fresher);
        }
        if !self.access.can_read(user) {
            // Perhaps added a moment ago and not heard yet: the socket reads the log.
            return Err(if verified { Refused::Forbidden } else { Refused::Unverified });
        }
        self.sockets.insert(socket.id(), Member { user, outbox: socket, ready: false });
        Ok(())
    }

    fn remove(&mut self, socket: SocketId) {
        let Some(m) = self.sockets.remove(&socket) else { return };
        if m.ready {
            self.presence.exit(m.user);
            self.arm();
        }
        if self.sockets.is_empty() {
            self.idle_since = Instant::now();
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
                self.reload().await;
            }
        }
        if !self.sockets.is_empty() {
            self.pending.push(e);
            self.arm();
        }
    }

    /// Folds access from the log again (a gap in what the room heard).
    async fn reload(&mut self) {
        match BoardAccess::load(&self.gateway.store, self.board).await {
            Ok(access) => self.access = access,
            Err(err) => tracing::warn!(board = %self.board, error = %err, "could not re-read board membership"),
        }
        self.evict_non_readers();
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
                sunday_runtime::telemetry::follow(&span, Some(tp));
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
