//! The board's commands and how each is decided against the folded board.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::board::Board;
use crate::columns::{self, Column, ColumnDraft};
use crate::decision::{Ctx, Decision, NewId, replay_or_conflict};
use crate::error::{DomainError, Violations};
use crate::events::*;
use crate::roles::{Access, BoardRole};
use crate::text::{check_len, parse_uuid};
use crate::workspace::Workspace;

/// The most columns a board has (a board's columns are read with every item).
pub const MAX_COLUMNS: usize = 200;
/// The most groups a board has.
pub const MAX_GROUPS: usize = 200;

/// A group as a command proposes it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct GroupDraft {
    pub id: Option<String>,
    pub title: String,
    pub color: Option<String>,
}

/// Commands on a board, as parsed from requests.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum BoardCommand {
    Create {
        id: NewId,
        name: String,
        description: Option<String>,
        /// `None`: the default columns.
        columns: Option<Vec<ColumnDraft>>,
        /// `None`: one group `Main`.
        groups: Option<Vec<GroupDraft>>,
        /// Server-chosen ids for columns and groups the client named none for.
        #[serde(skip)]
        fallback_ids: Vec<Uuid>,
    },
    Update {
        name: Option<String>,
        description: Option<String>,
    },
    Archive,
    AddColumn {
        column: ColumnDraft,
        #[serde(skip)]
        fallback_id: Uuid,
    },
    UpdateColumn {
        column_id: Uuid,
        title: Option<String>,
        settings: Option<Map<String, Value>>,
    },
    RemoveColumn {
        column_id: Uuid,
    },
    AddGroup {
        group: GroupDraft,
        #[serde(skip)]
        fallback_id: Uuid,
    },
    AddMember {
        user_id: String,
        role: String,
    },
    RemoveMember {
        user_id: Uuid,
    },
}

/// Decides a board command. `ws` is the board's workspace (for a create, the
/// workspace named in the command), `None` when it does not exist.
pub fn decide(ws: Option<&Workspace>, state: Option<&Board>, ctx: &Ctx<'_>, cmd: &BoardCommand) -> Result<Decision, DomainError> {
    let ws = ws.ok_or(DomainError::NotFound("workspace"))?;
    if let BoardCommand::Create { .. } = cmd {
        return decide_create(ws, state, ctx, cmd);
    }
    let board = state.ok_or(DomainError::NotFound("board"))?;
    let access = board.access(ws, ctx.actor);
    if access != Access::None
        && let BoardCommand::UpdateColumn { column_id, .. } | BoardCommand::RemoveColumn { column_id } = cmd
    {
        // The column is the resource the path names: unknown is 404, before 403.
        board.column(*column_id).ok_or(DomainError::NotFound("column"))?;
    }
    let needed = match cmd {
        BoardCommand::AddMember { .. } | BoardCommand::RemoveMember { .. } | BoardCommand::Archive => Access::Manage,
        _ => Access::Write,
    };
    authorize(access, needed)?;
    ctx.check_if_match(board.version)?;
    match cmd {
        BoardCommand::Archive => Ok(archive(board)),
        BoardCommand::AddMember { user_id, role } => add_member(ws, board, user_id, role),
        BoardCommand::RemoveMember { user_id } => remove_member(board, *user_id),
        _ if board.archived => Err(DomainError::invalid("boardId", "the board is archived")),
        BoardCommand::Update { name, description } => update(board, name.as_deref(), description.as_deref()),
        BoardCommand::AddColumn { column, fallback_id } => add_column(board, ctx, column, *fallback_id),
        BoardCommand::UpdateColumn { column_id, title, settings } => update_column_cmd(board, *column_id, title, settings),
        BoardCommand::RemoveColumn { column_id } => remove_column_cmd(board, *column_id),
        BoardCommand::AddGroup { group, fallback_id } => add_group(board, ctx, group, *fallback_id),
        BoardCommand::Create { .. } => Err(DomainError::Conflict("board already exists".into())),
    }
}

/// Maps an access level to 404 (may not see) or 403 (may see, may not do).
pub fn authorize(access: Access, needed: Access) -> Result<(), DomainError> {
    match access {
        Access::None => Err(DomainError::NotFound("board")),
        a if a < needed => Err(DomainError::forbidden(match needed {
            Access::Manage => "only board owners and workspace admins may do this",
            _ => "viewers may only read this board",
        })),
        _ => Ok(()),
    }
}

