//! The log's horizon counts only transactions that can append: a long one in
//! a session that never appends (a projector batch, a rebuild) holds no tail
//! back, one anywhere else still does, and a session that said it never
//! appends cannot append.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use sunday_domain::DomainEvent;
use sunday_domain::events::WorkspaceRenamed;
use sunday_domain::store::*;
use sunday_eventstore::PgEventStore;
use uuid::Uuid;

fn event(n: u128) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event: DomainEvent::WorkspaceRenamed(WorkspaceRenamed { workspace_id: Uuid::from_u128(n), name: format!("n{n}") }),
        occurred_at: chrono::Utc::now(),
        workspace_id: Some(Uuid::from_u128(n)),
        board_id: None,
        metadata: Metadata { actor_id: Uuid::from_u128(1), correlation_id: Uuid::now_v7(), ..Metadata::default() },
    }
}

fn options(pool: &PgPool) -> PgConnectOptions {
    pool.connect_options().as_ref().clone()
}

/// A connection inside a transaction that has taken a transaction id (it
/// wrote a row, as a read-model batch does) and stays open.
async fn open_writer(options: PgConnectOptions) -> PgConnection {
    let mut conn = PgConnection::connect_with(&options).await.unwrap_or_else(|e| panic!("connect: {e}"));
    for sql in ["BEGIN", "CREATE TEMP TABLE scratch (n int)", "INSERT INTO scratch VALUES (1)"] {
        sqlx::query(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    conn
}

async fn append_three(store: &PgEventStore, name: &str) {
    let stream = StreamId::from_stored(format!("workspace-{name}"));
    for n in 0..3 {
        store.append(AppendRequest::new(&stream, ExpectedVersion::Any, vec![event(n)])).await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_long_transaction_that_never_appends_holds_no_tail_back(pool: PgPool) {
    let store = PgEventStore::new(pool.clone());
    let read_models = open_writer(sunday_eventstore::never_appends(options(&pool))).await;
    append_three(&store, "a").await;
    let mut tail = store.tail(0, 100);
    let got = tokio::time::timeout(Duration::from_secs(10), tail.next_batch()).await;
    let got = got.unwrap_or_else(|_| panic!("the tail waited for a transaction that cannot append")).unwrap_or_default();
    assert_eq!(got.len(), 3);
    assert!(store.horizon().await.unwrap_or_default() > got[2].position);

    // The same transaction in a session that did not say so counts: it could
    // still append below the events above.
    let unknown = open_writer(options(&pool)).await;
    append_three(&store, "b").await;
    assert!(store.read_all(got[2].position, 100).await.unwrap_or_default().is_empty(), "an unknown open transaction must hold the log");
    drop(unknown);
    drop(read_models);
    let mut tail = store.tail(got[2].position, 100);
    let rest = tokio::time::timeout(Duration::from_secs(10), tail.next_batch()).await;
    assert_eq!(rest.unwrap_or_else(|_| panic!("tail stalled")).unwrap_or_default().len(), 3);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_session_that_never_appends_cannot_append(pool: PgPool) {
    let marked = PgPoolOptions::new().max_connections(2).connect_with(sunday_eventstore::never_appends(options(&pool))).await;
    let store = PgEventStore::new(marked.unwrap_or_else(|e| panic!("connect: {e}")));
    let stream = StreamId::from_stored("workspace-refused".into());
    let grouped = store.append(AppendRequest::new(&stream, ExpectedVersion::Any, vec![event(1)])).await;
    assert!(matches!(grouped, Err(StoreError::Backend(_))), "{grouped:?}");
    let record = IdempotencyRecord {
        user_id: Uuid::now_v7(),
        key: "k".into(),
        request_hash: "h".into(),
        status: 201,
        aggregate_id: Uuid::nil(),
        entity_id: None,
    };
    let keyed = AppendRequest { idempotency: Some(&record), ..AppendRequest::new(&stream, ExpectedVersion::Any, vec![event(2)]) };
    assert!(matches!(store.append(keyed).await, Err(StoreError::Backend(_))));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count, 0, "nothing was appended");
}
