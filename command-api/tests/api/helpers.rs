//! A test app over a fresh database, and requests through the router without a socket.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use sunday_command_api::aggregates::ForeignWrites;
use sunday_command_api::{AppState, Config, router};
use sunday_edge::token::{Claims, Secret, mint};
use sunday_eventstore::PgEventStore;
use tower::ServiceExt;
use uuid::Uuid;

pub(crate) const SECRET: &str = "test-secret";

pub(crate) struct TestApp {
    pub(crate) router: Router,
    pub(crate) pool: PgPool,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn id(&self) -> Uuid {
        self.body["data"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_else(|| panic!("no data.id in {}", self.body))
    }
    pub(crate) fn version(&self) -> i64 {
        self.body["data"]["version"].as_i64().unwrap_or_else(|| panic!("no data.version in {}", self.body))
    }
    pub(crate) fn position(&self) -> i64 {
        self.body["data"]["position"].as_i64().unwrap_or_else(|| panic!("no data.position in {}", self.body))
    }
    pub(crate) fn entity_id(&self) -> Uuid {
        self.body["data"]["entityId"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .unwrap_or_else(|| panic!("no entityId in {}", self.body))
    }
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

pub(crate) fn token(user: Uuid) -> String {
    let claims = Claims { sub: user, exp: chrono::Utc::now().timestamp() + 3600, name: None, email: None };
    mint(&Secret::new(SECRET), &claims)
}

pub(crate) fn user() -> Uuid {
    Uuid::now_v7()
}

impl TestApp {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self::with_config(pool, Config::default())
    }

    /// An app with these settings (and the tests' secret).
    pub(crate) fn with_config(pool: PgPool, config: Config) -> Self {
        let config = Config { jwt_secret: Secret::new(SECRET), ..config };
        let state = AppState::new(config, PgEventStore::new(pool.clone()));
        Self { router: router(state), pool }
    }

    /// An instance that never hears of other processes' appends: its caches
    /// stay stale, so only the append guards keep its decisions right.
    pub(crate) fn deaf(pool: PgPool) -> Self {
        struct Deaf;
        impl ForeignWrites for Deaf {
            fn mark(&self) -> Option<i64> {
                Some(0)
            }
        }
        let config = Config { jwt_secret: Secret::new(SECRET), ..Config::default() };
        let state = AppState::with_foreign_writes(config, PgEventStore::new(pool.clone()), std::sync::Arc::new(Deaf));
        Self { router: router(state), pool }
    }

    /// Sends a request as `user` (no token when `None`) with a JSON body.
    pub(crate) async fn send(&self, method: Method, path: &str, user: Option<Uuid>, body: Option<Value>) -> Reply {
        self.send_with(method, path, user, body, &[]).await
    }

    pub(crate) async fn send_with(
        &self,
        method: Method,
        path: &str,
        user: Option<Uuid>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(u) = user {
            req = req.header("authorization", format!("Bearer {}", token(u)));
        }
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.raw(req.body(body).unwrap_or_else(|e| panic!("bad request: {e}"))).await
    }

    pub(crate) async fn raw(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, body }
    }

    pub(crate) async fn post(&self, path: &str, user: Uuid, body: Value) -> Reply {
        self.send(Method::POST, path, Some(user), Some(body)).await
    }

    /// Sends and insists on `status`, showing the body otherwise.
    pub(crate) async fn ok(&self, method: Method, path: &str, user: Uuid, body: Option<Value>, status: StatusCode) -> Reply {
        let r = self.send(method.clone(), path, Some(user), body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        r
    }

    /// Number of events in the log.
    pub(crate) async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&self.pool).await.unwrap_or(-1)
    }

    /// Types of a stream's events, in version order.
    pub(crate) async fn stream_types(&self, stream: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT event_type FROM events WHERE stream_id = $1 ORDER BY stream_version")
            .bind(stream)
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default()
    }

    /// The payload of the last event of a stream.
    pub(crate) async fn last_data(&self, stream: &str) -> Value {
        sqlx::query_scalar("SELECT data FROM events WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1")
            .bind(stream)
            .fetch_one(&self.pool)
            .await
            .unwrap_or(Value::Null)
    }

    /// A workspace owned by `owner`.
    pub(crate) async fn workspace(&self, owner: Uuid) -> Uuid {
        self.ok(Method::POST, "/v1/workspaces", owner, Some(json!({"name": "Team"})), StatusCode::CREATED).await.id()
    }

    /// A board with the default columns, owned by `owner` in a new workspace.
    pub(crate) async fn board(&self, owner: Uuid) -> (Uuid, Uuid) {
        let ws = self.workspace(owner).await;
        let b = self.ok(Method::POST, "/v1/boards", owner, Some(json!({"workspaceId": ws, "name": "Roadmap"})), StatusCode::CREATED).await;
        (ws, b.id())
    }

    pub(crate) async fn item(&self, user: Uuid, board: Uuid, name: &str) -> Uuid {
        self.ok(Method::POST, "/v1/items", user, Some(json!({"boardId": board, "name": name})), StatusCode::CREATED).await.id()
    }

    /// Adds `user` to the workspace with `ws_role` and to the board with `board_role`.
    pub(crate) async fn join(&self, owner: Uuid, ws: Uuid, board: Uuid, user: Uuid, ws_role: &str, board_role: &str) {
        self.ok(
            Method::POST,
            &format!("/v1/workspaces/{ws}/members"),
            owner,
            Some(json!({"userId": user, "role": ws_role})),
            StatusCode::OK,
        )
        .await;
        self.ok(
            Method::POST,
            &format!("/v1/boards/{board}/members"),
            owner,
            Some(json!({"userId": user, "role": board_role})),
            StatusCode::OK,
        )
        .await;
    }
}
