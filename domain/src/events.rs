//! Domain events: past-tense facts, versioned, serialised as `type` + `data`.
//!
//! Every event carries a `schemaVersion`. Old versions stay readable: `decode`
//! upcasts a stored payload to the current shape before deserialising it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::columns::Column;
use crate::roles::{BoardRole, WorkspaceRole};
pub use crate::webhook_events::*;

/// A group of items on a board.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: Uuid,
    pub title: String,
    pub color: Option<String>,
}

/// Every event of the domain. The variant name is the event `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
#[allow(clippy::large_enum_variant)]
pub enum DomainEvent {
    WorkspaceCreated(WorkspaceCreated),
    WorkspaceRenamed(WorkspaceRenamed),
    WorkspaceMemberAdded(WorkspaceMemberAdded),
    WorkspaceMemberRemoved(MemberRemoved),
    BoardCreated(BoardCreated),
    BoardUpdated(BoardUpdated),
    BoardArchived(BoardArchived),
    ColumnAdded(ColumnAdded),
    ColumnUpdated(ColumnUpdated),
    ColumnRemoved(ColumnRemoved),
    GroupAdded(GroupAdded),
    BoardMemberAdded(BoardMemberAdded),
    BoardMemberRoleChanged(BoardMemberAdded),
    BoardMemberRemoved(MemberRemoved),
    ItemCreated(ItemCreated),
    ItemUpdated(ItemUpdated),
    ItemMoved(ItemMoved),
    ItemAssigned(ItemAssignment),
    ItemUnassigned(ItemAssignment),
    ItemDeleted(ItemDeleted),
    CommentAdded(CommentAdded),
    FileAttached(FileAttached),
    UserProfileUpdated(UserProfileUpdated),
    WebhookCreated(WebhookCreated),
    WebhookUpdated(WebhookUpdated),
    WebhookSecretRotated(WebhookSecretRotated),
    WebhookDeleted(WebhookDeleted),
    WebhookDisabled(WebhookDisabled),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceCreated {
    pub workspace_id: Uuid,
    pub name: String,
    pub owner_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceRenamed {
    pub workspace_id: Uuid,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceMemberAdded {
    pub workspace_id: Uuid,
    pub user_id: Uuid,
    pub role: WorkspaceRole,
}

/// A user left a workspace or a board; `scope_id` is that workspace or board.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberRemoved {
    #[serde(alias = "workspaceId", alias = "boardId")]
    pub scope_id: Uuid,
    pub user_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoardCreated {
    pub board_id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub columns: Vec<Column>,
    pub groups: Vec<Group>,
    pub owner_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoardUpdated {
    pub board_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoardArchived {
    pub board_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnAdded {
    pub board_id: Uuid,
    pub column: Column,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnUpdated {
    pub board_id: Uuid,
    pub column_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnRemoved {
    pub board_id: Uuid,
    pub column_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupAdded {
    pub board_id: Uuid,
    pub group: Group,
}

/// A user joined a board, or (as `BoardMemberRoleChanged`) got another role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoardMemberAdded {
    pub board_id: Uuid,
    pub user_id: Uuid,
    pub role: BoardRole,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemCreated {
    pub item_id: Uuid,
    pub board_id: Uuid,
    pub group_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub item_data: BTreeMap<String, Value>,
    pub rank: String,
}

/// The changes an update made; `itemData` holds only the keys it changed, a
/// `null` value meaning the key was cleared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemUpdated {
    pub item_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub item_data: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemMoved {
    pub item_id: Uuid,
    pub group_id: Uuid,
    pub rank: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemAssignment {
    pub item_id: Uuid,
    pub user_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemDeleted {
    pub item_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentAdded {
    pub item_id: Uuid,
    pub comment_id: Uuid,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileAttached {
    pub item_id: Uuid,
    pub file_id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserProfileUpdated {
    pub user_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

/// A stored event could not be turned back into a `DomainEvent`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("event {event_type} has schema version {found}, newer than this build knows ({known})")]
    TooNew { event_type: String, found: u16, known: u16 },
    #[error("event {event_type} v{version} has a malformed payload: {source}")]
    Payload { event_type: String, version: u16, source: serde_json::Error },
}

impl DomainEvent {
    /// The event's type name, as stored and as sent to clients.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::WorkspaceCreated(_) => "WorkspaceCreated",
            Self::WorkspaceRenamed(_) => "WorkspaceRenamed",
            Self::WorkspaceMemberAdded(_) => "WorkspaceMemberAdded",
            Self::WorkspaceMemberRemoved(_) => "WorkspaceMemberRemoved",
            Self::BoardCreated(_) => "BoardCreated",
            Self::BoardUpdated(_) => "BoardUpdated",
            Self::BoardArchived(_) => "BoardArchived",
            Self::ColumnAdded(_) => "ColumnAdded",
            Self::ColumnUpdated(_) => "ColumnUpdated",
            Self::ColumnRemoved(_) => "ColumnRemoved",
            Self::GroupAdded(_) => "GroupAdded",
            Self::BoardMemberAdded(_) => "BoardMemberAdded",
            Self::BoardMemberRoleChanged(_) => "BoardMemberRoleChanged",
            Self::BoardMemberRemoved(_) => "BoardMemberRemoved",
            Self::ItemCreated(_) => "ItemCreated",
            Self::ItemUpdated(_) => "ItemUpdated",
            Self::ItemMoved(_) => "ItemMoved",
            Self::ItemAssigned(_) => "ItemAssigned",
            Self::ItemUnassigned(_) => "ItemUnassigned",
            Self::ItemDeleted(_) => "ItemDeleted",
            Self::CommentAdded(_) => "CommentAdded",
            Self::FileAttached(_) => "FileAttached",
            Self::UserProfileUpdated(_) => "UserProfileUpdated",
            Self::WebhookCreated(_) => "WebhookCreated",
            Self::WebhookUpdated(_) => "WebhookUpdated",
            Self::WebhookSecretRotated(_) => "WebhookSecretRotated",
            Self::WebhookDeleted(_) => "WebhookDeleted",
            Self::WebhookDisabled(_) => "WebhookDisabled",
        }
    }

    /// The schema version this build writes for the event's type.
    pub fn schema_version(&self) -> u16 {
        current_schema_version(self.event_type())
    }

    /// The payload as stored in `data`, with the names in `MemberRemoved` made
    /// specific to the scope (`workspaceId` or `boardId`).
    pub fn payload(&self) -> Value {
        let mut tagged = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut data = tagged.get_mut("data").map(Value::take).unwrap_or(Value::Null);
        if let (Self::WorkspaceMemberRemoved(_) | Self::BoardMemberRemoved(_), Some(obj)) = (self, data.as_object_mut()) {
            let scope = if matches!(self, Self::WorkspaceMemberRemoved(_)) { "workspaceId" } else { "boardId" };
            if let Some(id) = obj.remove("scopeId") {
                obj.insert(scope.into(), id);
            }
        }
        data
    }

    /// Rebuilds an event from its stored parts, upcasting older schema versions.
    pub fn decode(event_type: &str, schema_version: u16, data: Value) -> Result<Self, DecodeError> {
        let known = current_schema_version(event_type);
        if known == 0 {
            return Err(DecodeError::UnknownType(event_type.to_owned()));
        }
        if schema_version > known {
            return Err(DecodeError::TooNew { event_type: event_type.to_owned(), found: schema_version, known });
        }
        let data = upcast(event_type, schema_version, data);
        let tagged = serde_json::json!({ "type": event_type, "data": data });
        serde_json::from_value(tagged).map_err(|source| DecodeError::Payload {
            event_type: event_type.to_owned(),
            version: schema_version,
            source,
        })
    }
}

/// Whether `event_type` names an event of this build.
pub fn is_known_type(event_type: &str) -> bool {
    current_schema_version(event_type) > 0
}

/// The schema version of each event type; 0 for an unknown type.
fn current_schema_version(event_type: &str) -> u16 {
    match event_type {
        // v2 renamed `columnValues` to `itemData` and added `description`.
        "ItemCreated" => 2,
        "WorkspaceCreated"
        | "WorkspaceRenamed"
        | "WorkspaceMemberAdded"
        | "WorkspaceMemberRemoved"
        | "BoardCreated"
        | "BoardUpdated"
        | "BoardArchived"
        | "ColumnAdded"
        | "ColumnUpdated"
        | "ColumnRemoved"
        | "GroupAdded"
        | "BoardMemberAdded"
        | "BoardMemberRoleChanged"
        | "BoardMemberRemoved"
        | "ItemUpdated"
        | "ItemMoved"
        | "ItemAssigned"
        | "ItemUnassigned"
        | "ItemDeleted"
        | "CommentAdded"
        | "FileAttached"
        | "UserProfileUpdated"
        | "WebhookCreated"
        | "WebhookUpdated"
        | "WebhookSecretRotated"
        | "WebhookDeleted"
        | "WebhookDisabled" => 1,
        _ => 0,
    }
}

/// Rewrites an old payload into the current shape, one version step at a time.
fn upcast(event_type: &str, mut version: u16, mut data: Value) -> Value {
    while version < current_schema_version(event_type) {
        data = match (event_type, version) {
            ("ItemCreated", 1) => item_created_v1_to_v2(data),
            _ => data,
        };
        version += 1;
    }
    data
}

/// ItemCreated v1 stored the values as `columnValues` and had no description.
fn item_created_v1_to_v2(mut data: Value) -> Value {
    if let Some(obj) = data.as_object_mut() {
        let values = obj.remove("columnValues").unwrap_or_else(|| Value::Object(Map::new()));
        obj.insert("itemData".into(), values);
        obj.entry("description").or_insert(Value::Null);
    }
    data
}
