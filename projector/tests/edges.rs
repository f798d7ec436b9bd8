//! Edges of the projector: an acknowledged event is never dropped (an event
//! whose write changes nothing it was meant to, a row that is missing or one
//! that is there already, fails its batch, leaves the checkpoint where it was
//! and is counted, instead of being skipped), activity lands in the
//! month partition of its UTC month whatever the server's time zone, a
//! rebuild's swap gives way to readers, and statistics counters that reach
//! zero leave.

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
    let ws = log.record(
        StreamId::workspace(workspace),
        1,
        DomainEvent::WorkspaceCreated(WorkspaceCreated { workspace_id: workspace, name: "w".into(), owner_id: owner }),
    );
    let mut n = 0u128;
    let columns = default_columns(&mut || {
        n += 1;
        Uuid::from_u128(n)
    });
    let created = BoardCreated {
        board_id: board,
        workspace_id: workspace,
        name: "b".into(),
        description: None,
        columns,
        groups: vec![Group { id: group, title: "Main".into(), color: None }],
        owner_id: owner,
    };
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
    let first =
        log.record(StreamId::item(one), 2, DomainEvent::CommentAdded(CommentAdded { item_id: one, comment_id: comment, body: "a".into() }));
    let setup = [created, items.to_vec(), vec![first]].concat();
    let at = apply_batch(&rm, 0, &setup).await.unwrap_or_else(|e| panic!("{e}")).position;
    let before = sunday_projector::unapplied_events();

    // A comment id the read model has already (on another item), and an
    // update of an item it never heard of: each fails its batch alone.
    let reused =
        log.record(StreamId::item(two), 2, DomainEvent::CommentAdded(CommentAdded { item_id: two, comment_id: comment, body: "b".into() }));
    let ghost = Uuid::now_v7();
    let unknown = log.record(
        StreamId::item(ghost),
        2,
        DomainEvent::ItemUpdated(ItemUpdated { item_id: ghost, name: Some("x".into()), description: None, item_data: Default::default() }),
    );
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
    sqlx::query(&format!("ALTER DATABASE \"{name}\" SET timezone TO 'America/New_York'"))
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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
    let homes: Vec<(String, String)> = sqlx::query_as(
        "SELECT entity_id::text, tableoid::regclass::text FROM rm_activity_log WHERE entity_id = ANY($1) ORDER BY created_at",
    )
    .bind(vec![a, b])
    .fetch_all(&rm)
    .await
    .unwrap_or_default();
    let tables: Vec<&str> = homes.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(tables, ["rm_activity_log_2026_01", "rm_activity_log_2026_02"], "{homes:?}");
}

/// The event store over a wide pool on the test's database.
async fn store_for(pool: &PgPool) -> sunday_eventstore::PgEventStore {
    let options = pool.connect_options().as_ref().clone();
    let wide = sqlx::postgres::PgPoolOptions::new().max_connections(12).connect_with(options).await;
    sunday_eventstore::PgEventStore::new(wide.unwrap_or_else(|e| panic!("{e}")))
}

/// Renames of one workspace, appended while a test runs; how many.
async fn keep_renaming(store: sunday_eventstore::PgEventStore, workspace: Uuid, stop: tokio::sync::watch::Receiver<bool>) -> usize {
    use sunday_domain::store::{AppendRequest, EventStore, ExpectedVersion, NewEvent};
    let stream = StreamId::workspace(workspace);
    let mut n = 0;
    while !*stop.borrow() {
        let event = NewEvent {
            event_id: Uuid::now_v7(),
            event: DomainEvent::WorkspaceRenamed(WorkspaceRenamed { workspace_id: workspace, name: format!("name {n}") }),
            occurred_at: chrono::Utc::now(),
            workspace_id: Some(workspace),
            board_id: None,
            metadata: Metadata { actor_id: Uuid::from_u128(1), ..Metadata::default() },
        };
        if store.append(AppendRequest::new(&stream, ExpectedVersion::Any, vec![event])).await.is_ok() {
            n += 1;
        }
    }
    n
}

