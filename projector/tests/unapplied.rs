//! An acknowledged event is never dropped by the projector: an event whose
//! write changes nothing it was meant to (a row that is missing, or one that
//! is there already) fails its batch, leaves the checkpoint where it was and
//! is counted, instead of being skipped.

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
        let board = (!matches!(event, DomainEvent::WorkspaceCreated(_))).then_some(self.board);
        let e = RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: stream,
            stream_version: version,
            position: i64::try_from(self.events.len() + 1).unwrap_or_default() << 10,
            occurred_at: chrono::Utc::now(),
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

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn an_event_that_changes_nothing_fails_its_batch(pool: PgPool) {
    let rm = schema::pool(pool.connect_options().as_ref().clone(), schema::LIVE, 2).await.unwrap_or_else(|e| panic!("{e}"));
    schema::create(&rm, schema::LIVE).await.unwrap_or_else(|e| panic!("{e}"));
    let (workspace, board, group) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut log = Log { events: Vec::new(), workspace, board };
    let owner = Uuid::from_u128(1);
    let ws = log.record(StreamId::workspace(workspace), 1, DomainEvent::WorkspaceCreated(WorkspaceCreated { workspace_id: workspace, name: "w".into(), owner_id: owner }));
    let mut n = 0u128;
    let columns = default_columns(&mut || {
        n += 1;
        Uuid::from_u128(n)
    });
    let created = BoardCreated { board_id: board, workspace_id: workspace, name: "b".into(), description: None, columns, groups: vec![Group { id: group, title: "Main".into(), color: None }], owner_id: owner };
    let b = log.record(StreamId::board(board), 1, DomainEvent::BoardCreated(created));
    let (one, two, comment) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let items = [log.item(one, group), log.item(two, group)];
    let first = log.record(StreamId::item(one), 2, DomainEvent::CommentAdded(CommentAdded { item_id: one, comment_id: comment, body: "a".into() }));
    let setup = [vec![ws, b], items.to_vec(), vec![first]].concat();
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
