//! The publisher against real PostgreSQL and NATS: a publisher that died
//! between publishing and checkpointing leaves JetStream, once a successor has
//! run, with every event exactly once and in log order.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sunday_domain::DomainEvent;
use sunday_domain::events::WorkspaceRenamed;
use sunday_domain::store::*;
use sunday_eventstore::PgEventStore;
use sunday_relay::{publish_events, spawn, stream_name};
use tokio::sync::watch;
use uuid::Uuid;

fn renamed(n: usize) -> NewEvent {
    let ws = Uuid::from_u128(42);
    NewEvent {
        event_id: Uuid::now_v7(),
        event: DomainEvent::WorkspaceRenamed(WorkspaceRenamed { workspace_id: ws, name: format!("name {n}") }),
        occurred_at: chrono::Utc::now(),
        workspace_id: Some(ws),
        board_id: None,
        metadata: Metadata { actor_id: Uuid::from_u128(1), correlation_id: Uuid::now_v7(), ..Metadata::default() },
    }
}

async fn store(pool: &PgPool) -> PgEventStore {
    let wide = PgPoolOptions::new().max_connections(8).connect_with(pool.connect_options().as_ref().clone()).await;
    PgEventStore::new(wide.unwrap_or_else(|e| panic!("{e}")))
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_publisher_killed_before_its_checkpoint_publishes_nothing_twice(pool: PgPool) {
    let url = std::env::var("SUNDAY_TEST_NATS_URL").unwrap_or_else(|_| panic!("ops/test sets SUNDAY_TEST_NATS_URL"));
    let client = async_nats::connect(url).await.unwrap_or_else(|e| panic!("NATS: {e}"));
    let js = async_nats::jetstream::new(client);
    let prefix = format!("t{}", Uuid::now_v7().simple());
    let store = store(&pool).await;
    let stream = StreamId::workspace(Uuid::from_u128(42));
    for n in 0..50 {
        store.append(AppendRequest::new(&stream, ExpectedVersion::Any, vec![renamed(n)])).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let mut tail = store.tail(0, 100);
    let mut events = Vec::new();
    while events.len() < 50 {
        let batch = tokio::time::timeout(Duration::from_secs(10), tail.next_batch()).await;
        events.extend(batch.unwrap_or_else(|_| panic!("log stalled")).unwrap_or_default());
    }
    // A first publisher published 30 events, then died before its checkpoint.
    sunday_relay::ensure_stream(&js, &prefix, Some(1)).await.unwrap_or_else(|e| panic!("{e}"));
    publish_events(&js, &prefix, &events[..30]).await.unwrap_or_else(|e| panic!("{e}"));
    // Its successor starts from the old checkpoint (0) and runs until caught up.
    let (stop_tx, stop) = watch::channel(false);
    let tasks = sunday_runtime::Tasks::new();
    let successor = spawn(&tasks, store.clone(), js.clone(), prefix.clone(), 1, stop);
    let last = events.last().map_or(0, |e| e.position);
    for _ in 0..200 {
        let at: Option<i64> = sqlx::query_scalar("SELECT position FROM publisher_checkpoints").fetch_optional(&pool).await.ok().flatten();
        if at == Some(last) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    assert!(successor.await.is_ok(), "the publisher task panicked");
    assert_eq!(tasks.report()[0].restarts, 0, "the publisher never failed: {:?}", tasks.report());
    let mut js_stream = js.get_stream(stream_name(&prefix)).await.unwrap_or_else(|e| panic!("{e}"));
    let count = js_stream.info().await.map(|i| i.state.messages).unwrap_or(0);
    assert_eq!(count, 50, "every event exactly once");
    for (seq, e) in (1u64..).zip(&events) {
        let m = js_stream.get_raw_message(seq).await.unwrap_or_else(|err| panic!("message {seq}: {err}"));
        assert_eq!(m.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned()), Some(e.event_id.to_string()), "in log order");
        assert_eq!(m.headers.get("Sunday-Position").map(|v| v.as_str().to_owned()), Some(e.position.to_string()));
        assert_eq!(m.subject.as_str(), format!("{prefix}.events.{}._.WorkspaceRenamed", Uuid::from_u128(42)));
    }
}
