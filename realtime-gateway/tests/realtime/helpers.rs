//! The whole system over a fresh database, served on a real port so real
//! WebSocket clients can connect: command API, projector, query API and the
//! gateway, on the in-process bus or on NATS (with the publisher running).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sunday_command_api::{AppState, Config};
use sunday_edge::token::{Claims, Secret, mint};
use sunday_eventstore::PgEventStore;
use sunday_projector::{Feed, schema};
use sunday_realtime_gateway::{Bus, Gateway};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tower::ServiceExt;
use uuid::Uuid;

const SECRET: &str = "test-secret";
/// Longest wait for any one expected frame.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

pub(crate) fn user() -> Uuid {
    Uuid::now_v7()
}

pub(crate) fn token(user: Uuid) -> String {
    let claims = Claims { sub: user, exp: chrono::Utc::now().timestamp() + 3600, name: None, email: None };
    mint(&Secret::new(SECRET), &claims)
}

/// A NATS connection and a subject prefix of this test's own.
pub(crate) async fn nats() -> (async_nats::Client, String) {
    let url = std::env::var("SUNDAY_TEST_NATS_URL").unwrap_or_else(|_| panic!("ops/test sets SUNDAY_TEST_NATS_URL"));
    let client = async_nats::connect(url).await.unwrap_or_else(|e| panic!("NATS: {e}"));
    (client, format!("t{}", Uuid::now_v7().simple()))
}

async fn wide(pool: &PgPool, n: u32) -> PgPool {
    let options = pool.connect_options().as_ref().clone();
    PgPoolOptions::new().max_connections(n).connect_with(options).await.unwrap_or_else(|e| panic!("pool: {e}"))
}

/// The NATS a system runs on, and whether it publishes the log there.
struct Nats {
    client: async_nats::Client,
    prefix: String,
    publish: bool,
}

pub(crate) struct System {
    pub(crate) router: Router,
    pub(crate) gateway: Gateway,
    pub(crate) addr: SocketAddr,
    store: PgEventStore,
    commands: AppState,
    reads: PgPool,
    _stop: watch::Sender<bool>,
}

impl System {
    /// Everything in one process on the in-process bus.
    pub(crate) async fn start(pool: &PgPool) -> Self {
        Self::build(pool, None, sunday_realtime_gateway::Config::default()).await
    }

    pub(crate) async fn with_config(pool: &PgPool, config: sunday_realtime_gateway::Config) -> Self {
        Self::build(pool, None, config).await
    }

    /// Everything in one process, the gateway fed by JetStream.
    pub(crate) async fn with_nats(pool: &PgPool, client: async_nats::Client, prefix: &str) -> Self {
        let nats = Nats { client, prefix: prefix.to_owned(), publish: true };
        Self::build(pool, Some(nats), sunday_realtime_gateway::Config::default()).await
    }

    /// The gateway on JetStream, but nothing publishes the log there: rooms
    /// hear nothing, so only what joins read from the log reaches sockets.
    pub(crate) async fn with_silent_nats(pool: &PgPool, client: async_nats::Client, prefix: &str) -> Self {
        let nats = Nats { client, prefix: prefix.to_owned(), publish: false };
        Self::build(pool, Some(nats), sunday_realtime_gateway::Config::default()).await
    }

    async fn build(pool: &PgPool, nats: Option<Nats>, config: sunday_realtime_gateway::Config) -> Self {
        // reqwest is built with TLS on rustls (the webhook dispatcher's), which
        // needs its provider before any client is made, as the binary does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = PgEventStore::new(wide(pool, 12).await);
        let base = pool.connect_options().as_ref().clone();
        sunday_projector::prepare(&store, base.clone()).await.unwrap_or_else(|e| panic!("prepare: {e}"));
        let commands = AppState::new(Config { jwt_secret: Secret::new(SECRET), ..Config::default() }, store.clone());
        let feed = Feed::new();
        let (stop_tx, stop) = watch::channel(false);
        let reads = schema::pool(base.clone(), schema::LIVE, 6).await.unwrap_or_else(|e| panic!("read pool: {e}"));
        let query_config = sunday_query_api::Config { jwt_secret: Secret::new(SECRET), min_position_wait: PATIENCE, ..Default::default() };
        let queries = sunday_query_api::QueryState::new(query_config, reads.clone());
        queries.follow_feed(&feed);
        let projector_pool = schema::pool(base, schema::LIVE, 3).await.unwrap_or_else(|e| panic!("projector pool: {e}"));
        let tasks = sunday_runtime::Tasks::new();
        let projector = sunday_projector::Projector {
            store: store.clone(),
            pool: projector_pool,
            config: sunday_projector::Config::default(),
            feed: feed.clone(),
        };
        sunday_projector::spawn(&tasks, projector, stop.clone());
        let bus = match nats {
            Some(Nats { client, prefix, publish }) => {
                if publish {
                    let js = async_nats::jetstream::new(client.clone());
                    sunday_relay::spawn(&tasks, store.clone(), js, prefix.clone(), 1, stop);
                }
                Bus::Nats { client, prefix }
            }
            None => Bus::Log,
        };
        let config = sunday_realtime_gateway::Config { jwt_secret: Secret::new(SECRET), ..config };
        let gateway = Gateway::start(config, store.clone(), commands.commands.clone(), reads.clone(), bus, &tasks)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let router = sunday_command_api::routes(commands.clone())
            .merge(sunday_query_api::routes(queries))
            .layer(axum::middleware::from_fn(sunday_command_api::trace_requests));
        let addr = serve(router.clone().merge(gateway.routes())).await;
        Self { router, gateway, addr, store, commands, reads, _stop: stop_tx }
    }