/// A workspace created through the store, for renames to apply to.
async fn workspace(store: &sunday_eventstore::PgEventStore) -> Uuid {
    use sunday_domain::store::{AppendRequest, EventStore, ExpectedVersion, NewEvent};
    let id = Uuid::now_v7();
    let created = DomainEvent::WorkspaceCreated(WorkspaceCreated { workspace_id: id, name: "w".into(), owner_id: Uuid::from_u128(1) });
    let event = NewEvent {
        event_id: Uuid::now_v7(),
        event: created,
        occurred_at: chrono::Utc::now(),
        workspace_id: Some(id),
        board_id: None,
        metadata: Metadata::default(),
    };
    store
        .append(AppendRequest::new(&StreamId::workspace(id), ExpectedVersion::NoStream, vec![event]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    id
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn rebuilds_take_turns_and_the_read_models_never_go_back_in_time(pool: PgPool) {
    let store = store_for(&pool).await;
    let base = pool.connect_options().as_ref().clone();
    sunday_projector::prepare(&store, base.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let ws = workspace(&store).await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let tasks = sunday_runtime::Tasks::new();
    let live = schema::writer_pool(base.clone(), 3).await.unwrap_or_else(|e| panic!("{e}"));
    let projector = sunday_projector::Projector { store: store.clone(), pool: live, config: Default::default(), feed: Default::default() };
    let projecting = sunday_projector::spawn(&tasks, projector, stop.clone());
    let writer = tokio::spawn(keep_renaming(store.clone(), ws, stop.clone()));
    // Someone watches the live checkpoint all along.
    let watch_pool = pool.clone();
    let mut watch_stop = stop.clone();
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let at: Option<i64> = sqlx::query_scalar("SELECT position FROM rm.projection_checkpoints WHERE name = 'read_models'")
                .fetch_optional(&watch_pool)
                .await
                .unwrap_or(None);
            seen.extend(at);
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_millis(2)) => {}
                _ = watch_stop.changed() => return seen,
            }
        }
    });
    let (first, second) = (sunday_projector::Progress::log(), sunday_projector::Progress::log());
    let (a, b) =
        tokio::join!(sunday_projector::rebuild(&store, base.clone(), &first), sunday_projector::rebuild(&store, base.clone(), &second));
    assert!(a.is_ok() && b.is_ok(), "both rebuilds succeed, one after the other: {a:?} {b:?}");
    let _ = stop_tx.send(true);
    let written = writer.await.unwrap_or_default();
    let seen = watcher.await.unwrap_or_default();
    let _ = projecting.await;
    assert!(written > 0 && seen.len() > 10, "writes went on during the rebuilds ({written}, {} looks)", seen.len());
    let back = seen.windows(2).find(|w| w[1] < w[0]);
    assert!(back.is_none(), "the live checkpoint went back from {:?}", back);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_leader_whose_lock_connection_dies_steps_down_and_is_elected_again(pool: PgPool) {
    let store = store_for(&pool).await;
    let base = pool.connect_options().as_ref().clone();
    sunday_projector::prepare(&store, base.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let tasks = sunday_runtime::Tasks::new();
    let live = schema::writer_pool(base.clone(), 3).await.unwrap_or_else(|e| panic!("{e}"));
    let projector = sunday_projector::Projector { store: store.clone(), pool: live, config: Default::default(), feed: Default::default() };
    sunday_projector::spawn(&tasks, projector, stop);
    let leading = || tasks.report().iter().any(|t| t.name == "projector" && t.leading == Some(true));
    for _ in 0..100 {
        if leading() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(leading(), "elected");
    // The lock's connection dies (a network blip, an administrator).
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid = x'53554e44'::int AND objid = x'41590001'::int",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(0);
    assert_eq!(killed, 1, "the leader's lock connection was found");
    let mut restarted = false;
    for _ in 0..100 {
        if tasks.report().iter().any(|t| t.name == "projector" && t.restarts >= 1) && leading() {
            restarted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(restarted, "the projector noticed, stepped down and was elected again: {:?}", tasks.report());
    let ws = workspace(&store).await;
    let projected = async {
        loop {
            let found: Option<String> = sqlx::query_scalar("SELECT name FROM rm.rm_workspaces WHERE workspace_id = $1")
                .bind(ws)
                .fetch_optional(&pool)
                .await
                .unwrap_or(None);
            if found.is_some() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    assert!(tokio::time::timeout(std::time::Duration::from_secs(10), projected).await.is_ok(), "it projects again");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_swap_gives_way_to_a_reader_whose_locks_cross_it(pool: PgPool) {
    let store = store_for(&pool).await;
    let base = pool.connect_options().as_ref().clone();
    sunday_projector::prepare(&store, base.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    workspace(&store).await;
    // A reader holds the items table, then (below) asks for the checkpoint:
    // the opposite order to the swap's, which takes the checkpoint first.
    let mut reader = pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("SELECT count(*) FROM rm.rm_items").execute(&mut *reader).await.unwrap_or_else(|e| panic!("{e}"));
    let rebuild = tokio::spawn(async move {
        sunday_projector::rebuild(&store, base, &sunday_projector::Progress::log()).await.map_err(|e| e.to_string())
    });
    let mut waiting = 0i64;
    for _ in 0..500 {
        waiting = sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").fetch_one(&pool).await.unwrap_or(0);
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(waiting > 0, "the swap waits for the reader's table");
    let read: Result<Option<i64>, _> =
        sqlx::query_scalar("SELECT position FROM rm.projection_checkpoints").fetch_optional(&mut *reader).await;
    assert!(read.is_ok(), "the reader is not the victim of a deadlock: {read:?}");
    reader.commit().await.unwrap_or_else(|e| panic!("{e}"));
    let swapped = rebuild.await.unwrap_or_else(|e| Err(e.to_string()));
    assert!(swapped.is_ok(), "the swap tried again once the reader was done: {swapped:?}");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn statistics_drop_a_status_or_an_assignee_whose_count_reaches_zero(pool: PgPool) {
    let rm = read_models(&pool).await;
    let mut log = Log { events: Vec::new(), workspace: Uuid::now_v7(), board: Uuid::now_v7() };
    let (created, group) = board(&mut log);
    let (item, mate) = (Uuid::now_v7(), Uuid::from_u128(7));
    let update = |name: Option<&str>, status: Option<&str>| {
        let item_data = status.map(|s| ("status".to_owned(), serde_json::json!(s))).into_iter().collect();
        DomainEvent::ItemUpdated(ItemUpdated { item_id: item, name: name.map(str::to_owned), description: None, item_data })
    };
    let events = vec![
        log.item(item, group),
        log.record(StreamId::item(item), 2, update(None, Some("Done"))),
        log.record(StreamId::item(item), 3, DomainEvent::ItemAssigned(ItemAssignment { item_id: item, user_id: mate })),
    ];
    let board_id = log.board;
    let stats = || async {
        let sql = format!("SELECT (by_status::text, by_assignee::text) FROM rm_board_stats WHERE board_id = '{board_id}'");
        sqlx::query_scalar::<_, (String, String)>(&sql).fetch_one(&rm).await.unwrap_or_else(|e| panic!("{e}"))
    };
    let mut at = apply_batch(&rm, 0, &[created, events].concat()).await.unwrap_or_else(|e| panic!("{e}")).position;
    let counted = (r#"{"Done": 1}"#.to_owned(), format!(r#"{{"{mate}": 1}}"#));
    assert_eq!(stats().await, counted);
    // A change that moves no counter leaves them as they are.
    let renamed = log.record(StreamId::item(item), 4, update(Some("n"), None));
    at = apply_batch(&rm, at, &[renamed]).await.unwrap_or_else(|e| panic!("{e}")).position;
    assert_eq!(stats().await, counted);
    // The last "Done" and the only assignment go: their counters leave.
    let moved = log.record(StreamId::item(item), 5, update(None, Some("To Do")));
    let unassigned = log.record(StreamId::item(item), 6, DomainEvent::ItemUnassigned(ItemAssignment { item_id: item, user_id: mate }));
    apply_batch(&rm, at, &[moved, unassigned]).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats().await, (r#"{"To Do": 1}"#.to_owned(), "{}".to_owned()));
}
