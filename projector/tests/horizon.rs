//! Read-model sessions never append, and say so: a long transaction in one (a
//! rebuild's batch, a slow projector batch) holds no log tail back, so the
//! live projector goes on projecting past it.

use std::time::Duration;

use sqlx::PgPool;
use sunday_domain::DomainEvent;
use sunday_domain::events::WorkspaceCreated;
use sunday_domain::store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
use sunday_projector::schema;
use uuid::Uuid;

async fn create_workspace(store: &sunday_eventstore::PgEventStore) -> Uuid {
    let id = Uuid::now_v7();
    let event = NewEvent {
        event_id: Uuid::now_v7(),
        event: DomainEvent::WorkspaceCreated(WorkspaceCreated { workspace_id: id, name: "w".into(), owner_id: Uuid::from_u128(1) }),
        occurred_at: chrono::Utc::now(),
        workspace_id: Some(id),
        board_id: None,
        metadata: Metadata { actor_id: Uuid::from_u128(1), ..Metadata::default() },
    };
    let stream = StreamId::workspace(id);
    let request = AppendRequest::new(&stream, ExpectedVersion::NoStream, vec![event]);
    store.append(request).await.unwrap_or_else(|e| panic!("{e}"));
    id
}

async fn projected(pool: &PgPool, workspace: Uuid) -> bool {
    let found: Option<String> = sqlx::query_scalar("SELECT name FROM rm.rm_workspaces WHERE workspace_id = $1")
        .bind(workspace)
        .fetch_optional(pool)
        .await
        .unwrap_or(None);
    found.is_some()
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_long_read_model_transaction_holds_no_projection_back(pool: PgPool) {
    let options = pool.connect_options().as_ref().clone();
    let wide = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect_with(options.clone()).await;
    let store = sunday_eventstore::PgEventStore::new(wide.unwrap_or_else(|e| panic!("{e}")));
    sunday_projector::prepare(&store, options.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let tasks = sunday_runtime::Tasks::new();
    let live = schema::writer_pool(options.clone(), 3).await.unwrap_or_else(|e| panic!("{e}"));
    let projector = sunday_projector::Projector { store: store.clone(), pool: live, config: Default::default(), feed: Default::default() };
    sunday_projector::spawn(&tasks, projector, stop);

    // A rebuild's session takes a transaction id and keeps working (not idle,
    // so no timeout ends it) for far longer than the wait below.
    let next = schema::pool(options, schema::NEXT, 1).await.unwrap_or_else(|e| panic!("{e}"));
    let mut busy = next.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("CREATE TABLE rm_next_scratch (n int)").execute(&mut *busy).await.unwrap_or_else(|e| panic!("{e}"));
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *busy).await.unwrap_or_else(|e| panic!("{e}"));
    let holding = tokio::spawn(async move {
        let slept = sqlx::query("SELECT pg_sleep(60)").execute(&mut *busy).await;
        drop(busy);
        slept.map(|_| ())
    });

    let workspace = create_workspace(&store).await;
    let mut seen = false;
    for _ in 0..300 {
        if projected(&pool, workspace).await {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!holding.is_finished(), "the long transaction was still running");
    sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&pool).await.unwrap_or_else(|e| panic!("{e}"));
    let _ = holding.await;
    assert!(seen, "the live projector waited for a transaction that cannot append");
}