fn decide_create(ws: &Workspace, state: Option<&Board>, ctx: &Ctx<'_>, cmd: &BoardCommand) -> Result<Decision, DomainError> {
    let BoardCommand::Create { id, name, description, columns, groups, fallback_ids } = cmd else {
        return Err(DomainError::Conflict("not a create".into()));
    };
    let role = ws.role_of(ctx.actor).ok_or(DomainError::NotFound("workspace"))?;
    if !role.may_create_boards() {
        return Err(DomainError::forbidden("workspace viewers may not create boards"));
    }
    if let Some(existing) = state {
        return replay_or_conflict(&existing.origin, ctx, "board");
    }
    let mut v = Violations::default();
    let board_id = parse_uuid(&mut v, "id", &id.text());
    check_len(&mut v, "name", name, 1, 200);
    if let Some(d) = description {
        check_len(&mut v, "description", d, 0, 10_000);
    }
    let mut fallback = fallback_ids.iter().copied();
    let mut next_id = || fallback.next().unwrap_or_else(Uuid::nil);
    let columns = match columns {
        Some(drafts) => parse_columns(&mut v, drafts, &mut next_id),
        None => columns::default_columns(&mut next_id),
    };
    let groups = match groups {
        Some(drafts) => parse_groups(&mut v, drafts, &mut next_id),
        None => vec![Group { id: next_id(), title: "Main".into(), color: None }],
    };
    v.finish()?;
    let board_id = board_id.ok_or_else(|| DomainError::invalid("id", "must be a UUID"))?;
    Ok(Decision::Append(DomainEvent::BoardCreated(BoardCreated {
        board_id,
        workspace_id: ws.id,
        name: name.clone(),
        description: description.clone(),
        columns,
        groups,
        owner_id: ctx.actor,
    })))
}

fn parse_columns(v: &mut Violations, drafts: &[ColumnDraft], next_id: &mut dyn FnMut() -> Uuid) -> Vec<Column> {
    if drafts.len() > MAX_COLUMNS {
        v.push("columns", format!("a board has at most {MAX_COLUMNS} columns"));
    }
    let mut out: Vec<Column> = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let prefix = format!("columns[{i}]");
        if let Some(c) = columns::parse_column(v, &prefix, d, next_id()) {
            if out.iter().any(|o| o.key == c.key) {
                v.push(format!("{prefix}.key"), "keys must be unique on the board");
            } else if out.iter().any(|o| o.id == c.id) {
                v.push(format!("{prefix}.id"), "ids must be unique");
            }
            out.push(c);
        }
    }
    out
}

fn parse_groups(v: &mut Violations, drafts: &[GroupDraft], next_id: &mut dyn FnMut() -> Uuid) -> Vec<Group> {
    if drafts.is_empty() {
        v.push("groups", "a board needs at least one group");
    }
    if drafts.len() > MAX_GROUPS {
        v.push("groups", format!("a board has at most {MAX_GROUPS} groups"));
    }
    let mut out: Vec<Group> = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        if let Some(g) = parse_group(v, &format!("groups[{i}]."), d, next_id()) {
            if out.iter().any(|o| o.id == g.id) {
                v.push(format!("groups[{i}].id"), "ids must be unique");
            }
            out.push(g);
        }
    }
    out
}

fn parse_group(v: &mut Violations, prefix: &str, d: &GroupDraft, fallback: Uuid) -> Option<Group> {
    let id = match &d.id {
        Some(raw) => parse_uuid(v, &format!("{prefix}id"), raw),
        None => Some(fallback),
    };
    check_len(v, &format!("{prefix}title"), &d.title, 1, 200);
    if let Some(c) = &d.color {
        let hex = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
        if !hex {
            v.push(format!("{prefix}color"), "must be a colour written #RRGGBB");
        }
    }
    Some(Group { id: id?, title: d.title.clone(), color: d.color.clone() })
}

fn archive(board: &Board) -> Decision {
    if board.archived {
        return Decision::Unchanged;
    }
    Decision::Append(DomainEvent::BoardArchived(BoardArchived { board_id: board.id }))
}

fn update(board: &Board, name: Option<&str>, description: Option<&str>) -> Result<Decision, DomainError> {
    let mut v = Violations::default();
    if let Some(n) = name {
        check_len(&mut v, "name", n, 1, 200);
    }
    if let Some(d) = description {
        check_len(&mut v, "description", d, 0, 10_000);
    }
    v.finish()?;
    let name = name.filter(|n| *n != board.name).map(str::to_owned);
    let description = description.filter(|d| board.description.as_deref() != Some(*d)).map(str::to_owned);
    if name.is_none() && description.is_none() {
        return Ok(Decision::Unchanged);
    }
    Ok(Decision::Append(DomainEvent::BoardUpdated(BoardUpdated { board_id: board.id, name, description })))
}

