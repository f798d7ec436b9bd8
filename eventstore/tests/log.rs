//! The PostgreSQL event store against a real database: appends with expected
//! versions, idempotent re-appends, upcasting on read, and a whole-log reader
//! that sees every committed event exactly once and in order, late committers
//! included.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::event;
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sunday_domain::DomainEvent;
use sunday_domain::events::ItemDeleted;
use sunday_domain::store::*;
use sunday_eventstore::PgEventStore;
use uuid::Uuid;

fn stream(name: &str) -> StreamId {
    StreamId::from_stored(name.to_owned())
}

/// A pool wide enough for real concurrency, on the test's own database.
async fn wide_pool(pool: &PgPool, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn appends_check_the_expected_version(pool: PgPool) {
    let store = PgEventStore::new(pool);
    let s = stream("workspace-a");
    let first = store.append(AppendRequest::new(&s, ExpectedVersion::NoStream, vec![event(1), event(2)])).await;
    assert_eq!(first.as_ref().map(|r| r.version).ok(), Some(2));
    let stale = store.append(AppendRequest::new(&s, ExpectedVersion::Exact(1), vec![event(3)])).await;
    assert!(matches!(stale, Err(StoreError::WrongExpectedVersion { actual: 2, .. })), "{stale:?}");
    let again = store.append(AppendRequest::new(&s, ExpectedVersion::NoStream, vec![event(3)])).await;
    assert!(matches!(again, Err(StoreError::WrongExpectedVersion { .. })));
    let ahead = store.append(AppendRequest::new(&s, ExpectedVersion::Exact(5), vec![event(3)])).await;
    assert!(matches!(ahead, Err(StoreError::WrongExpectedVersion { .. })), "no gap may be created");
    let any = store.append(AppendRequest::new(&s, ExpectedVersion::Any, vec![event(3)])).await;
    assert_eq!(any.map(|r| r.version).ok(), Some(3));
    let read = store.read_stream(&s, 0).await.unwrap_or_default();
    assert_eq!(read.iter().map(|e| e.stream_version).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(read.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(store.read_stream(&s, 2).await.unwrap_or_default().len(), 1);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn re_appending_the_same_event_ids_is_a_no_op(pool: PgPool) {
    let store = PgEventStore::new(pool);
    let s = stream("workspace-b");
    let events = vec![event(1), event(2)];
    let first = store.append(AppendRequest::new(&s, ExpectedVersion::NoStream, events.clone())).await.ok();
    let again = store.append(AppendRequest::new(&s, ExpectedVersion::NoStream, events.clone())).await.ok();
    assert_eq!(first, again);
    assert_eq!(store.read_stream(&s, 0).await.unwrap_or_default().len(), 2);
    let elsewhere = store.append(AppendRequest::new(&stream("workspace-c"), ExpectedVersion::Any, events)).await;
    assert!(matches!(elsewhere, Err(StoreError::DuplicateEventIds)), "{elsewhere:?}");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn an_old_schema_version_is_upcast_on_read(pool: PgPool) {
    let store = PgEventStore::new(pool.clone());
    let (item, board, group) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let v1 =
        json!({"itemId": item, "boardId": board, "groupId": group, "name": "Legacy", "columnValues": {"status": "Done"}, "rank": "V!x"});
    sqlx::query(
        "INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at, board_id, data, metadata) \
         VALUES (pg_current_xact_id()::text::bigint << 10, $1, $2, 1, 'ItemCreated', 1, now(), $3, $4, '{}')",
    )
    .bind(Uuid::now_v7())
    .bind(format!("item-{item}"))
    .bind(board)
    .bind(v1)
    .execute(&pool)
    .await
    .unwrap_or_else(|e| panic!("insert: {e}"));
    let read = store.read_stream(&StreamId::item(item), 0).await.unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(read[0].stored_schema_version, 1);
    let DomainEvent::ItemCreated(created) = &read[0].event else { panic!("not ItemCreated: {:?}", read[0].event) };
    assert_eq!(created.item_data.get("status"), Some(&json!("Done")));
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn concurrent_writers_and_a_tailing_reader_agree_on_the_log(pool: PgPool) {
    const WRITERS: usize = 40;
    const PER_WRITER: usize = 25;
    let store = PgEventStore::new(wide_pool(&pool, 48).await);
    let reader_store = PgEventStore::new(wide_pool(&pool, 4).await);
    let reader = tokio::spawn(async move {
        let mut tail = reader_store.tail(0, 64);
        let mut seen = Vec::new();
        while seen.len() < WRITERS * PER_WRITER {
            let batch = tokio::time::timeout(Duration::from_secs(30), tail.next_batch()).await;
            let batch = batch.unwrap_or_else(|_| panic!("reader stalled at {} events", seen.len()));
            seen.extend(batch.unwrap_or_else(|e| panic!("read: {e}")).into_iter().map(|e| (e.position, e.event_id)));
        }
        seen
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..PER_WRITER {
                    // Half to a stream of its own, half to one of four shared ones.
                    let s = if i % 2 == 0 { stream(&format!("own-{w}")) } else { stream(&format!("shared-{}", i % 4)) };
                    let e = event(u128::try_from(w * 1000 + i).unwrap_or_default());
                    ids.push(e.event_id);
                    if let Err(err) = store.append(AppendRequest::new(&s, ExpectedVersion::Any, vec![e])).await {
                        panic!("append failed: {err}");
                    }
                }
                ids
            })
        })
        .collect();
    let mut written = HashSet::new();
    for w in writers {
        written.extend(w.await.unwrap_or_default());
    }
    let seen = reader.await.unwrap_or_default();
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "the reader saw positions out of order");
    let seen_ids: HashSet<Uuid> = seen.iter().map(|(_, id)| *id).collect();
    assert_eq!(seen_ids.len(), seen.len(), "the reader saw an event twice");
    assert_eq!(seen_ids, written, "the reader missed events");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_late_committer_is_not_skipped(pool: PgPool) {
    let store = PgEventStore::new(pool.clone());
    // A transaction takes a position, then stays open while others commit.
    let mut late = pool.begin().await.unwrap_or_else(|e| panic!("begin: {e}"));
    let late_id = Uuid::now_v7();
    let payload = DomainEvent::ItemDeleted(ItemDeleted { item_id: Uuid::nil() }).payload();
    sqlx::query(
        "INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at, data, metadata) \
         VALUES (pg_current_xact_id()::text::bigint << 10, $1, 'item-late', 1, 'ItemDeleted', 1, now(), $2, '{}')",
    )
    .bind(late_id)
    .bind(payload)
    .execute(&mut *late)
    .await
    .unwrap_or_else(|e| panic!("insert: {e}"));
    for n in 0..3 {
        store
            .append(AppendRequest::new(&stream("workspace-early"), ExpectedVersion::Any, vec![event(n)]))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let visible = store.read_all(0, 100).await.unwrap_or_default();
    assert!(visible.is_empty(), "events above an open transaction must wait: {visible:?}");
    late.commit().await.unwrap_or_else(|e| panic!("commit: {e}"));
    let mut tail = store.tail(0, 100);
    let mut got = Vec::new();
    while got.len() < 4 {
        let batch = tokio::time::timeout(Duration::from_secs(10), tail.next_batch()).await;
        got.extend(batch.unwrap_or_else(|_| panic!("tail stalled")).unwrap_or_default());
    }
    assert_eq!(got[0].event_id, late_id, "the late committer comes first: it has the lowest position");
    assert_eq!(got.len(), 4);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn another_process_append_wakes_a_waiting_tail(pool: PgPool) {
    let here = PgEventStore::new(pool.clone());
    let elsewhere = PgEventStore::new(wide_pool(&pool, 2).await);
    let mut signal = here.notifier().subscribe();
    // Give the LISTEN connection a moment to register before the NOTIFY is sent.
    let mut tail = here.tail(0, 10);
    let waiting = tokio::spawn(async move { tail.next_batch().await.map(|b| b.len()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    elsewhere
        .append(AppendRequest::new(&stream("workspace-x"), ExpectedVersion::Any, vec![event(9)]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let woke = tokio::time::timeout(Duration::from_secs(10), signal.changed()).await;
    assert!(matches!(woke, Ok(Ok(()))), "the NOTIFY from the other store never arrived");
    let got = tokio::time::timeout(Duration::from_secs(10), waiting).await;
    assert!(matches!(got, Ok(Ok(Ok(1)))), "{got:?}");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn idempotency_keys_are_recorded_with_the_append(pool: PgPool) {
    let store = PgEventStore::new(pool);
    let user = Uuid::now_v7();
    let record = IdempotencyRecord {
        user_id: user,
        key: "k".into(),
        request_hash: "h".into(),
        status: 201,
        aggregate_id: Uuid::nil(),
        entity_id: None,
    };
    let r = store
        .append(AppendRequest {
            idempotency: Some(&record),
            ..AppendRequest::new(&stream("workspace-i"), ExpectedVersion::NoStream, vec![event(1)])
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stored = store.find_idempotency(user, "k").await.ok().flatten();
    assert_eq!(stored.map(|s| (s.version, s.position, s.status)), Some((r.version, r.position, 201)));
    let second = store
        .append(AppendRequest {
            idempotency: Some(&record),
            ..AppendRequest::new(&stream("workspace-j"), ExpectedVersion::NoStream, vec![event(2)])
        })
        .await;
    assert!(matches!(second, Err(StoreError::IdempotencyKeyTaken)));
    assert!(store.read_stream(&stream("workspace-j"), 0).await.unwrap_or_default().is_empty(), "the losing append was rolled back");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_stale_guard_refuses_the_append(pool: PgPool) {
    let store = PgEventStore::new(pool);
    let board = stream("board-g");
    store.append(AppendRequest::new(&board, ExpectedVersion::NoStream, vec![event(1)])).await.unwrap_or_else(|e| panic!("{e}"));
    let item = stream("item-g");
    let guarded = |version| AppendRequest {
        guards: vec![(board.clone(), version)],
        ..AppendRequest::new(&item, ExpectedVersion::Any, vec![event(2)])
    };
    let ok = store.append(guarded(1)).await;
    assert!(ok.is_ok(), "{ok:?}");
    store.append(AppendRequest::new(&board, ExpectedVersion::Exact(1), vec![event(3)])).await.unwrap_or_else(|e| panic!("{e}"));
    let stale = store.append(guarded(1)).await;
    assert!(matches!(stale, Err(StoreError::StaleGuard)), "{stale:?}");
    assert_eq!(store.read_stream(&item, 0).await.unwrap_or_default().len(), 1, "the refused append wrote nothing");
}
