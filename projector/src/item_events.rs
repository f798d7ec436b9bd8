//! How item events change the items (through the batch's `Items`) and, by
//! what each item counts, the board's statistics (through `stats::Pending`).

use serde_json::{Value, json};
use sunday_domain::DomainEvent as E;
use sunday_domain::events::*;
use sunday_domain::store::RecordedEvent;

use crate::items::{ItemRow, Items};
use crate::outcome::{R, Tx, missing, version};
use crate::stats::{Counted, Pending, StatsDelta, counted};

/// Applies an item event; comments, files and other events change nothing here.
pub(crate) async fn apply(tx: &mut Tx, items: &mut Items, stats: &mut Pending, e: &RecordedEvent) -> R {
    match &e.event {
        E::ItemCreated(c) => item_created(items, stats, e, c).await,
        E::ItemUpdated(u) => item_updated(tx, items, stats, e, u).await,
        E::ItemMoved(m) => item_moved(tx, items, e, m).await,
        E::ItemAssigned(a) => assignment(tx, items, stats, e, a, 1).await,
        E::ItemUnassigned(a) => assignment(tx, items, stats, e, a, -1).await,
        E::ItemDeleted(d) => item_deleted(tx, items, stats, e, d).await,
        _ => Ok(()),
    }
}

async fn item_created(items: &mut Items, stats: &mut Pending, e: &RecordedEvent, c: &ItemCreated) -> R {
    let data = json!(c.item_data);
    let row = ItemRow {
        workspace_id: e.workspace_id.unwrap_or_default(),
        item_id: c.item_id,
        board_id: c.board_id,
        group_id: c.group_id,
        name: c.name.clone(),
        description: c.description.clone(),
        item_data: data.clone(),
        rank: c.rank.clone(),
        assignees: Vec::new(),
        created_by: e.metadata.actor_id,
        created_at: e.occurred_at,
        updated_at: e.occurred_at,
        version: version(e),
        deleted_at: None,
    };
    if !items.create(row) {
        return Err(missing(e, "rm_items"));
    }
    let (status, hours) = counted(&data);
    stats.add(c.board_id, StatsDelta::between(None, Some(&Counted { status, hours, assignees: Vec::new() })), e);
    Ok(())
}

/// What an item row counts in its board's statistics.
fn counted_row(row: &ItemRow) -> Counted {
    let (status, hours) = counted(&row.item_data);
    Counted { status, hours, assignees: row.assignees.clone() }
}

/// Moves an item's version and update time to the event's.
pub(crate) fn touch(row: &mut ItemRow, e: &RecordedEvent) {
    row.updated_at = e.occurred_at;
    row.version = version(e);
}

async fn item_updated(tx: &mut Tx, items: &mut Items, stats: &mut Pending, e: &RecordedEvent, u: &ItemUpdated) -> R {
    let workspace = e.workspace_id.unwrap_or_default();
    let row = items.live(tx, workspace, u.item_id).await?.ok_or_else(|| missing(e, "rm_items"))?;
    let before = counted_row(row);
    if let Value::Object(map) = &mut row.item_data {
        for (k, v) in &u.item_data {
            if v.is_null() {
                map.remove(k);
            } else {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(n) = &u.name {
        row.name.clone_from(n);
    }
    if let Some(d) = &u.description {
        row.description = Some(d.clone());
    }
    touch(row, e);
    let after = counted_row(row);
    if after.status != before.status || after.hours != before.hours {
        let strip = |c: &Counted| Counted { status: c.status.clone(), hours: c.hours, assignees: Vec::new() };
        stats.add(e.board_id.unwrap_or_default(), StatsDelta::between(Some(&strip(&before)), Some(&strip(&after))), e);
    }
    Ok(())
}

async fn item_moved(tx: &mut Tx, items: &mut Items, e: &RecordedEvent, m: &ItemMoved) -> R {
    let row = items.get(tx, e.workspace_id.unwrap_or_default(), m.item_id).await?.ok_or_else(|| missing(e, "rm_items"))?;
    row.group_id = m.group_id;
    row.rank.clone_from(&m.rank);
    touch(row, e);
    Ok(())
}

async fn assignment(tx: &mut Tx, items: &mut Items, stats: &mut Pending, e: &RecordedEvent, a: &ItemAssignment, sign: i32) -> R {
    let workspace = e.workspace_id.unwrap_or_default();
    let row = items.live(tx, workspace, a.item_id).await?.ok_or_else(|| missing(e, "rm_items"))?;
    let has = row.assignees.contains(&a.user_id);
    if (sign > 0) == has {
        // The log only assigns someone absent and unassigns someone present.
        return Err(missing(e, "rm_items.assignees"));
    }
    if sign > 0 {
        row.assignees.push(a.user_id);
    } else {
        row.assignees.retain(|u| *u != a.user_id);
    }
    touch(row, e);
    let delta = StatsDelta { assignees: vec![(a.user_id.to_string(), sign)], ..StatsDelta::default() };
    stats.add(e.board_id.unwrap_or_default(), delta, e);
    Ok(())
}

async fn item_deleted(tx: &mut Tx, items: &mut Items, stats: &mut Pending, e: &RecordedEvent, d: &ItemDeleted) -> R {
    let workspace = e.workspace_id.unwrap_or_default();
    let row = items.live(tx, workspace, d.item_id).await?.ok_or_else(|| missing(e, "rm_items"))?;
    let before = counted_row(row);
    row.deleted_at = Some(e.occurred_at);
    touch(row, e);
    stats.add(e.board_id.unwrap_or_default(), StatsDelta::between(Some(&before), None), e);
    Ok(())
}
