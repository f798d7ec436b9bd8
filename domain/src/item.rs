//! The Item aggregate: name, description, typed values, rank, assignees,
//! comments and files. Items are folded onto their board (`board::evolve`)
//! and decided against it (`item_commands`), since the board knows the columns, the
//! members and the neighbouring items' ranks. This module is the state and
//! how one event changes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use uuid::Uuid;

use crate::decision::Origin;
use crate::events::*;
use crate::store::RecordedEvent;

/// An item as its stream folds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub id: Uuid,
    pub board_id: Uuid,
    pub group_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub item_data: BTreeMap<String, Value>,
    pub rank: String,
    pub assignees: BTreeSet<Uuid>,
    pub deleted: bool,
    pub version: u64,
    pub position: i64,
    pub origin: Origin,
    /// Where each comment and file was created, for idempotent re-creates.
    pub entity_origins: HashMap<Uuid, Origin>,
}

impl Item {
    pub(crate) fn created(c: &ItemCreated, e: &RecordedEvent) -> Self {
        Self {
            id: c.item_id,
            board_id: c.board_id,
            group_id: c.group_id,
            name: c.name.clone(),
            description: c.description.clone(),
            item_data: c.item_data.clone(),
            rank: c.rank.clone(),
            assignees: BTreeSet::new(),
            deleted: false,
            version: e.stream_version,
            position: e.position,
            origin: Origin::of(e),
            entity_origins: HashMap::new(),
        }
    }

    /// Folds one event of the item's stream into it.
    pub(crate) fn apply(&mut self, e: &RecordedEvent) {
        match &e.event {
            DomainEvent::ItemUpdated(u) => {
                if let Some(n) = &u.name {
                    self.name.clone_from(n);
                }
                if let Some(d) = &u.description {
                    self.description = Some(d.clone());
                }
                merge_data(&mut self.item_data, &u.item_data);
            }
            DomainEvent::ItemMoved(m) => {
                self.group_id = m.group_id;
                self.rank.clone_from(&m.rank);
            }
            DomainEvent::ItemAssigned(a) => {
                self.assignees.insert(a.user_id);
            }
            DomainEvent::ItemUnassigned(a) => {
                self.assignees.remove(&a.user_id);
            }
            DomainEvent::ItemDeleted(_) => self.deleted = true,
            DomainEvent::CommentAdded(c) => {
                self.entity_origins.insert(c.comment_id, Origin::of(e));
            }
            DomainEvent::FileAttached(f) => {
                self.entity_origins.insert(f.file_id, Origin::of(e));
            }
            _ => {}
        }
        self.version = e.stream_version;
        self.position = e.position;
    }
}

/// Merges an update's values into an item's: `null` clears a key.
pub fn merge_data(data: &mut BTreeMap<String, Value>, changes: &BTreeMap<String, Value>) {
    for (k, v) in changes {
        if v.is_null() {
            data.remove(k);
        } else {
            data.insert(k.clone(), v.clone());
        }
    }
}