fn add_column(board: &Board, ctx: &Ctx<'_>, draft: &ColumnDraft, fallback: Uuid) -> Result<Decision, DomainError> {
    let given = draft.id.as_deref().and_then(|s| Uuid::parse_str(s).ok());
    if let Some(id) = given.filter(|id| board.column(*id).is_some() || board.entity_origins.contains_key(id)) {
        return replay_or_conflict(board.entity_origins.get(&id).unwrap_or(&board.origin), ctx, "column");
    }
    let mut v = Violations::default();
    let column = columns::parse_column(&mut v, "", draft, fallback);
    if board.columns.iter().any(|c| c.key == draft.key) {
        v.push("key", "another column of the board has this key");
    }
    if board.columns.len() >= MAX_COLUMNS {
        v.push("key", format!("the board has {MAX_COLUMNS} columns already, the most it may"));
    }
    v.finish()?;
    let column = column.ok_or_else(|| DomainError::invalid("id", "must be a UUID"))?;
    Ok(Decision::Append(DomainEvent::ColumnAdded(ColumnAdded { board_id: board.id, column })))
}

fn update_column_cmd(
    board: &Board,
    column_id: Uuid,
    title: &Option<String>,
    settings: &Option<Map<String, Value>>,
) -> Result<Decision, DomainError> {
    let column = board.column(column_id).ok_or(DomainError::NotFound("column"))?;
    let mut v = Violations::default();
    if let Some(t) = title {
        check_len(&mut v, "title", t, 1, 200);
    }
    if let Some(s) = settings {
        columns::check_settings(&mut v, "", column.column_type, s);
    }
    v.finish()?;
    let title = title.clone().filter(|t| *t != column.title);
    let settings = settings.clone().filter(|s| *s != column.settings);
    if title.is_none() && settings.is_none() {
        return Ok(Decision::Unchanged);
    }
    Ok(Decision::Append(DomainEvent::ColumnUpdated(ColumnUpdated { board_id: board.id, column_id, title, settings })))
}

fn remove_column_cmd(board: &Board, column_id: Uuid) -> Result<Decision, DomainError> {
    board.column(column_id).ok_or(DomainError::NotFound("column"))?;
    Ok(Decision::Append(DomainEvent::ColumnRemoved(ColumnRemoved { board_id: board.id, column_id })))
}

fn add_group(board: &Board, ctx: &Ctx<'_>, draft: &GroupDraft, fallback: Uuid) -> Result<Decision, DomainError> {
    let given = draft.id.as_deref().and_then(|s| Uuid::parse_str(s).ok());
    if let Some(id) = given.filter(|id| board.groups.iter().any(|g| g.id == *id)) {
        return replay_or_conflict(board.entity_origins.get(&id).unwrap_or(&board.origin), ctx, "group");
    }
    let mut v = Violations::default();
    let group = parse_group(&mut v, "", draft, fallback);
    if board.groups.len() >= MAX_GROUPS {
        v.push("title", format!("the board has {MAX_GROUPS} groups already, the most it may"));
    }
    v.finish()?;
    let group = group.ok_or_else(|| DomainError::invalid("id", "must be a UUID"))?;
    Ok(Decision::Append(DomainEvent::GroupAdded(GroupAdded { board_id: board.id, group })))
}

fn add_member(ws: &Workspace, board: &Board, user_id: &str, role: &str) -> Result<Decision, DomainError> {
    let mut v = Violations::default();
    let user = parse_uuid(&mut v, "userId", user_id);
    let new_role = BoardRole::parse(role);
    if new_role.is_none() {
        v.push("role", "must be one of owner, editor, viewer");
    }
    if user.is_some_and(|u| ws.role_of(u).is_none()) {
        v.push("userId", "only members of the workspace can be added to its boards");
    }
    v.finish()?;
    let (Some(user), Some(role)) = (user, new_role) else { return Ok(Decision::Unchanged) };
    let member = BoardMemberAdded { board_id: board.id, user_id: user, role };
    match board.members.get(&user) {
        None => Ok(Decision::Append(DomainEvent::BoardMemberAdded(member))),
        Some(current) if *current == role => Ok(Decision::Unchanged),
        Some(BoardRole::Owner) if board.owners() == 1 => Err(DomainError::invalid("role", "the board's last owner cannot be demoted")),
        Some(_) => Ok(Decision::Append(DomainEvent::BoardMemberRoleChanged(member))),
    }
}

fn remove_member(board: &Board, user: Uuid) -> Result<Decision, DomainError> {
    match board.members.get(&user) {
        None => Ok(Decision::Unchanged),
        Some(BoardRole::Owner) if board.owners() == 1 => Err(DomainError::invalid("userId", "the board's last owner cannot be removed")),
        Some(_) => Ok(Decision::Append(DomainEvent::BoardMemberRemoved(MemberRemoved { scope_id: board.id, user_id: user }))),
    }
}
