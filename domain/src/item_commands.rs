//! The item's commands and how each is decided against the item's board.

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

use crate::board::Board;
use crate::board_commands::authorize;
use crate::columns::{check_item_data, type_errors};
use crate::decision::{Ctx, Decision, NewId, Origin, replay_or_conflict};
use crate::error::{DomainError, Violations};
use crate::events::*;
use crate::item::Item;
use crate::rank;
use crate::roles::Access;
use crate::text::{check_len, parse_uuid};
use crate::workspace::Workspace;

/// Commands on an item, as parsed from requests.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum ItemCommand {
    Create {
        id: NewId,
        group_id: Option<String>,
        name: String,
        description: Option<String>,
        item_data: BTreeMap<String, Value>,
    },
    Update {
        name: Option<String>,
        description: Option<String>,
        item_data: BTreeMap<String, Value>,
    },
    /// `after`: `None` = last of the group, `Some(None)` = first, `Some(Some(id))` = after that item.
    Move {
        group_id: Option<String>,
        after: Option<Option<String>>,
    },
    Assign {
        user_id: String,
    },
    Unassign {
        user_id: Uuid,
    },
    Delete,
    AddComment {
        id: NewId,
        body: String,
    },
    AttachFile {
        id: NewId,
        name: String,
        content_type: String,
        size: i64,
    },
}

/// Decides an item command. `item` is `None` for a create whose id is unused.
pub fn decide(ws: &Workspace, board: &Board, item: Option<&Item>, ctx: &Ctx<'_>, cmd: &ItemCommand) -> Result<Decision, DomainError> {
    let access = board.access(ws, ctx.actor);
    if access == Access::None {
        return Err(DomainError::NotFound(if matches!(cmd, ItemCommand::Create { .. }) { "board" } else { "item" }));
    }
    if let ItemCommand::Create { item_data, .. } = cmd {
        check_types(board, item_data)?;
        authorize(access, Access::Write)?;
        return decide_create(board, item, ctx, cmd);
    }
    let item = item.filter(|i| !i.deleted).ok_or(DomainError::NotFound("item"))?;
    if let ItemCommand::Update { item_data, .. } = cmd {
        check_types(board, item_data)?;
    }
    authorize(access, Access::Write)?;
    ctx.check_if_match(item.version)?;
    if board.archived {
        return Err(DomainError::invalid("boardId", "the board is archived"));
    }
    match cmd {
        ItemCommand::Update { name, description, item_data } => update(board, item, name, description, item_data),
        ItemCommand::Move { group_id, after } => move_item(board, item, group_id.as_deref(), after),
        ItemCommand::Assign { user_id } => assign(board, item, user_id),
        ItemCommand::Unassign { user_id } => Ok(unassign(item, *user_id)),
        ItemCommand::Delete => Ok(Decision::Append(DomainEvent::ItemDeleted(ItemDeleted { item_id: item.id }))),
        ItemCommand::AddComment { id, body } => add_comment(item, ctx, &id.text(), body),
        ItemCommand::AttachFile { id, name, content_type, size } => attach_file(item, ctx, &id.text(), name, content_type, *size),
        ItemCommand::Create { .. } => Err(DomainError::Conflict("item already exists".into())),
    }
}

/// A value of the wrong JSON type for its column is a 400, which comes before
/// 403 (the caller is known to see the board by now, so this reveals nothing).
fn check_types(board: &Board, data: &BTreeMap<String, Value>) -> Result<(), DomainError> {
    let errors = type_errors(&board.columns, data);
    if errors.is_empty() { Ok(()) } else { Err(DomainError::WrongType(errors)) }
}

