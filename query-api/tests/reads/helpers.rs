//! The whole system in one router over a fresh database, with the projector
//! running in the background.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use sunday_command_api::{AppState, Config};
use sunday_edge::token::{Claims, Secret, mint};
use sunday_eventstore::PgEventStore;
use sunday_projector::{Feed, schema};
use sunday_query_api::QueryState;
use tokio::sync::watch;
use tower::ServiceExt;
use uuid::Uuid;

const SECRET: &str = "test-secret";

/// How a test system is put together.
struct Options {
    wait: Duration,
    nats: Option<(async_nats::Client, String)>,
    replica: Option<sqlx::postgres::PgConnectOptions>,
    feed: Feed,
    limits: sunday_edge::Limits,
    /// How far behind a replica may be before reads answer 503.
    max_lag: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(5),
            nats: None,
            replica: None,
            feed: Feed::new(),
            limits: sunday_edge::Limits::default(),
            max_lag: Duration::from_secs(5),
        }
    }
}

pub(crate) struct System {
    router: Router,
    _stop: watch::Sender<bool>,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    pub(crate) fn id(&self) -> Uuid {
        self.body["data"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_else(|| panic!("no id in {}", self.body))
    }
    pub(crate) fn position(&self) -> i64 {
        self.body["data"]["position"].as_i64().unwrap_or_else(|| panic!("no position in {}", self.body))
    }
}

pub(crate) fn user() -> Uuid {
    Uuid::now_v7()
}

impl System {
    pub(crate) async fn start(pool: PgPool) -> Self {
        Self::build(pool, Options::default()).await
    }

    pub(crate) async fn with_wait(pool: PgPool, wait: Duration) -> Self {
        Self::build(pool, Options { wait, ..Options::default() }).await
    }

    /// A system whose projector also announces its batches on NATS.
    pub(crate) async fn with_nats(pool: PgPool, client: async_nats::Client, prefix: &str) -> Self {
        Self::build(pool, Options { nats: Some((client, prefix.to_owned())), ..Options::default() }).await
    }

    /// A system whose reads go to a replica of `pool`'s database (as with
    /// `DATABASE_READ_URL`), waiting at most `wait` for it.
    pub(crate) async fn with_replica(pool: PgPool, replica: sqlx::postgres::PgConnectOptions, wait: Duration, max_lag: Duration) -> Self {
        Self::build(pool, Options { wait, replica: Some(replica), max_lag, ..Options::default() }).await
    }

    /// A system and its projector's feed, for tests that listen to it.
    pub(crate) async fn with_feed(pool: PgPool) -> (Self, Feed) {
        let feed = Feed::new();
        (Self::build(pool, Options { feed: feed.clone(), ..Options::default() }).await, feed)
    }

    /// A system whose reads are rate limited.
    pub(crate) async fn with_limits(pool: PgPool, limits: sunday_edge::Limits) -> Self {
        Self::build(pool, Options { limits, ..Options::default() }).await
    }

    async fn build(pool: PgPool, options: Options) -> Self {
        let store = PgEventStore::new(pool.clone());
        let base = pool.connect_options().as_ref().clone();
        sunday_projector::prepare(&store, base.clone()).await.unwrap_or_else(|e| panic!("prepare: {e}"));
        let commands = AppState::new(Config { jwt_secret: Secret::new(SECRET), ..Config::default() }, store.clone());
        let Options { wait, nats, replica, feed, limits, max_lag } = options;
        if let Some((client, prefix)) = nats {
            sunday_projector::announce::publish(&feed, client, &prefix);
        }
        let (stop_tx, stop) = watch::channel(false);
        let query_config = sunday_query_api::Config {
            jwt_secret: Secret::new(SECRET),
            min_position_wait: wait,
            rate_limits: limits,
            replica_max_lag: max_lag,
        };
        let queries = match replica {
            Some(options) => {
                let read_pool = schema::pool(options, schema::LIVE, 8).await.unwrap_or_else(|e| panic!("replica pool: {e}"));
                let queries = QueryState::on_replica(query_config, read_pool);
                queries.poll_checkpoint(Duration::from_secs(1), &sunday_runtime::Tasks::new());
                queries
            }
            None => QueryState::new(
                query_config,
                schema::pool(base.clone(), schema::LIVE, 8).await.unwrap_or_else(|e| panic!("read pool: {e}")),
            ),
        };
        queries.follow_feed(&feed);
        let reads = sunday_query_api::routes(queries);
        let projector_pool = schema::pool(base, schema::LIVE, 4).await.unwrap_or_else(|e| panic!("projector pool: {e}"));
        let projector =
            sunday_projector::Projector { store, pool: projector_pool, config: sunday_projector::Config::default(), feed: feed.clone() };
        sunday_projector::spawn(&sunday_runtime::Tasks::new(), projector, stop);
        let router = sunday_command_api::with_fallbacks(sunday_command_api::routes(commands).merge(reads));
        Self { router, _stop: stop_tx }
    }

