//! Sunday's realtime gateway: `GET /v1/ws`.
//!
//! Sockets join board rooms; each room (one task per board per process)
//! hears the board's events in log order from the bus, batches them per
//! window and hands one shared frame to every socket. Joins are authorized
//! against membership as of the log; a join catches up from the read models'
//! snapshot or from `sincePosition` through the log, then goes live with no
//! gap and no duplicate. See `ARCHITECTURE.md` ("Realtime gateway").

mod access;
pub mod bus;
mod frame;
mod handshake;
mod join;
pub mod metrics;
mod room;
mod socket;
mod update;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use sqlx::PgPool;
use sunday_command_api::problem::ApiError;
use sunday_domain::token::{Secret, verify};
use sunday_eventstore::PgEventStore;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::Role;
use uuid::Uuid;

pub use bus::Bus;
pub use metrics::Metrics;
pub use socket::{CLOSE_GOING_AWAY, CLOSE_SLOW_CONSUMER, CLOSE_TOKEN_EXPIRED};

use crate::room::RoomInput;
use crate::socket::Outbox;

/// Settings of the gateway.
#[derive(Clone, Debug)]
pub struct Config {
    pub jwt_secret: Secret,
    /// How long a room gathers events before sending them (`SUNDAY_WS_BATCH_MS`).
    pub batch_window: Duration,
    /// Frames a socket may have queued before it is closed as a slow consumer.
    pub queue_frames: usize,
    /// Server ping interval; a socket silent for two of them is dropped.
    pub heartbeat: Duration,
    /// How long a slow consumer's close frame may wait to be written.
    pub close_timeout: Duration,
    /// Longest wait for the read models to hold a board being joined.
    pub snapshot_wait: Duration,
    /// Per-socket read buffer (tungstenite's default is 128 KiB up front).
    pub read_buffer: usize,
    /// Bytes gathered before writing to the connection (0: write each frame
    /// at once; frames are flushed one by one anyway).
    pub write_buffer: usize,
    /// Largest client message accepted.
    pub max_message: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            jwt_secret: Secret::new("dev-secret"),
            batch_window: Duration::from_millis(50),
            queue_frames: 256,
            heartbeat: Duration::from_secs(25),
            close_timeout: Duration::from_secs(5),
            snapshot_wait: Duration::from_secs(2),
            read_buffer: 2 * 1024,
            write_buffer: 0,
            max_message: 256 * 1024,
        }
    }
}

/// Why a socket may not join a board.
#[derive(Clone, Debug)]
pub(crate) enum Refused {
    Forbidden,
    Unavailable(String),
}

/// The rooms of this process, by board.
#[derive(Clone, Default)]
pub(crate) struct Rooms(Arc<Mutex<HashMap<Uuid, UnboundedSender<RoomInput>>>>);

impl Rooms {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, UnboundedSender<RoomInput>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends to a board's room, if this process has one (`make` runs only then).
    pub(crate) fn send(&self, board: Uuid, make: impl FnOnce() -> RoomInput) {
        if let Some(room) = self.lock().get(&board) {
            let _ = room.send(make());
        }
    }

    pub(crate) fn workspace_changed(&self, workspace: Uuid) {
        for room in self.lock().values() {
            let _ = room.send(RoomInput::WorkspaceChanged(workspace));
        }
    }

    /// Removes the room `me` (and only it) if nothing is queued for it;
    /// false when it must go on.
    pub(crate) fn close_if_idle(&self, board: Uuid, me: &UnboundedSender<RoomInput>, inbox: &UnboundedReceiver<RoomInput>) -> bool {
        let mut rooms = self.lock();
        if !inbox.is_empty() {
            return false;
        }
        Self::remove_if_same(&mut rooms, board, me);
        true
    }

    fn forget(&self, board: Uuid, room: &UnboundedSender<RoomInput>) {
        Self::remove_if_same(&mut self.lock(), board, room);
    }

