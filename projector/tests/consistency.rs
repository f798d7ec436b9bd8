//! The projector against a real PostgreSQL: a projector killed mid-batch and
//! restarted, one running live beside thousands of random commands, and two
//! competing for leadership all end with read models identical, table by
//! table, to a rebuild from the log. Also: hash partitions, monthly activity
//! partitions, and the plan of the board listing.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use sunday_command_api::{AppState, Config};
use sunday_edge::token::{Claims, Secret, mint};
use sunday_eventstore::PgEventStore;
use sunday_projector::{Feed, Progress, schema};
use tokio::sync::watch;
use tower::ServiceExt;
use uuid::Uuid;

const SECRET: &str = "s";

/// Drives commands through the command API as a few users.
struct Driver {
    router: Router,
    rng: u64,
    owner: Uuid,
    mate: Uuid,
    boards: Vec<Uuid>,
    items: Vec<Uuid>,
}

impl Driver {
    fn new(pool: &PgPool) -> Self {
        let state = AppState::new(Config { jwt_secret: Secret::new(SECRET), ..Config::default() }, PgEventStore::new(pool.clone()));
        let router = sunday_command_api::router(state);
        Self { router, rng: 0x9E37_79B9_7F4A_7C15, owner: Uuid::now_v7(), mate: Uuid::now_v7(), boards: Vec::new(), items: Vec::new() }
    }

    fn next(&mut self, n: usize) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        usize::try_from(self.rng % n.max(1) as u64).unwrap_or(0)
    }

    async fn send(&self, method: Method, path: &str, as_user: Uuid, body: Value) -> Value {
        let claims = Claims { sub: as_user, exp: chrono::Utc::now().timestamp() + 3600, name: None, email: None };
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", mint(&Secret::new(SECRET), &claims)))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap_or_default();
        let resp = self.router.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
        let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// Two workspaces with two boards each; the mate edits every board.
    async fn setup(&mut self) {
        for w in 0..2 {
            let ws = self.send(Method::POST, "/v1/workspaces", self.owner, json!({"name": format!("w{w}")})).await;
            let ws = ws["data"]["id"].clone();
            self.send(
                Method::POST,
                &format!("/v1/workspaces/{}/members", ws.as_str().unwrap_or("")),
                self.owner,
                json!({"userId": self.mate, "role": "member"}),
            )
            .await;
            for b in 0..2 {
                let board = self.send(Method::POST, "/v1/boards", self.owner, json!({"workspaceId": ws, "name": format!("b{b}")})).await;
                let id = board["data"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_default();
                self.send(Method::POST, &format!("/v1/boards/{id}/members"), self.owner, json!({"userId": self.mate, "role": "editor"}))
                    .await;
                self.boards.push(id);
            }
        }
    }

    /// One random command (some of them refused, which must change nothing).
    async fn random_command(&mut self) {
        let at = self.next(self.boards.len());
        let board = self.boards[at];
        let who = if self.next(4) == 0 { self.mate } else { self.owner };
        let statuses = ["To Do", "In Progress", "Done", "Nope"];
        let status = statuses[self.next(4)];
        let hours = self.next(9);
        if self.items.is_empty() || self.next(5) == 0 {
            let body = json!({"boardId": board, "name": format!("i{}", self.items.len()), "itemData": {"status": status, "estimatedHours": hours, "tags": ["a"]}});
            let r = self.send(Method::POST, "/v1/items", who, body).await;
            if let Some(id) = r["data"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                self.items.push(id);
            }
            return;
        }
        let at = self.next(self.items.len());
        let item = self.items[at];
        let path = format!("/v1/items/{item}");
        match self.next(9) {
            0 | 1 => self.send(Method::PUT, &path, who, json!({"itemData": {"status": status, "estimatedHours": hours}})).await,
            2 => self.send(Method::POST, &format!("{path}/assignees"), who, json!({"userId": self.mate})).await,
            3 => self.send(Method::DELETE, &format!("{path}/assignees/{}", self.mate), who, json!({})).await,
            4 => self.send(Method::POST, &format!("{path}/move"), who, json!({"afterItemId": null})).await,
            5 => self.send(Method::POST, &format!("{path}/comments"), who, json!({"body": "note"})).await,
            6 => {
                self.send(Method::POST, &format!("{path}/files"), who, json!({"name": "f", "contentType": "text/plain", "size": hours}))
                    .await
            }
            7 => self.send(Method::DELETE, &path, who, json!({})).await,
            _ => self.send(Method::PUT, "/v1/me", who, json!({"firstName": format!("n{hours}")})).await,
        };
    }
}

/// A checksum per read-model table, over every column that the log decides.
async fn checksums(pool: &PgPool) -> Vec<(String, String)> {
    let mut out = sunday_testkit::read_models::checksums(pool).await;
    let position: i64 = sqlx::query_scalar("SELECT position FROM rm.projection_checkpoints").fetch_one(pool).await.unwrap_or(-1);
    out.push(("checkpoint".into(), position.to_string()));
    out
}

/// The event store over a pool of its own on the test's database (the
/// test's pool has five connections; the store keeps one for LISTEN).
async fn store_for(pool: &PgPool) -> PgEventStore {
    let wide = sqlx::postgres::PgPoolOptions::new().max_connections(16).connect_with(base(pool)).await;
    PgEventStore::new(wide.unwrap_or_else(|e| panic!("{e}")))
}

fn base(pool: &PgPool) -> PgConnectOptions {
    pool.connect_options().as_ref().clone()
}

/// A projector as a process would run it: its own pool, its own supervised task.
struct Running {
    task: tokio::task::JoinHandle<()>,
    tasks: sunday_runtime::Tasks,
    pool: PgPool,
    stop: watch::Sender<bool>,
}

impl Running {
    async fn start(store: &PgEventStore, pool: &PgPool, batch: usize) -> Self {
        let (stop, rx) = watch::channel(false);
        let config = sunday_projector::Config { batch_size: batch, ..sunday_projector::Config::default() };
        let own = schema::pool(base(pool), schema::LIVE, 4).await.unwrap_or_else(|e| panic!("{e}"));
        let tasks = sunday_runtime::Tasks::new();
        let projector = sunday_projector::Projector { store: store.clone(), pool: own.clone(), config, feed: Feed::new() };
        let task = sunday_projector::spawn(&tasks, projector, rx);
        Self { task, tasks, pool: own, stop }
    }

    /// Dies like a killed process: the task stops wherever it is and its
    /// connections close (the server rolls back what was in flight).
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
        self.pool.close().await;
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let result = self.task.await;
        assert!(result.is_ok(), "the projector task panicked: {result:?}");
        let restarts: u64 = self.tasks.report().iter().map(|t| t.restarts).sum();
        assert_eq!(restarts, 0, "the projector never had to be started again: {:?}", self.tasks.report());
    }
}