    pub(crate) async fn send(&self, method: Method, path: &str, user: Uuid, body: Option<Value>, headers: &[(&str, String)]) -> Reply {
        send_to(&self.router, method, path, user, body, headers).await
    }

    /// The whole router, for requests built by hand.
    pub(crate) fn router(&self) -> Router {
        self.router.clone()
    }

    /// A command that must succeed.
    pub(crate) async fn command(&self, method: Method, path: &str, user: Uuid, body: Option<Value>) -> Reply {
        let r = self.send(method.clone(), path, user, body, &[]).await;
        assert!(r.status.is_success(), "{method} {path}: {} {}", r.status, r.body);
        r
    }

    /// A read that waits for `position` (read-your-writes).
    pub(crate) async fn read(&self, path: &str, user: Uuid, position: i64) -> Reply {
        self.send(Method::GET, path, user, None, &[("x-sunday-min-position", position.to_string())]).await
    }

    /// A workspace and a default board owned by `owner`.
    pub(crate) async fn board(&self, owner: Uuid) -> (Uuid, Uuid, i64) {
        let ws = self.command(Method::POST, "/v1/workspaces", owner, Some(json!({"name": "Team"}))).await.id();
        let b = self.command(Method::POST, "/v1/boards", owner, Some(json!({"workspaceId": ws, "name": "Roadmap"}))).await;
        (ws, b.id(), b.position())
    }
}

/// A token for `user`.
pub(crate) fn token(user: Uuid) -> String {
    let claims = Claims { sub: user, exp: chrono::Utc::now().timestamp() + 3600, name: None, email: None };
    mint(&Secret::new(SECRET), &claims)
}

/// Sends a request as `user` to `router`.
pub(crate) async fn send_to(
    router: &Router,
    method: Method,
    path: &str,
    user: Uuid,
    body: Option<Value>,
    headers: &[(&str, String)],
) -> Reply {
    let claims = Claims { sub: user, exp: chrono::Utc::now().timestamp() + 3600, name: None, email: None };
    let mut req =
        Request::builder().method(method).uri(path).header("authorization", format!("Bearer {}", mint(&Secret::new(SECRET), &claims)));
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = router.clone().oneshot(req.body(body).unwrap_or_default()).await.unwrap_or_else(|e| match e {});
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

/// A second query-API instance, in the manner of another process: its own
/// cache and its own view of the checkpoint, fed only by NATS.
pub(crate) async fn query_instance(pool: &PgPool, client: &async_nats::Client, prefix: &str) -> Router {
    let base = pool.connect_options().as_ref().clone();
    let read_pool = schema::pool(base, schema::LIVE, 4).await.unwrap_or_else(|e| panic!("read pool: {e}"));
    let config =
        sunday_query_api::Config { jwt_secret: Secret::new(SECRET), min_position_wait: Duration::from_secs(5), ..Default::default() };
    let state = QueryState::new(config, read_pool);
    state.follow_nats(client, prefix).await.unwrap_or_else(|e| panic!("subscribe: {e}"));
    sunday_command_api::with_fallbacks(sunday_query_api::routes(state))
}

/// A query-API instance that hears of no projector at all: only its
/// checkpoint poll moves it (every 50 ms here).
pub(crate) async fn polling_instance(pool: &PgPool) -> Router {
    let base = pool.connect_options().as_ref().clone();
    let read_pool = schema::pool(base, schema::LIVE, 4).await.unwrap_or_else(|e| panic!("read pool: {e}"));
    let config =
        sunday_query_api::Config { jwt_secret: Secret::new(SECRET), min_position_wait: Duration::from_secs(5), ..Default::default() };
    let state = QueryState::new(config, read_pool);
    state.poll_checkpoint(Duration::from_millis(50), &sunday_runtime::Tasks::new());
    sunday_command_api::with_fallbacks(sunday_query_api::routes(state))
}
