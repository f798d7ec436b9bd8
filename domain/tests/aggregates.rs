//! Aggregates tested as sentences: given these events, when this command, then
//! these events (or this refusal). No database.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use sunday_domain::board::{self, Board};
use sunday_domain::board_commands::{self, BoardCommand};
use sunday_domain::item_commands::{self, ItemCommand};
use sunday_domain::store::{Metadata, RecordedEvent, StreamId};
use sunday_domain::workspace::{self, Workspace, WorkspaceCommand};
use sunday_domain::{Ctx, Decision, DomainError, DomainEvent};
use uuid::Uuid;

const OWNER: Uuid = Uuid::from_u128(1);
const EDITOR: Uuid = Uuid::from_u128(2);
const VIEWER: Uuid = Uuid::from_u128(3);
const STRANGER: Uuid = Uuid::from_u128(4);
const WS: Uuid = Uuid::from_u128(100);
const BOARD: Uuid = Uuid::from_u128(200);

fn ctx(actor: Uuid) -> Ctx<'static> {
    Ctx { actor, if_match: None, command_hash: "h", legacy_hash: None }
}

/// A log being written: records events with growing positions and versions.
#[derive(Default)]
struct Log {
    events: Vec<RecordedEvent>,
    versions: BTreeMap<String, u64>,
}

impl Log {
    fn record(&mut self, stream: StreamId, event: DomainEvent) -> RecordedEvent {
        let version = self.versions.entry(stream.as_str().to_owned()).or_default();
        *version += 1;
        let recorded = RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: stream,
            stream_version: *version,
            position: i64::try_from(self.events.len() + 1).unwrap_or_default() * 1024,
            occurred_at: chrono::Utc::now(),
            workspace_id: Some(WS),
            board_id: Some(BOARD),
            stored_schema_version: event.schema_version(),
            event,
            metadata: Metadata { actor_id: OWNER, command_hash: Some("h".into()), ..Metadata::default() },
        };
        self.events.push(recorded.clone());
        recorded
    }
}

