//! Edges of the projector: an acknowledged event is never dropped (an event
//! whose write changes nothing it was meant to, a row that is missing or one
//! that is there already, fails its batch, leaves the checkpoint where it was
//! and is counted, instead of being skipped), and activity lands in the
//! month partition of its UTC month whatever the server's time zone.

use sqlx::PgPool;
use sunday_domain::DomainEvent;
use sunday_domain::columns::default_columns;
use sunday_domain::events::*;
use sunday_domain::store::{Metadata, RecordedEvent, StreamId};
use sunday_projector::{ProjectorError, apply_batch, checkpoint, schema};
use uuid::Uuid;

struct Log {
    events: Vec<RecordedEvent>,
    workspace: Uuid,
    board: Uuid,
}

impl Log {
    fn record(&mut self, stream: StreamId, version: u64, event: DomainEvent) -> RecordedEvent {
        self.record_at(stream, version, event, chrono::Utc::now())
    }

    fn record_at(&mut self, stream: StreamId, version: u64, event: DomainEvent, at: chrono::DateTime<chrono::Utc>) -> RecordedEvent {
        let board = (!matches!(event, DomainEvent::WorkspaceCreated(_))).then_some(self.board);
        let e = RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: stream,
            stream_version: version,
            position: i64::try_from(self.events.len() + 1).unwrap_or_default() << 10,
            occurred_at: at,
            workspace_id: Some(self.workspace),
            board_id: board,
            stored_schema_version: event.schema_version(),
            event,
            metadata: Metadata { actor_id: Uuid::from_u128(1), ..Metadata::default() },
        };
        self.events.push(e.clone());
        e
    }

    fn item(&mut self, item: Uuid, group: Uuid) -> RecordedEvent {
        let created = ItemCreated {
            item_id: item,
            board_id: self.board,
            group_id: group,
            name: "i".into(),
            description: None,
            item_data: Default::default(),
            rank: format!("V!{item}"),
        };
        self.record(StreamId::item(item), 1, DomainEvent::ItemCreated(created))
    }
}

/// A workspace and a board, recorded; the board's group.
fn board(log: &mut Log) -> (Vec<RecordedEvent>, Uuid) {
    let (workspace, board, group) = (log.workspace, log.board, Uuid::now_v7());
    let owner = Uuid::from_u128(1);
    let ws = log.record(StreamId::workspace(workspace), 1, DomainEvent::WorkspaceCreated(WorkspaceCreated { workspace_id: workspace, name: "w".into(), owner_id: owner }));
    let mut n = 0u128;
    let columns = default_columns(&mut || {
        n += 1;
        Uuid::from_u128(n)
    });
    let created = BoardCreated { board_id: board, workspace_id: workspace, name: "b".into(), description: None, columns, groups: vec![Group { id: group, title: "Main".into(), color: None }], owner_id: owner };
    let b = log.record(StreamId::board(board), 1, DomainEvent::BoardCreated(created));
    (vec![ws, b], group)
}

async fn read_models(pool: &PgPool) -> PgPool {
    let rm = schema::pool(pool.connect_options().as_ref().clone(), schema::LIVE, 2).await.unwrap_or_else(|e| panic!("{e}"));
    schema::create(&rm, schema::LIVE).await.unwrap_or_else(|e| panic!("{e}"));
    rm
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn an_event_that_changes_nothing_fails_its_batch(pool: PgPool) {
    let rm = read_models(&pool).await;
    let mut log = Log { events: Vec::new(), workspace: Uuid::now_v7(), board: Uuid::now_v7() };
    let (created, group) = board(&mut log);
    let (one, two, comment) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let items = [log.item(one, group), log.item(two, group)];
    let first = log.record(StreamId::item(one), 2, DomainEvent::CommentAdded(CommentAdded { item_id: one, comment_id: comment, body: "a".into() }));
    let setup = [created, items.to_vec(), vec![first]].concat();
    let at = apply_batch(&rm, 0, &setup).await.unwrap_or_else(|e| panic!("{e}")).position;
    let before = sunday_projector::unapplied_events();

    // A comment id the read model has already (on another item), and an
    // update of an item it never heard of: each fails its batch alone.
    let reused = log.record(StreamId::item(two), 2, DomainEvent::CommentAdded(CommentAdded { item_id: two, comment_id: comment, body: "b".into() }));
    let ghost = Uuid::now_v7();
    let unknown = log.record(StreamId::item(ghost), 2, DomainEvent::ItemUpdated(ItemUpdated { item_id: ghost, name: Some("x".into()), description: None, item_data: Default::default() }));
    for bad in [reused, unknown] {
        let result = apply_batch(&rm, at, std::slice::from_ref(&bad)).await;
        assert!(matches!(&result, Err(ProjectorError::Unapplied { position, .. }) if *position == bad.position), "{result:?}");
        assert_eq!(checkpoint(&rm).await.unwrap_or_default(), at, "the checkpoint did not move past the event");
    }
    assert_eq!(sunday_projector::unapplied_events(), before + 2, "each refusal is counted");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn activity_lands_in_its_utc_month_on_a_server_in_another_time_zone(pool: PgPool) {
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&pool).await.unwrap_or_default();
    sqlx::query(&format!("ALTER DATABASE \"{name}\" SET timezone TO 'America/New_York'")).execute(&pool).await.unwrap_or_else(|e| panic!("{e}"));
    // Sessions opened from now on default to New York time; Sunday's pin UTC.
    let rm = read_models(&pool).await;
    let zone: String = sqlx::query_scalar("SHOW timezone").fetch_one(&rm).await.unwrap_or_default();
    assert_eq!(zone, "UTC");
    let mut log = Log { events: Vec::new(), workspace: Uuid::now_v7(), board: Uuid::now_v7() };
    let (created, group) = board(&mut log);
    let at = apply_batch(&rm, 0, &created).await.unwrap_or_else(|e| panic!("{e}")).position;
    // 02:00 UTC on 1 February is still January in New York; then a January event.
    let feb = chrono::DateTime::parse_from_rfc3339("2026-02-01T02:00:00Z").unwrap_or_default().to_utc();
    let jan = chrono::DateTime::parse_from_rfc3339("2026-01-31T12:00:00Z").unwrap_or_default().to_utc();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let mut item_at = |item: Uuid, when| {
        let e = log.item(item, group);
        let DomainEvent::ItemCreated(c) = e.event else { unreachable!() };
        log.events.pop();
        log.record_at(StreamId::item(item), 1, DomainEvent::ItemCreated(c), when)
    };
    let february = item_at(a, feb);
    let january = item_at(b, jan);
    let at = apply_batch(&rm, at, &[february]).await.unwrap_or_else(|e| panic!("{e}")).position;
    apply_batch(&rm, at, &[january]).await.unwrap_or_else(|e| panic!("the January partition could not be made: {e}"));
    let homes: Vec<(String, String)> = sqlx::query_as("SELECT entity_id::text, tableoid::regclass::text FROM rm_activity_log WHERE entity_id = ANY($1) ORDER BY created_at")
        .bind(vec![a, b])
        .fetch_all(&rm)
        .await
        .unwrap_or_default();
    let tables: Vec<&str> = homes.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(tables, ["rm_activity_log_2026_01", "rm_activity_log_2026_02"], "{homes:?}");
}
