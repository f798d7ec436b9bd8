//! One WebSocket connection: a task that reads client frames, writes what its
//! rooms queue for it (bounded), joins boards (snapshot or replay from the log,
//! then live, de-duplicated by position), and sends heartbeats.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use sunday_edge::ErrorKind;

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sunday_edge::Claims;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use uuid::Uuid;

use crate::frame::{self, BoardRef, CursorMove, Incoming, JoinBoard, PresenceUpdate};
use crate::limits::{Notices, SocketSlot};
use crate::outbox::{Close, Out, Outbox};
use crate::rooms::{RoomHandle, RoomInput};
use crate::{Gateway, Refused, join, update};

/// Close code for a socket whose outgoing queue overflowed.
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;
/// Close code when the server shuts down (`Going Away`).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code when the socket's token expires (reconnect with a fresh one).
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Larger text frames go out as fragments of this size, so a socket's write
/// buffer (which keeps its largest size) stays small.
const FRAGMENT: usize = 2048;
/// Optimistic updates one socket may have running at once; more are
/// answered `update-rejected` with status 429.
pub(crate) const UPDATES_IN_FLIGHT: usize = 8;
/// Boards one socket may have joined at once (each is a room to follow).
pub(crate) const MAX_JOINED: usize = 100;

/// The upgraded connection.
pub(crate) type WebSocket = tokio_tungstenite::WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>;

/// A board this socket has joined.
struct Joined {
    /// The highest position it has been sent; live events up to it are dropped.
    watermark: i64,
    room: RoomHandle,
}

/// One connection's state.
pub(crate) struct Conn {
    pub(crate) gateway: Gateway,
    ws: WebSocket,
    pub(crate) claims: Claims,
    pub(crate) outbox: Outbox,
    joined: HashMap<Uuid, Joined>,
    last_heard: Instant,
    /// Permits for optimistic updates in flight.
    pub(crate) updates: Arc<Semaphore>,
    /// When the client may next be told it sends too fast.
    notices: Notices,
    _slot: SocketSlot,
}

impl join::Frames for Conn {
    async fn send_text(&mut self, text: Utf8Bytes) -> Result<(), Close> {
        Conn::send_text(self, text).await
    }
}

/// Serves one upgraded connection until it ends.
pub(crate) async fn run(gateway: Gateway, ws: WebSocket, claims: Claims, slot: SocketSlot) {
    let (outbox, mut rx) = Outbox::new(gateway.config.queue_frames);
    gateway.metrics.connected();
    let mut stop = gateway.stopping.subscribe();
    let beat = gateway.config.heartbeat;
    let updates = Arc::new(Semaphore::new(UPDATES_IN_FLIGHT));
    let (joined, last_heard, notices) = (HashMap::new(), Instant::now(), Notices::new());
    let mut conn = Conn { gateway, ws, claims, outbox, joined, last_heard, updates, notices, _slot: slot };
    let mut heartbeat = tokio::time::interval_at(Instant::now() + beat, beat);
    let closer = conn.outbox.clone();
    let end = if *stop.borrow() {
        Close::GoingAway
    } else {
        loop {
            let step = tokio::select! {
                biased;
                why = closer.closed() => Err(why),
                _ = stop.changed() => Err(Close::GoingAway),
                // Boxed: the idle socket's task stays small (joins are big futures).
                incoming = conn.ws.next() => Box::pin(conn.on_incoming(incoming)).await,
                Some(out) = rx.recv() => conn.deliver(out).await,
                _ = heartbeat.tick() => conn.beat(beat).await,
            };
            if let Err(end) = step {
                break end;
            }
        }
    };
    conn.finish(end).await;
}

impl Conn {
    pub(crate) fn user(&self) -> Uuid {
        self.claims.sub
    }

    /// Sends one frame, unless the socket is told to close meanwhile.
    pub(crate) async fn send(&mut self, message: Message) -> Result<(), Close> {
        let (outbox, ws) = (&self.outbox, &mut self.ws);
        tokio::select! {
            biased;
            why = outbox.closed() => Err(why),
            sent = ws.send(message) => sent.map_err(|_| Close::Gone),
        }
    }

