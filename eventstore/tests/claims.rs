//! What the store refuses per append, without failing others: a sub-entity id
//! (comment, file, column, group) already used by another stream, and values
//! PostgreSQL cannot store (U+0000). Appends sharing a group commit with a
//! refused one still go through in that batch.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sunday_domain::DomainEvent;
use sunday_domain::events::{CommentAdded, WorkspaceRenamed};
use sunday_domain::store::*;
use sunday_eventstore::PgEventStore;
use uuid::Uuid;

fn new_event(event: DomainEvent) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event,
        occurred_at: chrono::Utc::now(),
        workspace_id: Some(Uuid::from_u128(1)),
        board_id: Some(Uuid::from_u128(2)),
        metadata: Metadata { actor_id: Uuid::from_u128(1), correlation_id: Uuid::now_v7(), ..Metadata::default() },
    }
}

fn comment(item: Uuid, comment: Uuid, body: &str) -> NewEvent {
    new_event(DomainEvent::CommentAdded(CommentAdded { item_id: item, comment_id: comment, body: body.to_owned() }))
}

async fn wide(pool: &PgPool) -> PgEventStore {
    let options = pool.connect_options().as_ref().clone();
    PgEventStore::new(PgPoolOptions::new().max_connections(24).connect_with(options).await.unwrap_or_else(|e| panic!("{e}")))
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_sub_entity_id_belongs_to_one_stream(pool: PgPool) {
    let store = PgEventStore::new(pool);
    let (a, b, id) = (StreamId::item(Uuid::now_v7()), StreamId::item(Uuid::now_v7()), Uuid::now_v7());
    let first = comment(Uuid::nil(), id, "first");
    let ok = store.append(AppendRequest::new(&a, ExpectedVersion::Any, vec![first.clone()])).await;
    assert!(ok.is_ok(), "{ok:?}");
    let again = store.append(AppendRequest::new(&a, ExpectedVersion::Any, vec![first])).await;
    assert_eq!(again.ok(), ok.ok(), "the same events again are an idempotent re-append");
    let other = store.append(AppendRequest::new(&b, ExpectedVersion::Any, vec![comment(Uuid::nil(), id, "elsewhere")])).await;
    assert!(matches!(other, Err(StoreError::EntityIdTaken)), "{other:?}");
    assert!(store.read_stream(&b, 0).await.unwrap_or_default().is_empty(), "the refused append wrote nothing");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_nul_character_is_refused_with_its_field(pool: PgPool) {
    let store = PgEventStore::new(pool);
    let s = StreamId::workspace(Uuid::now_v7());
    let named =
        |name: &str| new_event(DomainEvent::WorkspaceRenamed(WorkspaceRenamed { workspace_id: Uuid::nil(), name: name.to_owned() }));
    let refused = store.append(AppendRequest::new(&s, ExpectedVersion::Any, vec![named("a\0b")])).await;
    assert!(matches!(&refused, Err(StoreError::Unstorable { field }) if field == "name"), "{refused:?}");
    let mut key = named("fine");
    key.metadata.idempotency_key = Some("k\0".into());
    let refused = store.append(AppendRequest::new(&s, ExpectedVersion::Any, vec![key])).await;
    assert!(matches!(&refused, Err(StoreError::Unstorable { field }) if field == "metadata.idempotencyKey"), "{refused:?}");
    assert!(store.read_stream(&s, 0).await.unwrap_or_default().is_empty());
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn refused_members_of_a_group_commit_do_not_fail_the_batch(pool: PgPool) {
    let store = wide(&pool).await;
    let taken = Uuid::now_v7();
    let owner = StreamId::item(Uuid::now_v7());
    store
        .append(AppendRequest::new(&owner, ExpectedVersion::Any, vec![comment(Uuid::nil(), taken, "mine")]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let before = store.batch_counts().fallbacks.load(std::sync::atomic::Ordering::Relaxed);
    // Rounds of concurrent appends: most fine, one reusing a taken comment id,
    // one holding a NUL. They share group commits.
    for _ in 0..5 {
        let appends = (0..24).map(|i| {
            let store = store.clone();
            async move {
                let stream = StreamId::item(Uuid::now_v7());
                let event = match i {
                    0 => comment(Uuid::nil(), taken, "reused"),
                    1 => comment(Uuid::nil(), Uuid::now_v7(), "bad\0body"),
                    _ => comment(Uuid::nil(), Uuid::now_v7(), "fine"),
                };
                (i, store.append(AppendRequest::new(&stream, ExpectedVersion::NoStream, vec![event])).await)
            }
        });
        for (i, result) in futures_util::future::join_all(appends).await {
            match i {
                0 => assert!(matches!(result, Err(StoreError::EntityIdTaken)), "{result:?}"),
                1 => assert!(matches!(result, Err(StoreError::Unstorable { .. })), "{result:?}"),
                _ => assert!(result.is_ok(), "{result:?}"),
            }
        }
    }
    let counts = store.batch_counts();
    assert!(counts.batches.load(std::sync::atomic::Ordering::Relaxed) > 0, "appends went through group commit");
    assert_eq!(counts.fallbacks.load(std::sync::atomic::Ordering::Relaxed), before, "no batch fell back to one-by-one appends");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap_or(0);
    assert_eq!(kept, 1 + 5 * 22);
}
