//! The log's horizon counts only transactions that can append: a long one
//! that announced it never appends (a projector batch, a rebuild) holds no
//! tail back, one that did not still does, and an announced one cannot
//! append; a transaction of another database holds back only readers that
//! did not ask for this database's horizon.

mod common;

use std::time::Duration;

use common::event;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use sunday_domain::DomainEvent;
use sunday_domain::events::WorkspaceRenamed;
use sunday_domain::store::*;
use sunday_eventstore::{Horizon, PgEventStore};
use uuid::Uuid;

fn options(pool: &PgPool) -> PgConnectOptions {
    pool.connect_options().as_ref().clone()
}

/// A connection inside a transaction that has taken a transaction id (it
/// wrote a row, as a read-model batch does) and stays open; and that id.
async fn open_writer(pool: &PgPool) -> (PgConnection, i64) {
    let mut conn = PgConnection::connect_with(&options(pool)).await.unwrap_or_else(|e| panic!("connect: {e}"));
    for sql in ["BEGIN", "CREATE TEMP TABLE scratch (n int)", "INSERT INTO scratch VALUES (1)"] {
        sqlx::query(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let xid = sqlx::query_scalar(&format!("SELECT {}", sunday_eventstore::CURRENT_XID)).fetch_one(&mut conn).await;
    (conn, xid.unwrap_or_else(|e| panic!("{e}")))
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
    let (read_models, xid) = open_writer(&pool).await;
    sunday_eventstore::announce_never_appends(&pool, xid).await.unwrap_or_else(|e| panic!("announce: {e}"));
    append_three(&store, "a").await;
    // (Other tests' transactions, in other databases of the cluster, count
    // until they end: the tail may take the three in several batches.)
    let mut tail = store.tail(0, 100);
    let mut got = Vec::new();
    let followed = tokio::time::timeout(Duration::from_secs(10), async {
        while got.len() < 3 {
            got.extend(tail.next_batch().await.unwrap_or_default());
        }
    });
    assert!(followed.await.is_ok(), "the tail waited for a transaction that cannot append");
    assert_eq!(got.len(), 3);
    assert!(store.horizon().await.unwrap_or_default() > got[2].position);

    // The same transaction, not announced, counts: it could still append
    // below the events above it.
    let (unknown, _) = open_writer(&pool).await;
    append_three(&store, "b").await;
    assert!(store.read_all(got[2].position, 100).await.unwrap_or_default().is_empty(), "an unknown open transaction must hold the log");
    drop(unknown);
    drop(read_models);
    let mut tail = store.tail(got[2].position, 100);
    let mut rest = Vec::new();
    let followed = tokio::time::timeout(Duration::from_secs(10), async {
        while rest.len() < 3 {
            rest.extend(tail.next_batch().await.unwrap_or_default());
        }
    });
    assert!(followed.await.is_ok(), "tail stalled");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn an_announced_transaction_cannot_append(pool: PgPool) {
    let (mut conn, xid) = open_writer(&pool).await;
    sunday_eventstore::announce_never_appends(&pool, xid).await.unwrap_or_else(|e| panic!("announce: {e}"));
    let payload = DomainEvent::WorkspaceRenamed(WorkspaceRenamed { workspace_id: Uuid::nil(), name: "x".into() }).payload();
    let inserted = sqlx::query(
        "INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at, data, metadata) \
         VALUES (pg_current_xact_id()::text::bigint << 10, $1, 'workspace-x', 1, 'WorkspaceRenamed', 1, now(), $2, '{}')",
    )
    .bind(Uuid::now_v7())
    .bind(payload)
    .execute(&mut conn)
    .await;
    let refused = inserted.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("never appends"), "{refused}");
    sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    // Announcements of transactions that have ended are forgotten by the next one.
    let (_other, xid) = open_writer(&pool).await;
    sunday_eventstore::announce_never_appends(&pool, xid).await.unwrap_or_else(|e| panic!("announce: {e}"));
    let kept: Vec<i64> =
        sqlx::query_scalar("SELECT xid::text::bigint FROM sunday_non_appending").fetch_all(&pool).await.unwrap_or_default();
    assert_eq!(kept, [xid]);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn another_databases_transaction_holds_no_waiting_reader_back(pool: PgPool) {
    let store = PgEventStore::new(pool.clone());
    // A transaction with an id, open in the cluster's maintenance database.
    let elsewhere = options(&pool).database("postgres");
    let mut other = PgConnection::connect_with(&elsewhere).await.unwrap_or_else(|e| panic!("connect: {e}"));
    sqlx::query("BEGIN").execute(&mut other).await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("SELECT pg_current_xact_id()").execute(&mut other).await.unwrap_or_else(|e| panic!("{e}"));
    append_three(&store, "c").await;
    let cluster = store.horizon().await.unwrap_or_else(|e| panic!("{e}"));
    let here = store.horizon_of(Horizon::ThisDatabase).await.unwrap_or_else(|e| panic!("{e}"));
    let (first, last) = positions(&pool, "workspace-c").await;
    assert!(cluster <= first, "the cluster's horizon counts the other database's transaction");
    assert!(here > last, "this database's horizon does not");
    // This database's horizon is past the three events: a tail takes them.
    let mut tail = store.tail(0, 100);
    let mut got = Vec::new();
    let followed = tokio::time::timeout(Duration::from_secs(10), async {
        while got.len() < 3 {
            got.extend(tail.next_batch().await.unwrap_or_default());
        }
    });
    assert!(followed.await.is_ok(), "the tail waited for another database's transaction");

    // One of this database's own open transactions still counts there.
    let (mine, _) = open_writer(&pool).await;
    append_three(&store, "d").await;
    let here = store.horizon_of(Horizon::ThisDatabase).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(here <= positions(&pool, "workspace-d").await.0, "an open transaction of this database holds it");
    drop(mine);
    drop(other);
}

/// The first and last position of a stream's events, committed or not final.
async fn positions(pool: &PgPool, stream: &str) -> (i64, i64) {
    let sql = "SELECT min(position), max(position) FROM events WHERE stream_id = $1";
    let got: (Option<i64>, Option<i64>) = sqlx::query_as(sql).bind(stream).fetch_one(pool).await.unwrap_or_else(|e| panic!("{e}"));
    (got.0.unwrap_or_else(|| panic!("no events in {stream}")), got.1.unwrap_or_default())
}