fn appended(d: Result<Decision, DomainError>) -> DomainEvent {
    match d {
        Ok(Decision::Append(e)) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Given: a workspace with an editor and a viewer, and a board with the defaults.
fn given() -> (Log, Workspace, Board) {
    let mut log = Log::default();
    let mut ws = None;
    let create = WorkspaceCommand::Create { id: WS.to_string().into(), name: "Team".into() };
    let mut cmds = vec![(OWNER, create)];
    for (user, role) in [(EDITOR, "member"), (VIEWER, "viewer")] {
        cmds.push((OWNER, WorkspaceCommand::AddMember { user_id: user.to_string(), role: role.into() }));
    }
    for (actor, cmd) in cmds {
        let e = appended(workspace::decide(ws.as_ref(), &ctx(actor), &cmd));
        ws = workspace::evolve(ws, &log.record(StreamId::workspace(WS), e));
    }
    let ws = ws.unwrap_or_else(|| panic!("no workspace"));
    let mut b = None;
    let create = BoardCommand::Create {
        id: BOARD.to_string().into(),
        name: "Roadmap".into(),
        description: None,
        columns: None,
        groups: None,
        fallback_ids: (300..306).map(Uuid::from_u128).collect(),
    };
    let mut cmds = vec![create];
    for (user, role) in [(EDITOR, "editor"), (VIEWER, "viewer")] {
        cmds.push(BoardCommand::AddMember { user_id: user.to_string(), role: role.into() });
    }
    for cmd in cmds {
        let e = appended(board_commands::decide(Some(&ws), b.as_ref(), &ctx(OWNER), &cmd));
        b = board::evolve(b, &log.record(StreamId::board(BOARD), e));
    }
    (log, ws, b.unwrap_or_else(|| panic!("no board")))
}

fn create_item(id: Uuid, name: &str, data: Value) -> ItemCommand {
    let item_data = data.as_object().map(|m| m.clone().into_iter().collect()).unwrap_or_default();
    ItemCommand::Create { id: id.to_string().into(), group_id: None, name: name.into(), description: None, item_data }
}

#[test]
fn an_editor_creates_an_item_in_the_first_group() {
    let (_, ws, board) = given();
    let e = appended(item_commands::decide(
        &ws,
        &board,
        None,
        &ctx(EDITOR),
        &create_item(Uuid::from_u128(9), "Task", json!({"status": "Done"})),
    ));
    let DomainEvent::ItemCreated(c) = e else { panic!("wrong event") };
    assert_eq!(c.group_id, board.groups[0].id);
    assert_eq!(c.item_data.get("status"), Some(&json!("Done")));
}

#[test]
fn a_viewer_may_not_write_and_a_stranger_may_not_see() {
    let (_, ws, board) = given();
    let cmd = create_item(Uuid::from_u128(9), "Task", json!({}));
    assert!(matches!(item_commands::decide(&ws, &board, None, &ctx(VIEWER), &cmd), Err(DomainError::Forbidden(_))));
    assert_eq!(item_commands::decide(&ws, &board, None, &ctx(STRANGER), &cmd), Err(DomainError::NotFound("board")));
}

#[test]
fn precedence_is_404_then_403_then_412_then_422() {
    let (mut log, ws, mut board) = given();
    let id = Uuid::from_u128(9);
    let e = appended(item_commands::decide(&ws, &board, None, &ctx(OWNER), &create_item(id, "Task", json!({}))));
    board = board::evolve(Some(board), &log.record(StreamId::item(id), e)).unwrap_or_else(|| panic!());
    let bad = ItemCommand::Update { name: Some(String::new()), description: None, item_data: BTreeMap::new() };
    let item = board.items.get(&id);
    let stale = Ctx { if_match: Some(9), ..ctx(VIEWER) };
    assert!(matches!(item_commands::decide(&ws, &board, item, &stale, &bad), Err(DomainError::Forbidden(_))));
    let stale = Ctx { if_match: Some(9), ..ctx(EDITOR) };
    assert!(matches!(
        item_commands::decide(&ws, &board, item, &stale, &bad),
        Err(DomainError::PreconditionFailed { expected: 9, actual: 1 })
    ));
    assert!(matches!(item_commands::decide(&ws, &board, item, &ctx(EDITOR), &bad), Err(DomainError::Invalid(_))));
    assert_eq!(item_commands::decide(&ws, &board, item, &ctx(STRANGER), &bad), Err(DomainError::NotFound("item")));
}

#[test]
fn the_last_workspace_owner_cannot_leave() {
    let (_, ws, _) = given();
    let cmd = WorkspaceCommand::RemoveMember { user_id: OWNER };
    assert!(matches!(workspace::decide(Some(&ws), &ctx(OWNER), &cmd), Err(DomainError::Invalid(_))));
}

#[test]
fn only_workspace_members_join_boards() {
    let (_, ws, board) = given();
    let cmd = BoardCommand::AddMember { user_id: STRANGER.to_string(), role: "editor".into() };
    assert!(matches!(board_commands::decide(Some(&ws), Some(&board), &ctx(OWNER), &cmd), Err(DomainError::Invalid(_))));
}

#[test]
fn removing_a_column_clears_its_values() {
    let (mut log, ws, board) = given();
    let id = Uuid::from_u128(9);
    let e = appended(item_commands::decide(&ws, &board, None, &ctx(OWNER), &create_item(id, "T", json!({"estimatedHours": 2}))));
    let board = board::evolve(Some(board), &log.record(StreamId::item(id), e)).unwrap_or_else(|| panic!());
    let column = board.columns.iter().find(|c| c.key == "estimatedHours").map(|c| c.id).unwrap_or_default();
    let e = appended(board_commands::decide(Some(&ws), Some(&board), &ctx(OWNER), &BoardCommand::RemoveColumn { column_id: column }));
    let board = board::evolve(Some(board), &log.record(StreamId::board(BOARD), e)).unwrap_or_else(|| panic!());
    assert!(board.items[&id].item_data.is_empty());
}

/// Commands a property test draws: a mix of valid and invalid item commands.
fn arb_command() -> impl Strategy<Value = (u8, ItemCommand)> {
    let item = 0u8..4;
    let status = prop_oneof![Just(json!("To Do")), Just(json!("Done")), Just(json!("Bogus")), Just(json!(3)), Just(Value::Null)];
    let name = prop_oneof![Just(String::new()), "[a-z]{1,8}"];
    let actor = 0u8..3;
    prop_oneof![
        (item.clone(), name.clone()).prop_map(|(i, n)| (0, create_item(Uuid::from_u128(u128::from(i) + 10), &n, json!({})))),
        (item.clone(), status, name).prop_map(|(_, s, n)| {
            let mut data = BTreeMap::new();
            data.insert("status".to_owned(), s);
            (0, ItemCommand::Update { name: Some(n), description: None, item_data: data })
        }),
        (item.clone(), proptest::option::of(item.clone())).prop_map(|(_, after)| {
            let after = after.map(|a| Some(Uuid::from_u128(u128::from(a) + 10).to_string()));
            (0, ItemCommand::Move { group_id: None, after })
        }),
        actor.prop_map(|a| (a, ItemCommand::Assign { user_id: [OWNER, EDITOR, STRANGER][usize::from(a)].to_string() })),
        Just((0, ItemCommand::Delete)),
    ]
    .prop_flat_map(move |(actor, cmd)| (Just(actor), 0u8..4, Just(cmd)))
    .prop_map(|(actor, target, cmd)| (actor * 4 + target, cmd))
}

proptest! {
    /// Folding the decided events again from scratch rebuilds the same board, and
    /// a refused command leaves the state exactly as it was.
    #[test]
    fn replaying_decided_events_rebuilds_the_same_state(cmds in proptest::collection::vec(arb_command(), 1..60)) {
        let (mut log, ws, mut state) = given();
        for (code, cmd) in cmds {
            let actor = [OWNER, EDITOR, VIEWER][usize::from(code / 4) % 3];
            let target = Uuid::from_u128(u128::from(code % 4) + 10);
            let current = if let ItemCommand::Create { id, .. } = &cmd {
                id.uuid().and_then(|i| state.items.get(&i))
            } else {
                state.items.get(&target)
            };
            let decided = item_commands::decide(&ws, &state, current, &ctx(actor), &cmd);
            prop_assert_eq!(&decided, &item_commands::decide(&ws, &state, current, &ctx(actor), &cmd), "deciding is deterministic");
            if let Ok(Decision::Append(e)) = decided {
                let id = match &e { DomainEvent::ItemCreated(c) => c.item_id, _ => target };
                let recorded = log.record(StreamId::item(id), e);
                state = board::evolve(Some(state), &recorded).unwrap_or_else(|| panic!("board vanished"));
            }
        }
        let rebuilt = log.events.iter().fold(None, board::evolve);
        prop_assert_eq!(rebuilt.as_ref(), Some(&state));
        let ranks: std::collections::HashSet<&str> = state.items.values().map(|i| i.rank.as_str()).collect();
        prop_assert_eq!(ranks.len(), state.items.len(), "ranks are unique on the board");
    }
}