    fn remove_if_same(rooms: &mut HashMap<Uuid, UnboundedSender<RoomInput>>, board: Uuid, room: &UnboundedSender<RoomInput>) {
        if rooms.get(&board).is_some_and(|r| r.same_channel(room)) {
            rooms.remove(&board);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// What a gateway's sockets and rooms share.
pub struct Inner {
    pub(crate) config: Config,
    pub(crate) store: PgEventStore,
    pub(crate) commands: sunday_command_api::AppState,
    /// Where the read models are (a replica's when `DATABASE_READ_URL` is set).
    pub(crate) reads: PgPool,
    pub(crate) bus: Bus,
    pub(crate) rooms: Rooms,
    pub(crate) metrics: Metrics,
    pub(crate) stopping: watch::Sender<bool>,
}

/// One process's gateway. Cheap to clone.
#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

impl std::ops::Deref for Gateway {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Gateway {
    /// A gateway over the event store (joins, replays, membership), the
    /// command path (optimistic updates), the read models (snapshots) and a bus.
    pub async fn start(
        config: Config,
        store: PgEventStore,
        commands: sunday_command_api::AppState,
        reads: PgPool,
        bus: Bus,
    ) -> Result<Self, StartError> {
        let rooms = Rooms::default();
        match &bus {
            Bus::Log => bus::follow_log(store.clone(), rooms.clone()).await.map_err(|e| StartError(e.to_string()))?,
            Bus::Nats { client, prefix } => {
                bus::follow_workspaces(client, prefix, rooms.clone()).await.map_err(|e| StartError(e.to_string()))?;
            }
        }
        let (stopping, _) = watch::channel(false);
        let inner = Inner { config, store, commands, reads, bus, rooms, metrics: Metrics::default(), stopping };
        Ok(Self(Arc::new(inner)))
    }

    /// `GET /v1/ws`.
    pub fn routes(&self) -> Router {
        Router::new().route("/v1/ws", get(upgrade)).with_state(self.clone())
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// How many board rooms this process has open.
    pub fn rooms_open(&self) -> usize {
        self.0.rooms.len()
    }

    /// Closes every socket with 1001 (Going Away) and waits, up to `within`,
    /// for them to be gone.
    pub async fn shutdown(&self, within: Duration) {
        let _ = self.0.stopping.send(true);
        let deadline = tokio::time::Instant::now() + within;
        while self.0.metrics.connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Puts a socket in a board's room (starting the room if needed).
    pub(crate) async fn enter_room(&self, board: Uuid, user: Uuid, socket: Outbox) -> Result<UnboundedSender<RoomInput>, Refused> {
        for _ in 0..8 {
            let room = self.room(board);
            let (reply, answer) = tokio::sync::oneshot::channel();
            if room.send(RoomInput::Join { socket: socket.clone(), user, reply }).is_err() {
                self.0.rooms.forget(board, &room);
                continue;
            }
            match answer.await {
                Ok(Ok(())) => return Ok(room),
                Ok(Err(refused)) => return Err(refused),
                Err(_) => self.0.rooms.forget(board, &room),
            }
        }
        Err(Refused::Unavailable("the board's room keeps closing; retry".into()))
    }

    fn room(&self, board: Uuid) -> UnboundedSender<RoomInput> {
        let mut rooms = self.0.rooms.lock();
        if let Some(room) = rooms.get(&board)
            && !room.is_closed() {
                return room.clone();
            }
        let (tx, rx) = mpsc::unbounded_channel();
        rooms.insert(board, tx.clone());
        tokio::spawn(room::run(self.clone(), board, tx.clone(), rx));
        tx
    }
}

/// The JSON Schema of the frames clients send on `/v1/ws` (for `schemas/`).
pub fn client_frames_schema() -> serde_json::Value {
    frame::client_frames_schema()
}

/// The JSON Schema of the frames the server sends on `/v1/ws` (for `schemas/`).
pub fn server_frames_schema() -> serde_json::Value {
    frame::server_frames_schema()
}

/// The gateway could not start.
#[derive(Debug, thiserror::Error)]
#[error("the realtime gateway could not start: {0}")]
pub struct StartError(String);

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
}

/// Authenticates (header or `?token=`), answers the WebSocket handshake, and
/// serves the upgraded connection with explicit buffer sizes.
async fn upgrade(State(gateway): State<Gateway>, Query(q): Query<WsQuery>, mut req: Request) -> Result<Response, ApiError> {
    let headers = req.headers();
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let bearer = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")));
    let token = bearer
        .or(q.token.as_deref())
        .ok_or_else(|| ApiError::Unauthorized("a bearer token (Authorization header or ?token=) is required".into()))?;
    let now = chrono::Utc::now().timestamp();
    let claims = verify(&gateway.config.jwt_secret, token.trim(), now).map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let accept = handshake::accept_key(headers)?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = handshake::socket_config(&gateway.config);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = hyper_util::rt::TokioIo::new(upgraded);
                let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                socket::run(gateway, ws, claims).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    Ok(handshake::switching_protocols(&accept))
}
