//! Sunday's realtime gateway: `GET /v1/ws`, and the change feed
//! (`GET /v1/boards/{id}/changes`, JSON or Server-Sent Events).
//!
//! Sockets join board rooms; each room (one task per board per process)
//! hears the board's events in log order from the bus, batches them per
//! window and hands one shared frame to every socket. Joins are authorized
//! against membership as of the log; a join catches up from the read models'
//! snapshot or from `sincePosition` through the log, then goes live with no
//! gap and no duplicate. See `ARCHITECTURE.md` ("Realtime gateway").

mod access;
pub mod bus;
mod changes;
mod consumer;
mod feed;
mod feeds;
mod frame;
mod handshake;
mod join;
mod limits;
mod live;
pub mod metrics;
mod outbox;
mod presence;
mod room;
mod rooms;
mod socket;
mod sse;
mod update;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use sqlx::PgPool;
use sunday_edge::Problem;
use sunday_edge::token::Secret;
use sunday_eventstore::PgEventStore;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::Role;
use uuid::Uuid;

pub use bus::Bus;
pub use metrics::Metrics;
pub use socket::{CLOSE_GOING_AWAY, CLOSE_SLOW_CONSUMER, CLOSE_TOKEN_EXPIRED};

use crate::access::BoardAccess;
use crate::outbox::Outbox;
use crate::rooms::{RoomHandle, RoomInput, Rooms};

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
    /// Frames per user and second (`frames`; none by default).
    pub rate_limits: sunday_edge::Limits,
    /// Sockets one user may hold open at once in this process (0: no cap).
    pub max_sockets_per_user: usize,
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
            rate_limits: sunday_edge::Limits::default(),
            max_sockets_per_user: 0,
        }
    }
}

/// Why a socket may not join a board.
#[derive(Clone, Debug)]
pub(crate) enum Refused {
    Forbidden,
    /// The room does not know the user as a reader; the log may (a member
    /// added a moment ago): check it and ask again with what it says.
    Unverified,
    Unavailable(String),
}

