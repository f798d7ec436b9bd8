//! Aggregates tested as sentences (`harness`): given these events, when this
//! command, then this event (or this refusal). No database.

mod harness;

use std::collections::BTreeMap;

use harness::{BOARD, Given, WS, given, on_item};
use proptest::prelude::*;
use serde_json::{Value, json};
use sunday_domain::board;
use sunday_domain::board_commands::BoardCommand;
use sunday_domain::events::{ColumnRemoved, ItemDeleted, ItemUpdated, MemberRemoved};
use sunday_domain::item_commands::ItemCommand;
use sunday_domain::store::StreamId;
use sunday_domain::workspace::WorkspaceCommand;
use sunday_domain::{Decision, DomainError, DomainEvent};
use uuid::Uuid;

const OWNER: Uuid = Uuid::from_u128(1);
const EDITOR: Uuid = Uuid::from_u128(2);
const VIEWER: Uuid = Uuid::from_u128(3);
const STRANGER: Uuid = Uuid::from_u128(4);
const ITEM: Uuid = Uuid::from_u128(9);

/// Given: a workspace with an editor and a viewer, and a board with the
/// default columns on which they are editor and viewer.
fn team() -> Given {
    let mut g = given([]).and_then(OWNER, WorkspaceCommand::Create { id: WS.to_string().into(), name: "Team".into() });
    for (user, role) in [(EDITOR, "member"), (VIEWER, "viewer")] {
        g = g.and_then(OWNER, WorkspaceCommand::AddMember { user_id: user.to_string(), role: role.into() });
    }
    let create = BoardCommand::Create {
        id: BOARD.to_string().into(),
        name: "Roadmap".into(),
        description: None,
        columns: None,
        groups: None,
        fallback_ids: (300..306).map(Uuid::from_u128).collect(),
    };
    g = g.and_then(OWNER, create);
    for (user, role) in [(EDITOR, "editor"), (VIEWER, "viewer")] {
        g = g.and_then(OWNER, BoardCommand::AddMember { user_id: user.to_string(), role: role.into() });
    }
    g
}

fn create_item(id: Uuid, name: &str, data: Value) -> ItemCommand {
    let item_data = data.as_object().map(|m| m.clone().into_iter().collect()).unwrap_or_default();
    ItemCommand::Create { id: id.to_string().into(), group_id: None, name: name.into(), description: None, item_data }
}

/// Given the team's board with one item on it, named `name` with `data`.
fn with_item(name: &str, data: Value) -> Given {
    team().and_then(OWNER, on_item(ITEM, create_item(ITEM, name, data)))
}

fn rename(name: &str) -> ItemCommand {
    ItemCommand::Update { name: Some(name.into()), description: None, item_data: BTreeMap::new() }
}

#[test]
fn an_editor_creates_an_item_in_the_first_group() {
    let first_group = team().board().map(|b| b.groups[0].id);
    team().when(EDITOR, on_item(ITEM, create_item(ITEM, "Task", json!({"status": "Done"})))).then_an_event(|e| {
        let DomainEvent::ItemCreated(c) = e else { panic!("not an ItemCreated: {e:?}") };
        assert_eq!((c.item_id, Some(c.group_id)), (ITEM, first_group));
        assert_eq!(c.item_data.get("status"), Some(&json!("Done")));
    });
}

#[test]
fn a_viewer_may_not_write_and_a_stranger_may_not_see() {
    let create = || on_item(ITEM, create_item(ITEM, "Task", json!({})));
    team().when(VIEWER, create()).then_refused_with(|e| matches!(e, DomainError::Forbidden(_)));
    team().when(STRANGER, create()).then_refused(DomainError::NotFound("board"));
}

#[test]
fn an_editor_renames_an_item() {
    let expected = ItemUpdated { item_id: ITEM, name: Some("Renamed".into()), description: None, item_data: BTreeMap::new() };
    with_item("Task", json!({})).when(EDITOR, on_item(ITEM, rename("Renamed"))).then(DomainEvent::ItemUpdated(expected));
}

#[test]
fn a_rename_to_the_same_name_changes_nothing() {
    with_item("Task", json!({})).when(EDITOR, on_item(ITEM, rename("Task"))).then_nothing();
}

#[test]
fn precedence_is_404_then_403_then_412_then_422() {
    let g = with_item("Task", json!({}));
    let bad = || on_item(ITEM, rename(""));
    g.when_expecting(STRANGER, 9, bad()).then_refused(DomainError::NotFound("item"));
    g.when_expecting(VIEWER, 9, bad()).then_refused_with(|e| matches!(e, DomainError::Forbidden(_)));
    g.when_expecting(EDITOR, 9, bad()).then_refused(DomainError::PreconditionFailed { expected: 9, actual: 1 });
    g.when(EDITOR, bad()).then_refused_with(|e| matches!(e, DomainError::Invalid(_)));
}

