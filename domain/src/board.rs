//! The Board aggregate: columns, groups and members, plus the items on the board.
//!
//! A board is folded from every event that belongs to it (its own stream and its
//! items' streams), because deciding an item command needs the board's columns,
//! members and the ranks of the neighbouring items. This module is the state
//! and its fold; `board_commands` decides the board's commands.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::columns::Column;
use crate::decision::Origin;
use crate::events::*;
use crate::item::Item;
use crate::roles::{Access, BoardRole, board_access};
use crate::store::RecordedEvent;
use crate::workspace::Workspace;

/// A board and its items as the log folds them.
#[derive(Clone, Debug, PartialEq)]
pub struct Board {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub archived: bool,
    pub columns: Vec<Column>,
    pub groups: Vec<Group>,
    pub members: BTreeMap<Uuid, BoardRole>,
    /// Version and position of the board's own stream.
    pub version: u64,
    pub position: i64,
    pub origin: Origin,
    /// Where each column and group was created, for idempotent re-creates.
    pub entity_origins: HashMap<Uuid, Origin>,
    pub items: HashMap<Uuid, Item>,
}

impl Board {
    /// What `user` may do here, given the workspace they belong to.
    pub fn access(&self, ws: &Workspace, user: Uuid) -> Access {
        board_access(ws.role_of(user), self.members.get(&user).copied())
    }

    /// Whether `user` is a member of the board (assignable, listable in `people`).
    pub fn is_member(&self, user: Uuid) -> bool {
        self.members.contains_key(&user)
    }

    pub fn column(&self, id: Uuid) -> Option<&Column> {
        self.columns.iter().find(|c| c.id == id)
    }

    pub(crate) fn owners(&self) -> usize {
        self.members.values().filter(|r| **r == BoardRole::Owner).count()
    }

    /// Live items of a group, in rank order.
    pub fn group_items(&self, group: Uuid) -> Vec<&Item> {
        let mut items: Vec<&Item> = self.items.values().filter(|i| !i.deleted && i.group_id == group).collect();
        items.sort_by(|a, b| a.rank.cmp(&b.rank));
        items
    }
}

/// Folds one recorded event (of the board or of one of its items) into the board.
pub fn evolve(state: Option<Board>, e: &RecordedEvent) -> Option<Board> {
    if let DomainEvent::BoardCreated(c) = &e.event {
        return Some(created(c, e));
    }
    let mut board = state?;
    if let Some(item) = e.event.item_id() {
        evolve_item(&mut board, item, e);
        return Some(board);
    }
    apply_board_event(&mut board, e);
    board.version = e.stream_version;
    board.position = e.position;
    Some(board)
}

fn created(c: &BoardCreated, e: &RecordedEvent) -> Board {
    Board {
        id: c.board_id,
        workspace_id: c.workspace_id,
        name: c.name.clone(),
        description: c.description.clone(),
        archived: false,
        columns: c.columns.clone(),
        groups: c.groups.clone(),
        members: BTreeMap::from([(c.owner_id, BoardRole::Owner)]),
        version: e.stream_version,
        position: e.position,
        origin: Origin::of(e),
        entity_origins: HashMap::new(),
        items: HashMap::new(),
    }
}

fn apply_board_event(board: &mut Board, e: &RecordedEvent) {
    match &e.event {
        DomainEvent::BoardUpdated(u) => {
            if let Some(n) = &u.name {
                board.name.clone_from(n);
            }
            if let Some(d) = &u.description {
                board.description = Some(d.clone());
            }
        }
        DomainEvent::BoardArchived(_) => board.archived = true,
        DomainEvent::ColumnAdded(a) => {
            board.entity_origins.insert(a.column.id, Origin::of(e));
            board.columns.push(a.column.clone());
        }
        DomainEvent::ColumnUpdated(u) => update_column(board, u),
        DomainEvent::ColumnRemoved(r) => remove_column(board, r.column_id),
        DomainEvent::GroupAdded(g) => {
            board.entity_origins.insert(g.group.id, Origin::of(e));
            board.groups.push(g.group.clone());
        }
        DomainEvent::BoardMemberAdded(m) | DomainEvent::BoardMemberRoleChanged(m) => {
            board.members.insert(m.user_id, m.role);
        }
        DomainEvent::BoardMemberRemoved(m) => {
            board.members.remove(&m.user_id);
        }
        _ => {}
    }
}

fn update_column(board: &mut Board, u: &ColumnUpdated) {
    if let Some(c) = board.columns.iter_mut().find(|c| c.id == u.column_id) {
        if let Some(t) = &u.title {
            c.title.clone_from(t);
        }
        if let Some(s) = &u.settings {
            c.settings.clone_from(s);
        }
    }
}

fn remove_column(board: &mut Board, column_id: Uuid) {
    let Some(at) = board.columns.iter().position(|c| c.id == column_id) else { return };
    let key = board.columns.remove(at).key;
    for item in board.items.values_mut() {
        item.item_data.remove(&key);
    }
}

/// Folds an item event into the board that holds the item.
fn evolve_item(board: &mut Board, id: Uuid, e: &RecordedEvent) {
    let item = if let DomainEvent::ItemCreated(c) = &e.event {
        board.items.entry(c.item_id).insert_entry(Item::created(c, e)).into_mut()
    } else {
        let Some(item) = board.items.get_mut(&id) else { return };
        item.apply(e);
        item
    };
    // Values of removed columns are gone, whichever order a late commit arrives in.
    item.item_data.retain(|k, _| board.columns.iter().any(|c| &c.key == k));
}