fn decide_create(board: &Board, existing: Option<&Item>, ctx: &Ctx<'_>, cmd: &ItemCommand) -> Result<Decision, DomainError> {
    let ItemCommand::Create { id, group_id, name, description, item_data } = cmd else {
        return Err(DomainError::Conflict("not a create".into()));
    };
    if let Some(existing) = existing {
        return replay_or_conflict(&existing.origin, ctx, "item");
    }
    if board.archived {
        return Err(DomainError::invalid("boardId", "the board is archived"));
    }
    let mut v = Violations::default();
    let item_id = parse_uuid(&mut v, "id", &id.text());
    let group = match group_id {
        Some(g) => parse_group(&mut v, board, g),
        None => board.groups.first().map(|g| g.id),
    };
    check_len(&mut v, "name", name, 1, 500);
    if let Some(d) = description {
        check_len(&mut v, "description", d, 0, 10_000);
    }
    check_item_data(&mut v, &board.columns, item_data, &|u| board.is_member(u));
    v.finish()?;
    // `null` clears a key; in a create that means the key is absent.
    let item_data: BTreeMap<String, Value> = item_data.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    let (Some(item_id), Some(group_id)) = (item_id, group) else {
        return Err(DomainError::invalid("groupId", "the board has no group"));
    };
    let last = board.group_items(group_id).last().map(|i| rank::key_of(&i.rank).to_owned());
    let rank = rank::with_id(&rank::key_between(last.as_deref(), None), item_id);
    Ok(Decision::Append(DomainEvent::ItemCreated(ItemCreated {
        item_id,
        board_id: board.id,
        group_id,
        name: name.clone(),
        description: description.clone(),
        item_data,
        rank,
    })))
}

fn parse_group(v: &mut Violations, board: &Board, raw: &str) -> Option<Uuid> {
    let id = parse_uuid(v, "groupId", raw)?;
    if board.groups.iter().any(|g| g.id == id) {
        Some(id)
    } else {
        v.push("groupId", "no group of the board has this id");
        None
    }
}

fn update(
    board: &Board,
    item: &Item,
    name: &Option<String>,
    description: &Option<String>,
    data: &BTreeMap<String, Value>,
) -> Result<Decision, DomainError> {
    let mut v = Violations::default();
    if let Some(n) = name {
        check_len(&mut v, "name", n, 1, 500);
    }
    if let Some(d) = description {
        check_len(&mut v, "description", d, 0, 10_000);
    }
    check_item_data(&mut v, &board.columns, data, &|u| board.is_member(u));
    v.finish()?;
    let name = name.clone().filter(|n| *n != item.name);
    let description = description.clone().filter(|d| item.description.as_ref() != Some(d));
    let item_data: BTreeMap<String, Value> = data
        .iter()
        .filter(|(k, val)| item.item_data.get(*k).unwrap_or(&Value::Null) != *val)
        .map(|(k, val)| (k.clone(), val.clone()))
        .collect();
    if name.is_none() && description.is_none() && item_data.is_empty() {
        return Ok(Decision::Unchanged);
    }
    Ok(Decision::Append(DomainEvent::ItemUpdated(ItemUpdated { item_id: item.id, name, description, item_data })))
}

fn move_item(board: &Board, item: &Item, group_id: Option<&str>, after: &Option<Option<String>>) -> Result<Decision, DomainError> {
    let mut v = Violations::default();
    let group = match group_id {
        Some(g) => parse_group(&mut v, board, g),
        None => Some(item.group_id),
    };
    let after_id = match after {
        Some(Some(raw)) => parse_uuid(&mut v, "afterItemId", raw),
        _ => None,
    };
    v.finish()?;
    let Some(group) = group else { return Ok(Decision::Unchanged) };
    let others: Vec<&Item> = board.group_items(group).into_iter().filter(|i| i.id != item.id).collect();
    let at = match (after, after_id) {
        (None, _) => others.len(),
        (Some(None), _) => 0,
        (Some(Some(_)), Some(after_id)) => index_after(board, &others, after_id, group, item.id)?,
        (Some(Some(_)), None) => return Err(DomainError::invalid("afterItemId", "must be a UUID")),
    };
    let lo = at.checked_sub(1).map(|i| rank::key_of(&others[i].rank));
    let hi = others.get(at).map(|i| rank::key_of(&i.rank));
    let own = rank::key_of(&item.rank);
    let already_there = item.group_id == group && lo.is_none_or(|l| l < own) && hi.is_none_or(|h| own < h);
    if already_there {
        return Ok(Decision::Unchanged);
    }
    let rank = rank::with_id(&rank::key_between(lo, hi), item.id);
    Ok(Decision::Append(DomainEvent::ItemMoved(ItemMoved { item_id: item.id, group_id: group, rank })))
}