#[test]
fn a_deleted_item_is_gone() {
    let g = with_item("Task", json!({}));
    g.when(EDITOR, on_item(ITEM, ItemCommand::Delete)).then(DomainEvent::ItemDeleted(ItemDeleted { item_id: ITEM }));
    let g = g.and_then(EDITOR, on_item(ITEM, ItemCommand::Delete));
    g.when(EDITOR, on_item(ITEM, rename("Back"))).then_refused(DomainError::NotFound("item"));
}

#[test]
fn the_last_workspace_owner_cannot_leave() {
    team().when(OWNER, WorkspaceCommand::RemoveMember { user_id: OWNER }).then_refused_with(|e| matches!(e, DomainError::Invalid(_)));
}

#[test]
fn an_owner_removes_a_member_from_the_workspace() {
    let removed = MemberRemoved { scope_id: WS, user_id: VIEWER };
    team().when(OWNER, WorkspaceCommand::RemoveMember { user_id: VIEWER }).then(DomainEvent::WorkspaceMemberRemoved(removed));
}

#[test]
fn only_workspace_members_join_boards() {
    let add = BoardCommand::AddMember { user_id: STRANGER.to_string(), role: "editor".into() };
    team().when(OWNER, add).then_refused_with(|e| matches!(e, DomainError::Invalid(_)));
}

#[test]
fn removing_a_column_clears_its_values() {
    let g = with_item("T", json!({"estimatedHours": 2}));
    let column = g.board().and_then(|b| b.columns.iter().find(|c| c.key == "estimatedHours").map(|c| c.id)).unwrap_or_default();
    let remove = || BoardCommand::RemoveColumn { column_id: column };
    g.when(OWNER, remove()).then(DomainEvent::ColumnRemoved(ColumnRemoved { board_id: BOARD, column_id: column }));
    let after = g.and_then(OWNER, remove()).board().unwrap_or_else(|| panic!("no board"));
    assert!(after.items[&ITEM].item_data.is_empty());
}

#[test]
fn a_create_re_sent_replays_and_another_with_its_id_conflicts() {
    let g = with_item("Task", json!({}));
    let replayed = g.when(OWNER, on_item(ITEM, create_item(ITEM, "Task", json!({}))));
    assert!(matches!(replayed.0, Ok(Decision::Replay(_))), "{:?}", replayed.0);
    // The same id with another body: the fingerprint (here the test's "h")
    // is what tells them apart, so only another fingerprint conflicts.
    let other = sunday_domain::Ctx { actor: OWNER, if_match: None, command_hash: "other", legacy_hash: None };
    let board = g.board().unwrap_or_else(|| panic!("no board"));
    let ws = g.workspace().unwrap_or_else(|| panic!("no workspace"));
    let decided = sunday_domain::item_commands::decide(&ws, &board, board.items.get(&ITEM), &other, &create_item(ITEM, "Else", json!({})));
    assert!(matches!(decided, Err(DomainError::Conflict(_))), "{decided:?}");
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
        let mut g = team();
        let mut state = g.board().unwrap_or_else(|| panic!("no board"));
        for (code, cmd) in cmds {
            let actor = [OWNER, EDITOR, VIEWER][usize::from(code / 4) % 3];
            let target = match &cmd {
                ItemCommand::Create { id, .. } => id.uuid().unwrap_or_default(),
                _ => Uuid::from_u128(u128::from(code % 4) + 10),
            };
            let decided = g.when(actor, on_item(target, cmd.clone())).0;
            prop_assert_eq!(&decided, &g.when(actor, on_item(target, cmd)).0, "deciding is deterministic");
            if let Ok(Decision::Append(e)) = decided {
                g = g.and(StreamId::item(target), e);
                let recorded = g.events().last().unwrap_or_else(|| panic!("no event"));
                state = board::evolve(Some(state), recorded).unwrap_or_else(|| panic!("board vanished"));
            }
        }
        let rebuilt = g.board();
        prop_assert_eq!(rebuilt.as_ref(), Some(&state), "folding the history again gives the same board");
        let ranks: std::collections::HashSet<&str> = state.items.values().map(|i| i.rank.as_str()).collect();
        prop_assert_eq!(ranks.len(), state.items.len(), "ranks are unique on the board");
    }
}
