//! What an event is about, answered once beside the events for every reader:
//! its subject (for activity), the item it belongs to (for folding onto a
//! board), the sub-entities it creates under client-chosen ids (unique
//! store-wide, so the store refuses a reuse), and what it changes about who
//! may read a board (for the gateway's access).

use uuid::Uuid;

use crate::events::DomainEvent;
use crate::roles::BoardRole;

/// The kinds of things events are about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    Workspace,
    Board,
    Column,
    Group,
    Member,
    Item,
    Comment,
    File,
    User,
    Webhook,
}

impl Entity {
    /// The name activity entries carry (`entityType`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Workspace => "workspace",
            Self::Board => "board",
            Self::Column => "column",
            Self::Group => "group",
            Self::Member => "member",
            Self::Item => "item",
            Self::Comment => "comment",
            Self::File => "file",
            Self::User => "user",
            Self::Webhook => "webhook",
        }
    }
}

/// A change to who is a member of a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardMembership {
    /// The user now has this role on the board.
    Set(Uuid, BoardRole),
    /// The user is no longer a member.
    Removed(Uuid),
}

impl DomainEvent {
    /// What the event is about: the kind of thing and its id.
    pub fn subject(&self) -> (Entity, Uuid) {
        use DomainEvent as E;
        match self {
            E::WorkspaceCreated(c) => (Entity::Workspace, c.workspace_id),
            E::WorkspaceRenamed(r) => (Entity::Workspace, r.workspace_id),
            E::WorkspaceMemberAdded(m) => (Entity::Member, m.user_id),
            E::WorkspaceMemberRemoved(m) | E::BoardMemberRemoved(m) => (Entity::Member, m.user_id),
            E::BoardCreated(c) => (Entity::Board, c.board_id),
            E::BoardUpdated(u) => (Entity::Board, u.board_id),
            E::BoardArchived(a) => (Entity::Board, a.board_id),
            E::ColumnAdded(a) => (Entity::Column, a.column.id),
            E::ColumnUpdated(u) => (Entity::Column, u.column_id),
            E::ColumnRemoved(r) => (Entity::Column, r.column_id),
            E::GroupAdded(g) => (Entity::Group, g.group.id),
            E::BoardMemberAdded(m) | E::BoardMemberRoleChanged(m) => (Entity::Member, m.user_id),
            E::CommentAdded(c) => (Entity::Comment, c.comment_id),
            E::FileAttached(f) => (Entity::File, f.file_id),
            E::UserProfileUpdated(p) => (Entity::User, p.user_id),
            E::ItemCreated(x) => (Entity::Item, x.item_id),
            E::ItemUpdated(x) => (Entity::Item, x.item_id),
            E::ItemMoved(x) => (Entity::Item, x.item_id),
            E::ItemAssigned(x) | E::ItemUnassigned(x) => (Entity::Item, x.item_id),
            E::ItemDeleted(x) => (Entity::Item, x.item_id),
            E::WebhookCreated(w) => (Entity::Webhook, w.webhook_id),
            E::WebhookUpdated(w) => (Entity::Webhook, w.webhook_id),
            E::WebhookSecretRotated(w) => (Entity::Webhook, w.webhook_id),
            E::WebhookDeleted(w) => (Entity::Webhook, w.webhook_id),
            E::WebhookDisabled(w) => (Entity::Webhook, w.webhook_id),
        }
    }

    /// The item the event belongs to: the item events and what is added
    /// to an item (comments, files).
    pub fn item_id(&self) -> Option<Uuid> {
        use DomainEvent as E;
        Some(match self {
            E::ItemCreated(x) => x.item_id,
            E::ItemUpdated(x) => x.item_id,
            E::ItemMoved(x) => x.item_id,
            E::ItemAssigned(x) | E::ItemUnassigned(x) => x.item_id,
            E::ItemDeleted(x) => x.item_id,
            E::CommentAdded(x) => x.item_id,
            E::FileAttached(x) => x.item_id,
            _ => return None,
        })
    }

    /// The ids of the sub-entities (columns, groups, comments, files) the
    /// event creates. They are unique across the whole store, like stream ids:
    /// the store refuses an append that would reuse one.
    pub fn created_entities(&self) -> Vec<Uuid> {
        match self {
            Self::BoardCreated(c) => c.columns.iter().map(|col| col.id).chain(c.groups.iter().map(|g| g.id)).collect(),
            Self::ColumnAdded(a) => vec![a.column.id],
            Self::GroupAdded(g) => vec![g.group.id],
            Self::CommentAdded(c) => vec![c.comment_id],
            Self::FileAttached(f) => vec![f.file_id],
            _ => Vec::new(),
        }
    }

    /// The one sub-entity the event adds to an existing board or item (a
    /// column, a group, a comment, a file), whose id a command's answer
    /// carries as `entityId`.
    pub fn added_entity(&self) -> Option<Uuid> {
        match self {
            Self::BoardCreated(_) => None,
            other => other.created_entities().first().copied(),
        }
    }

    /// What the event changes about who may read its board.
    pub fn board_membership(&self) -> Option<BoardMembership> {
        match self {
            DomainEvent::BoardCreated(c) => Some(BoardMembership::Set(c.owner_id, BoardRole::Owner)),
            DomainEvent::BoardMemberAdded(m) | DomainEvent::BoardMemberRoleChanged(m) => Some(BoardMembership::Set(m.user_id, m.role)),
            DomainEvent::BoardMemberRemoved(m) => Some(BoardMembership::Removed(m.user_id)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::*;

    #[test]
    fn an_item_event_is_about_its_item_and_a_comment_is_about_itself_but_belongs_to_its_item() {
        let (item, comment) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let deleted = DomainEvent::ItemDeleted(ItemDeleted { item_id: item });
        assert_eq!((deleted.subject(), deleted.item_id(), deleted.added_entity()), ((Entity::Item, item), Some(item), None));
        let added = DomainEvent::CommentAdded(CommentAdded { item_id: item, comment_id: comment, body: "b".into() });
        assert_eq!((added.subject(), added.item_id(), added.added_entity()), ((Entity::Comment, comment), Some(item), Some(comment)));
    }
}