/// Where an item goes when placed after `after_id`, which must be another live
/// item of the target group.
fn index_after(board: &Board, others: &[&Item], after_id: Uuid, group: Uuid, moving: Uuid) -> Result<usize, DomainError> {
    if after_id == moving {
        return Err(DomainError::invalid("afterItemId", "an item cannot be placed after itself"));
    }
    if let Some(i) = others.iter().position(|o| o.id == after_id) {
        return Ok(i + 1);
    }
    let live_elsewhere = board.items.get(&after_id).is_some_and(|i| !i.deleted && i.group_id != group);
    let message = if live_elsewhere { "the item is in another group" } else { "no live item of the board has this id" };
    Err(DomainError::invalid("afterItemId", message))
}

fn assign(board: &Board, item: &Item, user_id: &str) -> Result<Decision, DomainError> {
    let mut v = Violations::default();
    let user = parse_uuid(&mut v, "userId", user_id);
    if user.is_some_and(|u| !board.is_member(u)) {
        v.push("userId", "only board members can be assigned");
    }
    v.finish()?;
    let Some(user) = user else { return Ok(Decision::Unchanged) };
    if item.assignees.contains(&user) {
        return Ok(Decision::Unchanged);
    }
    Ok(Decision::Append(DomainEvent::ItemAssigned(ItemAssignment { item_id: item.id, user_id: user })))
}

fn unassign(item: &Item, user: Uuid) -> Decision {
    if !item.assignees.contains(&user) {
        return Decision::Unchanged;
    }
    Decision::Append(DomainEvent::ItemUnassigned(ItemAssignment { item_id: item.id, user_id: user }))
}

/// A re-sent comment or file create with an id already used on this item.
fn existing_entity<'a>(item: &'a Item, id: &str) -> Option<&'a Origin> {
    Uuid::parse_str(id).ok().and_then(|id| item.entity_origins.get(&id))
}

fn add_comment(item: &Item, ctx: &Ctx<'_>, id: &str, body: &str) -> Result<Decision, DomainError> {
    if let Some(origin) = existing_entity(item, id) {
        return replay_or_conflict(origin, ctx, "comment");
    }
    let mut v = Violations::default();
    let comment_id = parse_uuid(&mut v, "id", id);
    check_len(&mut v, "body", body, 1, 10_000);
    v.finish()?;
    let comment_id = comment_id.ok_or_else(|| DomainError::invalid("id", "must be a UUID"))?;
    Ok(Decision::Append(DomainEvent::CommentAdded(CommentAdded { item_id: item.id, comment_id, body: body.to_owned() })))
}

/// The largest file size accepted, in bytes (JSON-safe integers).
const MAX_FILE_SIZE: i64 = (1 << 53) - 1;

fn attach_file(item: &Item, ctx: &Ctx<'_>, id: &str, name: &str, content_type: &str, size: i64) -> Result<Decision, DomainError> {
    if let Some(origin) = existing_entity(item, id) {
        return replay_or_conflict(origin, ctx, "file");
    }
    let mut v = Violations::default();
    let file_id = parse_uuid(&mut v, "id", id);
    check_len(&mut v, "name", name, 1, 255);
    let (kind, sub) = content_type.split_once('/').unwrap_or(("", ""));
    if kind.is_empty() || sub.is_empty() || content_type.chars().count() > 255 || content_type.contains(char::is_whitespace) {
        v.push("contentType", "must be a media type such as image/png");
    }
    if !(0..=MAX_FILE_SIZE).contains(&size) {
        v.push("size", "must be a byte count between 0 and 2^53-1");
    }
    v.finish()?;
    let file_id = file_id.ok_or_else(|| DomainError::invalid("id", "must be a UUID"))?;
    let size = u64::try_from(size).unwrap_or_default();
    Ok(Decision::Append(DomainEvent::FileAttached(FileAttached {
        item_id: item.id,
        file_id,
        name: name.to_owned(),
        content_type: content_type.to_owned(),
        size,
    })))
}