    /// Another gateway process over the same database, on its own NATS
    /// connection and port.
    pub(crate) async fn second_gateway(&self, client: async_nats::Client, prefix: &str) -> (Gateway, SocketAddr) {
        let config = sunday_realtime_gateway::Config { jwt_secret: Secret::new(SECRET), ..Default::default() };
        let bus = Bus::Nats { client, prefix: prefix.to_owned() };
        let gateway = Gateway::start(
            config,
            self.store.clone(),
            self.commands.commands.clone(),
            self.reads.clone(),
            bus,
            &sunday_runtime::Tasks::new(),
        )
        .await;
        let gateway = gateway.unwrap_or_else(|e| panic!("{e}"));
        let addr = serve(gateway.routes()).await;
        (gateway, addr)
    }

    /// A command that must succeed; its `data`.
    pub(crate) async fn command(&self, method: Method, path: &str, user: Uuid, body: Value) -> Value {
        let (status, body) = self.send(method.clone(), path, user, Some(body)).await;
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body["data"].clone()
    }

    pub(crate) async fn send(&self, method: Method, path: &str, user: Uuid, body: Option<Value>) -> (StatusCode, Value) {
        self.send_with(method, path, user, body, &[]).await
    }

    pub(crate) async fn send_with(
        &self,
        method: Method,
        path: &str,
        user: Uuid,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {}", token(user)));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let resp = self.router.clone().oneshot(req.body(body).unwrap_or_default()).await.unwrap_or_else(|e| match e {});
        let status = resp.status();
        let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A workspace and a board owned by `owner`.
    pub(crate) async fn board(&self, owner: Uuid) -> (Uuid, Uuid) {
        let ws = id(&self.command(Method::POST, "/v1/workspaces", owner, json!({"name": "Team"})).await);
        let board = id(&self.command(Method::POST, "/v1/boards", owner, json!({"workspaceId": ws, "name": "Roadmap"})).await);
        (ws, board)
    }

    /// Adds `user` to the workspace and the board as an editor.
    pub(crate) async fn add_member(&self, owner: Uuid, ws: Uuid, board: Uuid, user: Uuid) {
        self.command(Method::POST, &format!("/v1/workspaces/{ws}/members"), owner, json!({"userId": user, "role": "member"})).await;
        self.command(Method::POST, &format!("/v1/boards/{board}/members"), owner, json!({"userId": user, "role": "editor"})).await;
    }

    /// Waits until the read models hold `board`.
    pub(crate) async fn board_projected(&self, board: Uuid) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::time::Instant::now() < deadline {
            let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM rm.rm_boards WHERE board_id = $1")
                .bind(board)
                .fetch_optional(self.store.pool())
                .await
                .unwrap_or(None);
            if found.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the projector never projected board {board}");
    }

    /// Waits until the publisher has published the log up to `position`.
    pub(crate) async fn published(&self, position: i64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::time::Instant::now() < deadline {
            let at: Option<i64> =
                sqlx::query_scalar("SELECT max(position) FROM publisher_checkpoints").fetch_one(self.store.pool()).await.unwrap_or(None);
            if at.is_some_and(|p| p >= position) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the publisher never reached {position}");
    }

    pub(crate) async fn item(&self, user: Uuid, board: Uuid, name: &str) -> Value {
        self.command(Method::POST, "/v1/items", user, json!({"boardId": board, "name": name})).await
    }
}

pub(crate) fn id(data: &Value) -> Uuid {
    data["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_else(|| panic!("no id in {data}"))
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// A WebSocket client.
pub(crate) struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub(crate) fn from_stream(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self { ws }
    }

    pub(crate) async fn connect(addr: SocketAddr, user: Uuid) -> Self {
        let url = format!("ws://{addr}/v1/ws?token={}", token(user));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap_or_else(|e| panic!("connect: {e}"));
        Self { ws }
    }

    /// A client on a socket with a tiny receive buffer, for slow-consumer tests.
    pub(crate) async fn connect_small(addr: SocketAddr, user: Uuid) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("{e}"));
        socket.set_recv_buffer_size(4096).unwrap_or_else(|e| panic!("{e}"));
        let stream = socket.connect(addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
        let url = format!("ws://{addr}/v1/ws?token={}", token(user));
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await.unwrap_or_else(|e| panic!("{e}"));
        Self { ws }
    }

    /// Sends any message as it is.
    pub(crate) async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.unwrap_or_else(|e| panic!("send: {e}"));
    }

    pub(crate) async fn send(&mut self, event: &str, data: Value) {
        let text = json!({"event": event, "data": data}).to_string();
        self.ws.send(Message::text(text)).await.unwrap_or_else(|e| panic!("send: {e}"));
    }

    pub(crate) async fn join(&mut self, board: Uuid) -> Value {
        self.send("join-board", json!({"boardId": board})).await;
        self.expect("board-state").await
    }

    /// The next JSON frame within `wait`; `None` on silence. Panics on close.
    pub(crate) async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let message = match tokio::time::timeout(wait, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => panic!("the socket ended"),
                Ok(Some(Err(e))) => panic!("socket error: {e}"),
                Ok(Some(Ok(m))) => m,
            };
            match message {
                Message::Text(t) => return Some(serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("{e}: {t}"))),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame named `event` (others are skipped).
    pub(crate) async fn expect(&mut self, event: &str) -> Value {
        loop {
            let frame = self.next_within(PATIENCE).await.unwrap_or_else(|| panic!("no {event} frame"));
            if frame["event"] == event {
                return frame;
            }
        }
    }

    /// Event entries from `events` frames until `n` arrived.
    pub(crate) async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut got = Vec::new();
        while got.len() < n {
            let frame = self.expect("events").await;
            assert!(frame["timestamp"].as_i64().is_some(), "frames carry a timestamp: {frame}");
            got.extend(frame["data"]["events"].as_array().cloned().unwrap_or_default());
        }
        got
    }

