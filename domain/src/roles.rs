//! Workspace and board roles, and what each may do.

use serde::{Deserialize, Serialize};

/// A member's role in a workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceRole {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl WorkspaceRole {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    /// Owners and admins may do anything in their workspace.
    pub fn is_manager(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// Everyone but viewers may create boards.
    pub fn may_create_boards(self) -> bool {
        !matches!(self, Self::Viewer)
    }
}

/// A member's role on a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BoardRole {
    Owner,
    Editor,
    Viewer,
}

impl BoardRole {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Self::Owner),
            "editor" => Some(Self::Editor),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }
}

/// What a caller may do with a board, all roles considered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// May not even know the board exists.
    None,
    /// May read the board and its items.
    Read,
    /// May write the board's content and its items.
    Write,
    /// May also manage members and archive the board.
    Manage,
}

/// Combines the caller's workspace role and board role into an access level.
/// Workspace owners and admins manage every board; anyone else needs to be a
/// member of both the workspace and the board.
pub fn board_access(workspace: Option<WorkspaceRole>, board: Option<BoardRole>) -> Access {
    match (workspace, board) {
        (None, _) => Access::None,
        (Some(ws), _) if ws.is_manager() => Access::Manage,
        (Some(_), None) => Access::None,
        (Some(_), Some(BoardRole::Owner)) => Access::Manage,
        (Some(_), Some(BoardRole::Editor)) => Access::Write,
        (Some(_), Some(BoardRole::Viewer)) => Access::Read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_managers_manage_every_board() {
        assert_eq!(board_access(Some(WorkspaceRole::Admin), None), Access::Manage);
        assert_eq!(board_access(Some(WorkspaceRole::Owner), Some(BoardRole::Viewer)), Access::Manage);
    }

    #[test]
    fn plain_members_need_a_board_role() {
        assert_eq!(board_access(Some(WorkspaceRole::Member), None), Access::None);
        assert_eq!(board_access(Some(WorkspaceRole::Member), Some(BoardRole::Editor)), Access::Write);
        assert_eq!(board_access(Some(WorkspaceRole::Viewer), Some(BoardRole::Viewer)), Access::Read);
        assert_eq!(board_access(Some(WorkspaceRole::Member), Some(BoardRole::Owner)), Access::Manage);
    }

    #[test]
    fn leaving_the_workspace_revokes_board_access() {
        assert_eq!(board_access(None, Some(BoardRole::Owner)), Access::None);
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in [WorkspaceRole::Owner, WorkspaceRole::Admin, WorkspaceRole::Member, WorkspaceRole::Viewer] {
            assert_eq!(WorkspaceRole::parse(r.as_str()), Some(r));
        }
        for r in [BoardRole::Owner, BoardRole::Editor, BoardRole::Viewer] {
            assert_eq!(BoardRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(BoardRole::parse("admin"), None);
    }
}
