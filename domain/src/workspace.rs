//! The Workspace aggregate: a name and a set of members with roles.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::decision::{Ctx, Decision, NewId, Origin, replay_or_conflict};
use crate::error::{DomainError, Violations};
use crate::events::{DomainEvent, MemberRemoved, WorkspaceCreated, WorkspaceMemberAdded, WorkspaceRenamed};
use crate::roles::WorkspaceRole;
use crate::store::RecordedEvent;
use crate::text::{check_len, parse_uuid};

/// A workspace as its stream folds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub members: BTreeMap<Uuid, WorkspaceRole>,
    pub version: u64,
    pub position: i64,
    pub origin: Origin,
}

impl Workspace {
    /// The caller's role, if they are a member.
    pub fn role_of(&self, user: Uuid) -> Option<WorkspaceRole> {
        self.members.get(&user).copied()
    }

    fn owners(&self) -> usize {
        self.members.values().filter(|r| **r == WorkspaceRole::Owner).count()
    }
}

/// Commands on a workspace, as parsed from requests.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum WorkspaceCommand {
    Create { id: NewId, name: String },
    Rename { name: String },
    AddMember { user_id: String, role: String },
    RemoveMember { user_id: Uuid },
}

/// Folds one recorded event into the state.
pub fn evolve(state: Option<Workspace>, e: &RecordedEvent) -> Option<Workspace> {
    if let DomainEvent::WorkspaceCreated(c) = &e.event {
        let origin = Origin::of(e);
        let members = BTreeMap::from([(c.owner_id, WorkspaceRole::Owner)]);
        return Some(Workspace {
            id: c.workspace_id,
            name: c.name.clone(),
            members,
            version: e.stream_version,
            position: e.position,
            origin,
        });
    }
    let mut ws = state?;
    match &e.event {
        DomainEvent::WorkspaceRenamed(r) => ws.name.clone_from(&r.name),
        DomainEvent::WorkspaceMemberAdded(m) => {
            ws.members.insert(m.user_id, m.role);
        }
        DomainEvent::WorkspaceMemberRemoved(m) => {
            ws.members.remove(&m.user_id);
        }
        _ => {}
    }
    ws.version = e.stream_version;
    ws.position = e.position;
    Some(ws)
}

/// Decides a workspace command against the current state (`None`: no such workspace).
pub fn decide(state: Option<&Workspace>, ctx: &Ctx<'_>, cmd: &WorkspaceCommand) -> Result<Decision, DomainError> {
    if let WorkspaceCommand::Create { id, name } = cmd {
        return decide_create(state, ctx, &id.text(), name);
    }
    let ws = state.ok_or(DomainError::NotFound("workspace"))?;
    let role = ws.role_of(ctx.actor).ok_or(DomainError::NotFound("workspace"))?;
    if !role.is_manager() {
        return Err(DomainError::forbidden("only workspace owners and admins may change the workspace"));
    }
    ctx.check_if_match(ws.version)?;
    match cmd {
        WorkspaceCommand::Create { .. } => unreachable_create(),
        WorkspaceCommand::Rename { name } => rename(ws, name),
        WorkspaceCommand::AddMember { user_id, role: new_role } => add_member(ws, role, user_id, new_role),
        WorkspaceCommand::RemoveMember { user_id } => remove_member(ws, role, *user_id),
    }
}

fn unreachable_create() -> Result<Decision, DomainError> {
    Err(DomainError::Conflict("workspace already exists".into()))
}

fn decide_create(state: Option<&Workspace>, ctx: &Ctx<'_>, id: &str, name: &str) -> Result<Decision, DomainError> {
    if let Some(existing) = state {
        return replay_or_conflict(&existing.origin, ctx, "workspace");
    }
    let mut v = Violations::default();
    let id = parse_uuid(&mut v, "id", id);
    check_len(&mut v, "name", name, 1, 200);
    v.finish()?;
    let workspace_id = id.ok_or_else(|| DomainError::invalid("id", "must be a UUID"))?;
    Ok(Decision::Append(DomainEvent::WorkspaceCreated(WorkspaceCreated { workspace_id, name: name.to_owned(), owner_id: ctx.actor })))
}

fn rename(ws: &Workspace, name: &str) -> Result<Decision, DomainError> {
    let mut v = Violations::default();
    check_len(&mut v, "name", name, 1, 200);
    v.finish()?;
    if ws.name == name {
        return Ok(Decision::Unchanged);
    }
    Ok(Decision::Append(DomainEvent::WorkspaceRenamed(WorkspaceRenamed { workspace_id: ws.id, name: name.to_owned() })))
}

fn add_member(ws: &Workspace, actor_role: WorkspaceRole, user_id: &str, role: &str) -> Result<Decision, DomainError> {
    let mut v = Violations::default();
    let user = parse_uuid(&mut v, "userId", user_id);
    let new_role = WorkspaceRole::parse(role);
    if new_role.is_none() {
        v.push("role", "must be one of owner, admin, member, viewer");
    }
    v.finish()?;
    let (Some(user), Some(new_role)) = (user, new_role) else { return Ok(Decision::Unchanged) };
    let current = ws.role_of(user);
    let touches_owner = new_role == WorkspaceRole::Owner || current == Some(WorkspaceRole::Owner);
    if touches_owner && actor_role != WorkspaceRole::Owner {
        return Err(DomainError::forbidden("only workspace owners may grant or revoke the owner role"));
    }
    if current == Some(new_role) {
        return Ok(Decision::Unchanged);
    }
    if current == Some(WorkspaceRole::Owner) && ws.owners() == 1 {
        return Err(DomainError::invalid("role", "the workspace's last owner cannot be demoted"));
    }
    Ok(Decision::Append(DomainEvent::WorkspaceMemberAdded(WorkspaceMemberAdded { workspace_id: ws.id, user_id: user, role: new_role })))
}

fn remove_member(ws: &Workspace, actor_role: WorkspaceRole, user: Uuid) -> Result<Decision, DomainError> {
    let Some(current) = ws.role_of(user) else { return Ok(Decision::Unchanged) };
    if current == WorkspaceRole::Owner && actor_role != WorkspaceRole::Owner {
        return Err(DomainError::forbidden("only workspace owners may remove an owner"));
    }
    if current == WorkspaceRole::Owner && ws.owners() == 1 {
        return Err(DomainError::invalid("userId", "the workspace's last owner cannot be removed"));
    }
    Ok(Decision::Append(DomainEvent::WorkspaceMemberRemoved(MemberRemoved { scope_id: ws.id, user_id: user })))
}
