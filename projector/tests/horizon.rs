//! A projector batch never appends, and says so: however long it takes, it
//! holds no log tail back (the gateway's, a change feed's).

use std::time::Duration;

use sqlx::PgPool;
use sunday_domain::DomainEvent;
use sunday_domain::events::WorkspaceCreated;
use sunday_domain::store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
use sunday_projector::schema;
use uuid::Uuid;

async fn create_workspace(store: &sunday_eventstore::PgEventStore, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    let event = NewEvent {
        event_id: Uuid::now_v7(),
        event: DomainEvent::WorkspaceCreated(WorkspaceCreated { workspace_id: id, name: name.into(), owner_id: Uuid::from_u128(1) }),
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

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_slow_projector_batch_holds_no_log_tail_back(pool: PgPool) {
    let options = pool.connect_options().as_ref().clone();
    let wide = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect_with(options.clone()).await;
    let store = sunday_eventstore::PgEventStore::new(wide.unwrap_or_else(|e| panic!("{e}")));
    sunday_projector::prepare(&store, options.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    // Projecting a workspace named "slow" takes a minute (a trigger sleeps in
    // the batch's transaction, after it has taken its id).
    sqlx::raw_sql(
        "CREATE FUNCTION rm.slow() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.name = 'slow' THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$; \
         CREATE TRIGGER slow BEFORE INSERT ON rm.rm_workspaces FOR EACH ROW EXECUTE FUNCTION rm.slow();",
    )
    .execute(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let tasks = sunday_runtime::Tasks::new();
    let live = schema::writer_pool(options, 3).await.unwrap_or_else(|e| panic!("{e}"));
    let projector = sunday_projector::Projector { store: store.clone(), pool: live, config: Default::default(), feed: Default::default() };
    sunday_projector::spawn(&tasks, projector, stop);

    let slow = create_workspace(&store, "slow").await;
    let sleeping = async {
        loop {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%rm_workspaces%' AND wait_event = 'PgSleep'")
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(0);
            if n > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert!(tokio::time::timeout(Duration::from_secs(10), sleeping).await.is_ok(), "the batch projecting {slow} never started");
    let after = create_workspace(&store, "after").await;
    let mut tail = store.tail(0, 100);
    let mut seen = Vec::new();
    let followed = tokio::time::timeout(Duration::from_secs(10), async {
        let stream = format!("workspace-{after}");
        while !seen.iter().any(|e: &sunday_domain::store::RecordedEvent| e.stream_id.as_str() == stream) {
            seen.extend(tail.next_batch().await.unwrap_or_default());
        }
    })
    .await;
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()")
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(followed.is_ok(), "the log tail waited for the projector's batch, which cannot append");
}