/// What a gateway's sockets and rooms share.
pub struct Inner {
    pub(crate) config: Config,
    pub(crate) store: PgEventStore,
    pub(crate) commands: sunday_command_api::commands::Commands,
    /// Where the read models are (a replica's when `DATABASE_READ_URL` is set).
    pub(crate) reads: PgPool,
    /// The workspaces followed on JetStream (`None`: the in-process bus).
    pub(crate) feeds: Option<feeds::Feeds>,
    pub(crate) rooms: Rooms,
    pub(crate) metrics: Metrics,
    pub(crate) stopping: watch::Sender<bool>,
    /// Per-user frame rate limits.
    pub(crate) limits: sunday_edge::RateLimits,
    pub(crate) sockets: Arc<limits::Sockets>,
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
        commands: sunday_command_api::commands::Commands,
        reads: PgPool,
        bus: Bus,
        tasks: &sunday_runtime::Tasks,
    ) -> Result<Self, StartError> {
        let rooms = Rooms::default();
        let feeds = match &bus {
            Bus::Log => {
                let task = tasks.register("log-tail", true);
                bus::follow_log(store.clone(), rooms.clone(), task).await.map_err(|e| StartError(e.to_string()))?;
                None
            }
            Bus::Nats { client, prefix } => {
                Some(feeds::Feeds::new(client.clone(), prefix.clone(), tasks.register("workspace-feeds", true)))
            }
        };
        let (stopping, _) = watch::channel(false);
        let limits = sunday_edge::RateLimits::new(config.rate_limits);
        let sockets = Arc::new(limits::Sockets::new(config.max_sockets_per_user));
        let inner = Inner { config, store, commands, reads, feeds, rooms, metrics: Metrics::default(), stopping, limits, sockets };
        Ok(Self(Arc::new(inner)))
    }

    /// `GET /v1/ws` and the change feed, `GET /v1/boards/{id}/changes`.
    pub fn routes(&self) -> Router {
        Router::new().route("/v1/ws", get(upgrade)).route("/v1/boards/{id}/changes", get(changes::changes)).with_state(self.clone())
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Frames refused for going over a user's rate, and sockets refused for
    /// going over a user's cap, so far.
    pub fn refused(&self) -> (u64, u64) {
        (self.0.limits.refused(sunday_edge::Kind::Frames), self.0.metrics.sockets_refused())
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

    /// Routes a board's events (and its workspace's own) to its room from now on.
    pub(crate) async fn subscribe(
        &self,
        workspace: Uuid,
        board: Uuid,
        room: RoomHandle,
    ) -> Result<bus::Subscription, consumer::SubscribeError> {
        match &self.0.feeds {
            None => Ok(bus::Subscription::log()),
            Some(feeds) => Ok(bus::Subscription::feed(feeds.join(workspace, board, room).await?)),
        }
    }

    /// One of `user`'s places for sockets, change-feed streams and waiting
    /// requests, or a 429 when it holds the most already.
    pub(crate) fn socket_place(&self, user: Uuid) -> Result<limits::SocketSlot, Problem> {
        self.0.sockets.open(user).ok_or_else(|| {
            self.0.metrics.socket_refused();
            let max = u32::try_from(self.0.sockets.max()).unwrap_or(u32::MAX);
            let limited = sunday_edge::Limited { kind: sunday_edge::Kind::Sockets, limit: max, retry_after: Duration::from_secs(1) };
            Problem::rate_limited(limited, "too many sockets and change feeds open; retry in 1 s")
        })
    }

    /// Puts a socket in a board's room (starting the room if needed). A
    /// join the room cannot admit is checked against the log here, in the
    /// socket's task, so the room never waits on the database for a client.
    pub(crate) async fn enter_room(&self, board: Uuid, user: Uuid, socket: Outbox) -> Result<RoomHandle, Refused> {
        let mut access: Option<Box<BoardAccess>> = None;
        for _ in 0..8 {
            let me = self.clone();
            let room = self.0.rooms.get_or_start(board, |handle, queues| {
                tokio::spawn(room::run(me, board, handle, queues));
            });
            let (reply, answer) = tokio::sync::oneshot::channel();
            if !room.send(RoomInput::Join { socket: socket.clone(), user, access: access.take(), reply }).await {
                self.0.rooms.forget(board, &room);
                continue;
            }
            match answer.await {
                Ok(Ok(())) => return Ok(room),
                Ok(Err(Refused::Unverified)) => {
                    let fold = BoardAccess::load(&self.0.store, board).await.map_err(|e| Refused::Unavailable(e.to_string()))?;
                    if !fold.can_read(user) {
                        return Err(Refused::Forbidden);
                    }
                    access = Some(Box::new(fold));
                }
                Ok(Err(refused)) => return Err(refused),
                Err(_) => self.0.rooms.forget(board, &room),
            }
        }
        Err(Refused::Unavailable("the board's room keeps closing; retry".into()))
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
async fn upgrade(State(gateway): State<Gateway>, Query(q): Query<WsQuery>, mut req: Request) -> Result<Response, Problem> {
    let headers = req.headers();
    let token = sunday_edge::token::bearer(headers).or(q.token.as_deref().map(str::trim));
    let now = chrono::Utc::now().timestamp();
    let missing = "a bearer token (Authorization header or ?token=) is required";
    let claims = sunday_edge::token::authenticate(&gateway.config.jwt_secret, token, missing, now)?;
    let slot = gateway.socket_place(claims.sub)?;
    let accept = handshake::accept_key(headers)?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = handshake::socket_config(&gateway.config);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = hyper_util::rt::TokioIo::new(upgraded);
                let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                socket::run(gateway, ws, claims, slot).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    Ok(handshake::switching_protocols(&accept))
}