    /// Sends a text frame, in fragments when it is large.
    async fn send_text(&mut self, text: Utf8Bytes) -> Result<(), Close> {
        if text.len() <= FRAGMENT {
            self.send(Message::Text(text)).await?;
        } else {
            let bytes = hyper::body::Bytes::from(text);
            let last = bytes.len().div_ceil(FRAGMENT) - 1;
            for (i, start) in (0..bytes.len()).step_by(FRAGMENT).enumerate() {
                let chunk = bytes.slice(start..(start + FRAGMENT).min(bytes.len()));
                let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
                self.send(Message::Frame(Frame::message(chunk, opcode, i == last))).await?;
            }
        }
        self.gateway.metrics.sent();
        Ok(())
    }

    /// A heartbeat: drops a silent socket, closes one whose token expired
    /// (checked here rather than with a timer of its own: one timer per
    /// socket is enough), else pings.
    async fn beat(&mut self, every: Duration) -> Result<(), Close> {
        if self.last_heard.elapsed() > every * 2 {
            return Err(Close::Dead);
        }
        if chrono::Utc::now().timestamp() >= self.claims.exp {
            return Err(Close::Expired);
        }
        self.send(Message::Ping(Default::default())).await
    }

    async fn on_incoming(&mut self, incoming: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> Result<(), Close> {
        let Some(Ok(message)) = incoming else { return Err(Close::Gone) };
        self.last_heard = Instant::now();
        match message {
            Message::Text(text) => match self.gateway.limits.check(sunday_edge::Kind::Frames, self.user()) {
                Ok(_) => self.on_frame(text.as_str()).await,
                Err(limited) if self.notices.due() => {
                    let message = format!("too many frames; those sent in the next {} ms are dropped", limited.retry_after.as_millis());
                    self.send_text(frame::error(ErrorKind::RateLimited, message)).await
                }
                Err(_) => Ok(()),
            },
            Message::Binary(_) => self.send_text(frame::error(ErrorKind::BadRequest, "frames are JSON text")).await,
            Message::Close(_) => Err(Close::Gone),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
        }
    }

    async fn on_frame(&mut self, text: &str) -> Result<(), Close> {
        let incoming: Incoming = match serde_json::from_str(text) {
            Ok(i) => i,
            Err(e) => return self.send_text(frame::error(ErrorKind::BadRequest, format!("not a frame: {e}"))).await,
        };
        // An optimistic update says what is wrong itself (after checking who
        // may read its item); any other frame holding NUL is refused whole.
        if incoming.event != "optimistic-update"
            && let Some(field) = sunday_domain::text::nul_path(&incoming.data, "data")
        {
            return self.send_text(frame::error(ErrorKind::BadRequest, format!("{field} holds a NUL character (U+0000)"))).await;
        }
        match incoming.event.as_str() {
            "join-board" => match parse::<JoinBoard>(incoming.data) {
                Ok(j) => self.join(j).await,
                Err(e) => self.send_text(e).await,
            },
            "leave-board" => match parse::<BoardRef>(incoming.data) {
                Ok(b) => {
                    self.leave(b.board_id);
                    Ok(())
                }
                Err(e) => self.send_text(e).await,
            },
            "presence-update" => match parse::<PresenceUpdate>(incoming.data) {
                Ok(p) => self.tell_room(p.board_id, RoomInput::Presence { socket: self.outbox.id(), status: p.status }).await,
                Err(e) => self.send_text(e).await,
            },
            "cursor-move" => match parse::<CursorMove>(incoming.data) {
                Ok(c) => self.tell_room(c.board_id, RoomInput::Cursor { socket: self.outbox.id(), position: c.position }).await,
                Err(e) => self.send_text(e).await,
            },
            "optimistic-update" => {
                update::spawn(&self.gateway, self.user(), &self.updates, &self.outbox, incoming.data);
                Ok(())
            }
            "ping" => self.send_text(frame::server("pong", &serde_json::json!({}))).await,
            other => self.send_text(frame::error(ErrorKind::UnknownEvent, format!("unknown event {other:?}"))).await,
        }
    }

    async fn tell_room(&mut self, board: Uuid, input: RoomInput) -> Result<(), Close> {
        match self.joined.get(&board) {
            Some(j) => {
                j.room.tell(input);
                Ok(())
            }
            None => self.send_text(frame::error(ErrorKind::NotJoined, format!("join board {board} first"))).await,
        }
    }

    async fn join(&mut self, req: JoinBoard) -> Result<(), Close> {
        self.leave(req.board_id);
        if self.joined.len() >= MAX_JOINED {
            let message = format!("a socket may join at most {MAX_JOINED} boards; leave one first");
            return self.send_text(frame::error(ErrorKind::LimitReached, message)).await;
        }
        let room = match self.gateway.enter_room(req.board_id, self.user(), self.outbox.clone()).await {
            Ok(room) => room,
            Err(Refused::Forbidden | Refused::Unverified) => return self.send_text(forbidden()).await,
            Err(Refused::Unavailable(why)) => return self.send_text(frame::error(ErrorKind::Unavailable, why)).await,
        };
        let gateway = self.gateway.clone();
        let caught_up = join::catch_up(&gateway, self.user(), req.board_id, req.since_position, self).await;
        if caught_up.is_err() {
            room.leave(self.outbox.id());
        }
        match caught_up {
            Ok(watermark) => {
                room.send(RoomInput::Ready { socket: self.outbox.id() }).await;
                self.joined.insert(req.board_id, Joined { watermark, room });
                Ok(())
            }
            Err(join::CatchUpError::Socket(close)) => Err(close),
            Err(join::CatchUpError::Forbidden) => self.send_text(forbidden()).await,
            Err(join::CatchUpError::Failed(why)) => self.send_text(frame::error(ErrorKind::Unavailable, why)).await,
        }
    }

    fn leave(&mut self, board: Uuid) {
        if let Some(j) = self.joined.remove(&board) {
            j.room.leave(self.outbox.id());
        }
    }

    /// Writes what a room queued, skipping what the socket already has.
    async fn deliver(&mut self, out: Out) -> Result<(), Close> {
        match out {
            Out::Events(batch) => {
                let Some(joined) = self.joined.get_mut(&batch.board) else { return Ok(()) };
                if batch.last() <= joined.watermark {
                    return Ok(());
                }
                let text = if batch.first() > joined.watermark { batch.frame.clone() } else { batch.frame_after(joined.watermark) };
                joined.watermark = batch.last();
                self.send_text(text).await?;
                self.gateway.metrics.delivered(batch.oldest_ms());
                Ok(())
            }
            Out::Board(frame) if self.joined.contains_key(&frame.0) => self.send_text(frame.1.clone()).await,
            Out::Board(_) => Ok(()),
            Out::Evicted(board) => {
                let board = *board;
                self.joined.remove(&board);
                let message = format!("you may no longer read board {board}");
                self.send_text(frame::error(ErrorKind::Forbidden, message)).await
            }
            Out::Direct(text) => self.send_text(*text).await,
        }
    }

    /// Leaves every room and closes the socket as `end` requires.
    async fn finish(mut self, end: Close) {
        for (_, j) in self.joined.drain() {
            j.room.leave(self.outbox.id());
        }
        let (code, reason, wait) = match end {
            Close::SlowConsumer => (CLOSE_SLOW_CONSUMER, "slow consumer: the outgoing queue is full", self.gateway.config.close_timeout),
            Close::GoingAway => (CLOSE_GOING_AWAY, "server shutting down", Duration::from_secs(1)),
            Close::Expired => (CLOSE_TOKEN_EXPIRED, "token expired", Duration::from_secs(1)),
            Close::Dead | Close::Gone => (0, "", Duration::ZERO),
        };
        if code != 0 {
            let close = Message::Close(Some(CloseFrame { code: code.into(), reason: reason.into() }));
            let _ = tokio::time::timeout(wait, self.ws.send(close)).await;
        }
        self.gateway.metrics.disconnected();
    }
}

/// The answer to a join the user may not make: the same whether the board
/// does not exist or may not be read.
fn forbidden() -> Utf8Bytes {
    frame::error(ErrorKind::Forbidden, "the board does not exist or you may not read it")
}

/// Parses a frame's `data`, or says why not as an `error` frame.
fn parse<T: DeserializeOwned>(data: Value) -> Result<T, Utf8Bytes> {
    serde_json::from_value(data).map_err(|e| frame::error(ErrorKind::BadRequest, format!("invalid data: {e}")))
}