    /// Every frame named `event` that arrives within `wait`.
    pub(crate) async fn collect(&mut self, event: &str, wait: Duration) -> Vec<Value> {
        let mut got = Vec::new();
        while let Some(frame) = self.next_within(wait).await {
            if frame["event"] == event {
                got.push(frame);
            }
        }
        got
    }

    /// Reads until the server closes; its close code.
    pub(crate) async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(PATIENCE * 3, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(frame))))) => return Some(frame.code.into()),
                Ok(Some(Ok(Message::Close(None)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return None,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}

/// The positions of event entries.
pub(crate) fn positions(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["position"].as_i64().unwrap_or_else(|| panic!("no position: {e}"))).collect()
}

impl System {
    /// Creates `n` items named `{prefix} {i}`; their positions.
    pub(crate) async fn items(&self, user: Uuid, board: Uuid, prefix: &str, n: usize) -> Vec<i64> {
        let mut positions = Vec::with_capacity(n);
        for i in 0..n {
            positions.push(self.item(user, board, &format!("{prefix} {i}")).await["position"].as_i64().unwrap_or_default());
        }
        positions
    }

    /// Writes `missed` events, then resumes a socket from `since` while `live`
    /// more are written: it must get exactly the missed ones, then the live
    /// ones, in order, none twice, and no snapshot.
    pub(crate) async fn resume_without_gap(&self, owner: Uuid, board: Uuid, since: i64, missed: usize, live: usize) {
        let missed = self.items(owner, board, "missed", missed).await;
        let mut again = Client::connect(self.addr, owner).await;
        again.send("join-board", json!({"boardId": board, "sincePosition": since})).await;
        // Live events race the replay on purpose.
        let (live, got) = tokio::join!(self.items(owner, board, "live", live), again.events(missed.len() + live));
        let expected: Vec<i64> = missed.into_iter().chain(live).collect();
        assert_eq!(positions(&got), expected, "the missed events, then the live ones, none twice");
        assert!(again.collect("board-state", Duration::from_millis(200)).await.is_empty(), "a resume gets no snapshot");
    }
}