/// Waits until the live checkpoint reaches the end of the log.
async fn caught_up(store: &PgEventStore, pool: &PgPool) {
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events").fetch_one(store.pool()).await.unwrap_or(0);
    for _ in 0..600 {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT position FROM rm.projection_checkpoints").fetch_optional(pool).await.ok().flatten();
        if at == Some(head) {
            return;
        }
        if std::env::var("TEST_LOG").is_ok() {
            eprintln!("checkpoint {at:?} head {head}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the projector never reached {head}");
}

/// Rebuilds from the log and returns the rebuilt read models' checksums.
async fn rebuilt(store: &PgEventStore, pool: &PgPool) -> Vec<(String, String)> {
    sunday_projector::rebuild(store, base(pool), &Progress::log()).await.unwrap_or_else(|e| panic!("rebuild: {e}"));
    checksums(pool).await
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_projector_killed_mid_batch_resumes_without_loss_or_double_apply(pool: PgPool) {
    let store = store_for(&pool).await;
    sunday_projector::prepare(&store, base(&pool)).await.unwrap_or_else(|e| panic!("{e}"));
    let mut driver = Driver::new(&pool);
    driver.setup().await;
    for _ in 0..600 {
        driver.random_command().await;
    }
    for round in 0..6u64 {
        let projector = Running::start(&store, &pool, 7).await;
        tokio::time::sleep(Duration::from_millis(15 + round * 20)).await;
        projector.kill().await;
    }
    let projector = Running::start(&store, &pool, 7).await;
    caught_up(&store, &pool).await;
    let live = checksums(&pool).await;
    projector.stop().await;
    assert_eq!(live, rebuilt(&store, &pool).await);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn live_projection_of_ten_thousand_random_commands_equals_a_rebuild(pool: PgPool) {
    let store = store_for(&pool).await;
    sunday_projector::prepare(&store, base(&pool)).await.unwrap_or_else(|e| panic!("{e}"));
    let projector = Running::start(&store, &pool, 500).await;
    let mut driver = Driver::new(&pool);
    driver.setup().await;
    for _ in 0..10_000 {
        driver.random_command().await;
    }
    caught_up(&store, &pool).await;
    let live = checksums(&pool).await;
    projector.stop().await;
    // Statistics are summed event by event; they must equal a recount of the
    // items (so a status or an assignee whose count reaches zero is gone).
    assert_eq!(
        statistics(&pool, "SELECT board_id, item_count, estimated_hours_total, by_status, by_assignee FROM rm.rm_board_stats").await,
        statistics(&pool, RECOUNT).await
    );
    assert_eq!(live, rebuilt(&store, &pool).await);
}

/// Every board's statistics counted afresh from its live items.
const RECOUNT: &str = "SELECT b.board_id, count(i.item_id)::int, coalesce(sum((i.item_data->>'estimatedHours')::float8::numeric), 0), \
       coalesce((SELECT jsonb_object_agg(st, c) FROM (SELECT item_data->>'status' st, count(*) c FROM rm.rm_items \
          WHERE board_id = b.board_id AND deleted_at IS NULL AND item_data ? 'status' GROUP BY 1) x), '{}'), \
       coalesce((SELECT jsonb_object_agg(a::text, c) FROM (SELECT unnest(assignees) a, count(*) c FROM rm.rm_items \
          WHERE board_id = b.board_id AND deleted_at IS NULL GROUP BY 1) y), '{}') \
     FROM rm.rm_board_stats b LEFT JOIN rm.rm_items i ON i.board_id = b.board_id AND i.deleted_at IS NULL GROUP BY b.board_id";

/// Statistics rows as text, by board.
async fn statistics(pool: &PgPool, sql: &str) -> Vec<String> {
    let wrapped = format!("SELECT s::text FROM ({sql}) s ORDER BY 1");
    let rows: Vec<String> = sqlx::query_scalar(&wrapped).fetch_all(pool).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!rows.is_empty(), "there are boards");
    rows
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn two_projectors_elect_one_and_the_other_takes_over(pool: PgPool) {
    let store = store_for(&pool).await;
    sunday_projector::prepare(&store, base(&pool)).await.unwrap_or_else(|e| panic!("{e}"));
    let mut driver = Driver::new(&pool);
    driver.setup().await;
    let first = Running::start(&store, &pool, 5).await;
    let second = Running::start(&store, &pool, 5).await;
    for _ in 0..300 {
        driver.random_command().await;
    }
    first.kill().await;
    for _ in 0..300 {
        driver.random_command().await;
    }
    caught_up(&store, &pool).await;
    let live = checksums(&pool).await;
    second.stop().await;
    assert_eq!(live, rebuilt(&store, &pool).await);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn items_land_in_their_hash_partitions_and_listing_prunes(pool: PgPool) {
    let store = store_for(&pool).await;
    sunday_projector::prepare(&store, base(&pool)).await.unwrap_or_else(|e| panic!("{e}"));
    let projector = Running::start(&store, &pool, 1000).await;
    let driver = Driver::new(&pool);
    let mut boards = Vec::new();
    for w in 0..50 {
        let ws = driver.send(Method::POST, "/v1/workspaces", driver.owner, json!({"name": format!("w{w}")})).await["data"]["id"].clone();
        let b = driver.send(Method::POST, "/v1/boards", driver.owner, json!({"workspaceId": ws, "name": "b"})).await;
        boards.push(b["data"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_default());
    }
    for i in 0..10_000 {
        driver.send(Method::POST, "/v1/items", driver.owner, json!({"boardId": boards[i % 50], "name": format!("n{i}")})).await;
    }
    caught_up(&store, &pool).await;
    projector.stop().await;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT tableoid::regclass::text, count(*), \
           count(*) FILTER (WHERE satisfies_hash_partition('rm.rm_items'::regclass, 8, substring(tableoid::regclass::text from '[0-9]+$')::int, workspace_id)) \
         FROM rm.rm_items GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let total: i64 = rows.iter().map(|r| r.1).sum();
    assert_eq!(total, 10_000);
    assert!(rows.len() >= 4, "50 workspaces spread over several partitions: {rows:?}");
    assert!(rows.iter().all(|(_, n, ok)| n == ok), "every row is in the partition its workspace hashes to: {rows:?}");
    sqlx::query("ANALYZE rm.rm_items").execute(&pool).await.unwrap_or_else(|e| panic!("{e}"));
    let ws: Uuid = sqlx::query_scalar("SELECT workspace_id FROM rm.rm_boards WHERE board_id = $1")
        .bind(boards[0])
        .fetch_one(&pool)
        .await
        .unwrap_or_default();
    let plan: Value = sqlx::query_scalar(&format!(
        "EXPLAIN (FORMAT JSON) SELECT item_id FROM rm.rm_items WHERE workspace_id = '{ws}' AND board_id = '{}' \
         AND deleted_at IS NULL AND item_data ->> 'status' = 'Done' ORDER BY rank LIMIT 50",
        boards[0]
    ))
    .fetch_one(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let text = plan.to_string();
    // The partition's copies of the board indexes are named after their columns
    // (`..._board_id_rank_idx`, or `..._board_id_expr_rank_idx` for status).
    let board_index = text.contains("workspace_id_board_id_rank_idx") || text.contains("workspace_id_board_id_expr_rank_idx");
    assert!(text.contains("Index Scan") && board_index, "no index scan: {text}");
    assert_eq!(text.matches("\"Relation Name\":\"rm_items_p").count(), 1, "only one partition is scanned: {text}");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn activity_in_a_month_without_a_partition_creates_it(pool: PgPool) {
    let store = store_for(&pool).await;
    sunday_projector::prepare(&store, base(&pool)).await.unwrap_or_else(|e| panic!("{e}"));
    let driver = Driver::new(&pool);
    let ws = driver.send(Method::POST, "/v1/workspaces", driver.owner, json!({"name": "w"})).await["data"]["id"].clone();
    driver.send(Method::POST, "/v1/boards", driver.owner, json!({"workspaceId": ws, "name": "b"})).await;
    // Other tests' open transactions can hold the log's horizon back a moment.
    let mut tail = store.tail(0, 100);
    let mut events = Vec::new();
    while events.len() < 2 {
        let batch = tokio::time::timeout(Duration::from_secs(10), tail.next_batch()).await;
        events.extend(batch.unwrap_or_else(|_| panic!("the log never showed both events")).unwrap_or_default());
    }
    // Pretend the board was created in a month far ahead, with no partition yet.
    let future = chrono::DateTime::parse_from_rfc3339("2031-05-17T10:00:00Z").map(|d| d.to_utc()).unwrap_or_default();
    if let Some(last) = events.last_mut() {
        last.occurred_at = future;
    }
    let live = schema::pool(base(&pool), schema::LIVE, 2).await.unwrap_or_else(|e| panic!("{e}"));
    sunday_projector::apply_batch(&live, 0, &events).await.unwrap_or_else(|e| panic!("{e}"));
    let home: String = sqlx::query_scalar("SELECT tableoid::regclass::text FROM rm.rm_activity_log WHERE created_at = $1")
        .bind(future)
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(home, "rm.rm_activity_log_2031_05");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn processes_starting_together_prepare_the_read_models_once(pool: PgPool) {
    let store = store_for(&pool).await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let (store, base) = (store.clone(), base(&pool));
            tokio::spawn(async move { sunday_projector::prepare(&store, base).await.map_err(|e| e.to_string()) })
        })
        .collect();
    for s in starts {
        let result = s.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(result.is_ok(), "{result:?}");
    }
    let version: i32 = sqlx::query_scalar("SELECT schema_version FROM rm.read_model_info").fetch_one(&pool).await.unwrap_or(0);
    assert_eq!(version, sunday_projector::schema::SCHEMA_VERSION);
}
